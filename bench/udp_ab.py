"""Two router builds on the same traffic in one run, interleaved: did a change move the UDP figures?

    python -m bench.udp_ab --before OLD_CHECKOUT [--rates 1000,10000,50000] [--seconds 10] [--rounds 4]

OLD_CHECKOUT is another checkout of this repository, set up with `make setup` (its .venv and its
engine build): `git worktree add --detach /tmp/before <commit> && make -C /tmp/before setup`.
Both routers run `udprouter serve` on the default config (ephemeral ports, temp journal), each
with the engine of its own checkout, side by side for the whole run. Each gets bench_udp's warm-up
and conditioning load, then every round runs one window per rate on each router in turn, so slow
drifts of a shared host fall on both. Which router goes first alternates from round to round
(before first in odd rounds, after first in even ones; use an even number of rounds): the position
alone moves the figures. The same build on both sides with a fixed order (4 rounds of 10 s, quiet
host) came out 1.09x p50 and 1.17x CPU per order at 1k/s for the second window, and 0.86x p50,
0.56x p99, 0.90x CPU at 50k/s: a fixed order read as a change that was not there. Windows are bench_udp's:
the same prepared plans, the load generator of this checkout, coordinated omission corrected. At
the end: the median over the rounds of p50/p99/p99.9 and of server CPU per order (router and
engine), and after/before for each. The CPU ratio is the figure a busy host disturbs least.
--before-answer-wait-us / --after-answer-wait-us set [udp] answer_wait_us on one side, and
--before-router-wait / --after-router-wait [udp] wait, --before-engine-low-rate /
--after-engine-low-rate [engine] low_rate (with --before naming this checkout: the setting alone,
A/B). --throughput adds bench_udp's full-size max1 and max20 loads (one run of each per router and
round, after the round's windows; --rates "" runs only those): acked orders/s and server CPU per
order, medians over the rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from bench.bench_udp import Bench, Window, _print_window
from bench.udp_servers import RouterProcess

CREDENTIALS = ("demo", "demo-secret")
FIGURES = ("p50", "p99", "p999", "cpu")
WAITS = ("sleep", "adaptive")  # [udp] wait


class CheckoutRouter(RouterProcess):
    """RouterProcess running another checkout's `udprouter` (its engine comes from that checkout)."""

    def __init__(self, checkout: Path, answer_wait_us: int | None = None,
                 router_wait: str | None = None, engine_low_rate: int | None = None) -> None:
        super().__init__(answer_wait_us=answer_wait_us, router_wait=router_wait,
                         engine_low_rate=engine_low_rate)
        executable = checkout / ".venv" / "bin" / "udprouter"
        if not executable.exists():
            raise SystemExit(f"udp_ab: {executable} is missing: run `make setup` in {checkout}")
        self.args[0] = str(executable)


def figures(w: Window) -> dict[str, float]:
    lat = w.latency
    return {"p50": lat.p50_us, "p99": lat.p99_us, "p999": lat.p999_us, "cpu": w.cpu_us_per_order}


def round_order(servers: dict, round_: int) -> list[tuple]:
    """(name, router) in the order they run in round round_ (from 0): as given, then reversed."""
    order = list(servers.items())
    return order if round_ % 2 == 0 else order[::-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="UDP figures of two router builds, interleaved in one run")
    parser.add_argument("--before", type=Path, required=True, help="the other checkout (set up)")
    parser.add_argument("--rates", type=lambda text: tuple(int(r) for r in text.split(",") if r),
                        default=(1000, 10_000, 50_000))
    parser.add_argument("--seconds", type=float, default=10.0, help="every window this long")
    parser.add_argument("--rounds", type=int, default=4, help="even: each router goes first as often")
    parser.add_argument("--throughput", action="store_true",
                        help="also bench_udp's max1 and max20 loads, full size, each round")
    parser.add_argument("--before-answer-wait-us", type=int, help="[udp] answer_wait_us of the before router")
    parser.add_argument("--after-answer-wait-us", type=int, help="[udp] answer_wait_us of the after router")
    parser.add_argument("--before-router-wait", choices=WAITS, help="[udp] wait of the before router")
    parser.add_argument("--after-router-wait", choices=WAITS, help="[udp] wait of the after router")
    parser.add_argument("--before-engine-low-rate", type=int, help="[engine] low_rate of the before router")
    parser.add_argument("--after-engine-low-rate", type=int, help="[engine] low_rate of the after router")
    args = parser.parse_args(argv)
    if args.rounds % 2:
        print(f"udp_ab: {args.rounds} rounds: the router that goes first in the odd rounds goes first "
              "once more (the position moves the figures; see the module's doc)", flush=True)
    print(f"host load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at start", flush=True)
    bench = Bench(True, args.rates, args.seconds, False)
    if args.throughput:  # the full run's sizes (the quick max20 is a fifth of a second)
        bench.throughput = Bench(False, (), None, False).throughput
    seen: dict[str, dict[int, list[dict[str, float]]]] = {"before": {}, "after": {}}
    maxed: dict[str, dict[str, list[tuple[float, float]]]] = {"before": {}, "after": {}}
    before_router = CheckoutRouter(args.before.resolve(), args.before_answer_wait_us, args.before_router_wait,
                                   args.before_engine_low_rate)
    after_router = RouterProcess(answer_wait_us=args.after_answer_wait_us, router_wait=args.after_router_wait,
                                 engine_low_rate=args.after_engine_low_rate)
    with before_router as before, after_router as after:
        servers = {"before": before, "after": after}
        for process in servers.values():
            bench.sustained_warmup(process, CREDENTIALS)
        for round_ in range(args.rounds):
            for rate in args.rates:
                for name, process in round_order(servers, round_):
                    window = bench.window(process, rate, args.seconds, CREDENTIALS)
                    _print_window(f"{name}#{round_ + 1}", window)
                    seen[name].setdefault(rate, []).append(figures(window))
            if args.throughput:
                for name, process in round_order(servers, round_):
                    bench.max_rate(f"{name}#{round_ + 1}", process, CREDENTIALS, repeats=1)
                    for key in bench.throughput:
                        report = bench.reports[f"{name}#{round_ + 1}"][key]
                        cpu = bench.cpu_us_per_order[f"{name}#{round_ + 1}"][key]
                        maxed[name].setdefault(key, []).append((report.rate_per_s, cpu))
    print("medians over the rounds (us; cpu = router and engine CPU per order):")
    for rate in args.rates:
        medians = {name: {f: statistics.median(r[f] for r in seen[name][rate]) for f in FIGURES}
                   for name in seen}
        parts = [f"{f} {medians['before'][f]:.1f} -> {medians['after'][f]:.1f} "
                 f"({medians['after'][f] / max(medians['before'][f], 1e-9):.2f}x)" for f in FIGURES]
        print(f"  {rate // 1000:>4}k/s: " + "  ".join(parts), flush=True)
    for key in maxed["after"]:
        rate, cpu = ({name: statistics.median(r[i] for r in maxed[name][key]) for name in maxed}
                     for i in (0, 1))
        print(f"  {key:>6}: acked/s {rate['before']:,.0f} -> {rate['after']:,.0f} "
              f"({rate['after'] / max(rate['before'], 1e-9):.2f}x)  cpu {cpu['before']:.2f} -> "
              f"{cpu['after']:.2f} ({cpu['after'] / max(cpu['before'], 1e-9):.2f}x)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
