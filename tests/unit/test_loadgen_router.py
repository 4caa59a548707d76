"""The load generator against the real router + engine: FIXP handshake, sequencing and ClOrdIDs
accepted, every order of the realistic flow answered and acted on (no rejects, no NotApplied)."""

from bench.udp_servers import RouterProcess
from tools.loadgen.load_run import LoadSpec, Sessions, run_load
from tools.loadgen.runner import RunLimits

LIMITS = RunLimits(timeout_s=20.0, drain_s=5.0)


def test_windowed_and_batched_flows_on_two_sessions_are_all_acked():
    with RouterProcess(wait="sleep") as router:
        with Sessions("127.0.0.1", router.port, 2, ("demo", "demo-secret")) as sessions:
            single = run_load(LoadSpec(orders=600, per_datagram=1, window=64), sessions, 1, LIMITS)
            # Same sessions again: sequence numbers continue, ClOrdIDs stay above the first run's.
            batched = run_load(LoadSpec(orders=2000, per_datagram=20, window=200), sessions, 10_000, LIMITS)
    for report in (single, batched):
        assert (report.rejected, report.not_applied, report.unanswered) == (0, 0, 0)
        assert report.acknowledged == report.sent == report.spec.orders
