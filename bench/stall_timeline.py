"""When a long-running router's latency tail happens, and what it ran into.

bench_udp gives a window's percentiles; this gives the same kind of load's stalls in time. A router
on the default config is warmed up (so its periodic work falls inside the run), then takes one
paced load as a single run on one session. Each stall (a run of orders whose answer came more than
--threshold-ms after their intended send time, coordinated omission corrected) is printed with its
start, its length in orders and its worst latency, beside the router's periodic work in the same
run: engine snapshots and router log segments closed, placed by their files' modification times.

    python -m bench.stall_timeline --rate 50000 --seconds 20
    PYTHONPATH=<other checkout> <other checkout>/.venv/bin/python bench/stall_timeline.py ...
        # the same against the router of another (set-up) checkout
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from bench.udp_servers import RouterProcess
from udprouter.loadgen.load_run import LoadSpec, Sessions, prepare_load, run_load
from udprouter.loadgen.runner import RunLimits, run_plan

CREDENTIALS = ("demo", "demo-secret")
GAP_NS = 5_000_000  # stalled orders this close together are one stall


def stalls(latency_ns: list[tuple[int, int]], threshold_ns: int) -> list[tuple[int, int, int]]:
    """(start ns, orders, worst ns) of each run of orders over threshold_ns, from (intended, latency)
    pairs in intended order; runs closer than GAP_NS merge."""
    out: list[list[int]] = []
    for intended, latency in latency_ns:
        if latency <= threshold_ns:
            continue
        if out and intended - out[-1][3] < GAP_NS:
            last = out[-1]
            last[1] += 1
            last[2] = max(last[2], latency)
            last[3] = intended
        else:
            out.append([intended, 1, latency, intended])
    return [(start, n, worst) for start, n, worst, _ in out]


def periodic_work(journal: Path, since_wall: float) -> list[tuple[float, str]]:
    """(wall time, what) of the snapshots written and router log segments closed after since_wall."""
    found = []
    kinds = (("snapshot-*.bin", "engine snapshot written"), ("router-*.log", "router log segment closed"))
    for pattern, what in kinds:
        for path in journal.glob(pattern):
            modified = path.stat().st_mtime
            if modified >= since_wall:
                found.append((modified, f"{what} ({path.name})"))
    return sorted(found)


def percentile(sorted_values: list[int], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=50_000, help="offered orders/s, one per datagram")
    parser.add_argument("--seconds", type=float, default=20.0, help="the measured run")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds at the rate before it")
    parser.add_argument("--threshold-ms", type=float, default=2.0)
    parser.add_argument("--top", type=int, default=15, help="stalls printed, the largest first")
    args = parser.parse_args(argv)
    with RouterProcess() as router:
        print(f"router pid {router.pid} (default config), host load average "
              f"{os.getloadavg()[0]:.2f}", flush=True)
        with Sessions("127.0.0.1", router.port, 1, CREDENTIALS) as sessions:
            run_load(LoadSpec(orders=int(args.rate * args.warmup), rate=args.rate), sessions,
                     cl_ord_id_base=1, limits=RunLimits(timeout_s=args.warmup + 30))
            base = 1_000_000_000  # above every ClOrdID of the warm-up
            prepared = prepare_load(LoadSpec(orders=int(args.rate * args.seconds), rate=args.rate),
                                    sessions.seq_start, base)
            begun = time.time()
            result = run_plan(prepared.plan, sessions.fds(), prepared.schedule,
                              limits=RunLimits(timeout_s=args.seconds + 30), keys=sessions.keys)
            start_wall = time.time() - result.elapsed_ns / 1e9  # the C loop's time zero
        work = periodic_work(router.journal, begun)
    # One order per datagram: order i was meant to leave at schedule[i].
    pairs = [(intended, answer - intended if answer >= 0 else 10**12)
             for intended, answer in zip(prepared.schedule, result.answer_ns, strict=True)]
    ordered = sorted(latency for _, latency in pairs)
    print(f"{len(ordered)} orders at {args.rate}/s: p50 {percentile(ordered, 0.5):.0f} us, p99 "
          f"{percentile(ordered, 0.99):.0f} us, p99.9 {percentile(ordered, 0.999):.0f} us, max "
          f"{ordered[-1] / 1000:.0f} us; {sum(1 for _, a in pairs if a >= 10**12)} unanswered")
    found = stalls(pairs, int(args.threshold_ms * 1e6))
    print(f"{len(found)} stalls (orders answered over {args.threshold_ms} ms), the largest first:")
    for start, n, worst in sorted(found, key=lambda s: -s[1])[:args.top]:
        print(f"  at +{start / 1e9:7.3f} s: {n:6d} orders, worst {worst / 1e6:6.1f} ms")
    print("periodic work in the run:")
    for wall, what in work:
        print(f"  at +{wall - start_wall:7.3f} s: {what}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
