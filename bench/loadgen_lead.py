"""What the load generator's early wake-up changes: one server, the old wake-up and the new alternated.

The load generator sleeps between paced sends and wakes early by its own measured timer lateness
(loadgen.c, lg_lead; at most RunLimits.max_lead_us). Latency runs from the intended send time, so a
late wake-up of the client counts as the server's latency. This runs paced loads against one
server, alternating max_lead_us 0 (wake spin_us early only, as before) and the default, on the
same sessions, and prints for each: how late the datagrams left, the latency, and the load
generator's own CPU, then the medians over the rounds (README "The load generator's own clock").

    python -m bench.loadgen_lead --rate 1000 --seconds 10 --rounds 4
"""

from __future__ import annotations

import argparse
import statistics

from bench.c.echo_server import EchoServer
from bench.udp_servers import RouterProcess
from udprouter.loadgen.latency import latency_histogram, send_lateness_histogram, summarize
from udprouter.loadgen.load_run import LoadSpec, Sessions, prepare_load
from udprouter.loadgen.runner import RunLimits, run_plan

CREDENTIALS = ("demo", "demo-secret")
LEADS_US = (0.0, RunLimits().max_lead_us)
FIGURES = ("sent late p50", "p50", "p99", "p99.9", "client cpu %")


def one_load(sessions: Sessions, rate: int, orders: int, cl_ord_id_base: int, max_lead_us: float) -> tuple:
    """One paced load on the sessions: the FIGURES, in that order."""
    prepared = prepare_load(LoadSpec(orders, 1, rate), sessions.seq_start, cl_ord_id_base)
    limits = RunLimits(timeout_s=orders / rate * 2 + 10, max_lead_us=max_lead_us)
    result = run_plan(prepared.plan, sessions.fds(), prepared.schedule, limits=limits, keys=sessions.keys)
    sessions.advance([int(n) for n in prepared.plan.seq_orders_len])
    late = summarize(send_lateness_histogram(result, prepared.schedule))
    latency = summarize(latency_histogram(result, prepared.plan.order_datagram(), prepared.schedule))
    cpu = 100 * result.cpu_ns / max(1, result.elapsed_ns)
    return late.p50_us, latency.p50_us, latency.p99_us, latency.p999_us, cpu


def compare(server: str, rate: int, seconds: float, rounds: int) -> dict[float, list[float]]:
    """The alternated rounds against one server; returns the medians per lead."""
    process, credentials = (RouterProcess(), CREDENTIALS) if server == "router" else (EchoServer(), None)
    runs: dict[float, list[tuple]] = {lead: [] for lead in LEADS_US}
    orders = int(rate * seconds)
    with process, Sessions("127.0.0.1", process.port, 1, credentials) as sessions:
        base = 1
        one_load(sessions, rate, rate * 2, base, LEADS_US[-1])  # warm-up, not counted
        base += rate * 2
        for round_ in range(rounds):
            for lead in LEADS_US if round_ % 2 == 0 else LEADS_US[::-1]:
                figures = runs[lead]
                figures.append(one_load(sessions, rate, orders, base, lead))
                base += orders
                print(f"{server:>6} max_lead_us {lead:5.0f}: " + _row(figures[-1]), flush=True)
    medians = {lead: [statistics.median(column) for column in zip(*runs[lead], strict=True)]
               for lead in LEADS_US}
    for lead in LEADS_US:
        print(f"{server:>6} max_lead_us {lead:5.0f} medians: " + _row(medians[lead]), flush=True)
    return medians


def _row(figures) -> str:
    return "  ".join(f"{name} {value:.1f}" for name, value in zip(FIGURES, figures, strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=("router", "echo", "both"), default="both")
    parser.add_argument("--rate", type=int, default=1000, help="offered orders/s, one per datagram")
    parser.add_argument("--seconds", type=float, default=10.0, help="each load")
    parser.add_argument("--rounds", type=int, default=4, help="loads per wake-up, alternated")
    args = parser.parse_args(argv)
    for server in ("router", "echo") if args.server == "both" else (args.server,):
        compare(server, args.rate, args.seconds, args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
