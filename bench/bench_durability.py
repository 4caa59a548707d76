"""Durability cost: the real router + engine with journal durability none, os and fsync, same traffic.

    python -m bench.bench_durability [--quick] [--json]

The mode applies to the engine journal (os: one write(2) per polled batch; fsync: plus one
fdatasync covering the batch, a group commit) and to the router log (os: records written before a
pass's replies leave; fsync: plus one fdatasync per commit; none: no router log). Loads from
src/udprouter/loadgen on a fresh session each: max1 / max20 (max rate, 1 or 20 orders per datagram,
windowed; figure acked orders/s) and lat<R> (paced at R orders/s, 1 per datagram; figure p99
order-to-first-answer latency, coordinated omission corrected). Baseline: durability none, measured
in the same run on the same traffic; ratio = mode / none (throughput below 1 and latency above 1 is
the cost). The page cache of this machine's disk decides the fsync figures: they are this box's.
"""

from __future__ import annotations

import sys

from bench.module_cli import module_main, print_entries
from bench.udp_servers import RouterProcess
from udprouter.loadgen.load_run import LoadReport, LoadSpec, Sessions, execute_load, prepare_load
from udprouter.loadgen.runner import RunLimits

CREDENTIALS = ("demo", "demo-secret")
MODES = ("none", "os", "fsync")
BASELINE = "none"
WARMUP_ORDERS = 5_000


class DurabilityRouter(RouterProcess):
    """bench.udp_servers.RouterProcess with the journal durability set to mode."""

    def __init__(self, mode: str) -> None:
        super().__init__(wait="hybrid")
        config = self.work / "router.toml"
        config.write_text(config.read_text() + f'durability = "{mode}"\n')  # [journal] is the last section


def loads(quick: bool) -> dict[str, LoadSpec]:
    rate = 10_000
    seconds = 1.0 if quick else 3.0
    return {
        f"lat{rate}": LoadSpec(orders=int(rate * seconds), per_datagram=1, rate=rate),
        "max1": LoadSpec(orders=20_000 if quick else 100_000, per_datagram=1, window=256),
        "max20": LoadSpec(orders=100_000 if quick else 500_000, per_datagram=20, window=1000),
    }


def measure(quick: bool) -> dict[str, dict[str, LoadReport]]:
    specs = loads(quick)
    prepared = {key: prepare_load(spec, [1], 1) for key, spec in specs.items()}
    warmup = prepare_load(LoadSpec(orders=WARMUP_ORDERS, per_datagram=1, window=256), [1], 1)
    reports: dict[str, dict[str, LoadReport]] = {}
    for mode in MODES:
        with DurabilityRouter(mode) as router:
            with Sessions("127.0.0.1", router.port, 1, CREDENTIALS) as sessions:
                execute_load(warmup, sessions, RunLimits(timeout_s=30.0))  # imports, caches, first journal
            for key, load in prepared.items():
                with Sessions("127.0.0.1", router.port, 1, CREDENTIALS) as sessions:
                    report = execute_load(load, sessions, RunLimits(timeout_s=60.0))
                reports.setdefault(mode, {})[key] = report
                lat = report.latency
                print(f"durability {mode:>5} {key:>9}: {report.rate_per_s:>10,.0f} acked/s  "
                      f"acked {report.acknowledged}/{report.sent} lost {report.unanswered}  "
                      f"us p50 {lat.p50_us:.1f} p99 {lat.p99_us:.1f} max {lat.max_us:.1f}", flush=True)
    return reports


def entries(reports: dict[str, dict[str, LoadReport]]) -> list[dict]:
    out = []
    for mode in MODES:
        if mode == BASELINE:
            continue
        for key, report in reports[mode].items():
            base = reports[BASELINE][key]
            if key.startswith("lat"):
                figure, baseline, unit = report.latency.p99_us, base.latency.p99_us, "us p99"
                what = f"p99 latency at {report.spec.rate:,} orders/s"
            else:
                figure, baseline, unit = report.rate_per_s, base.rate_per_s, "orders/s"
                what = f"acked orders/s, max rate, {report.spec.per_datagram}/datagram"
            out.append({
                "name": f"durability {mode}: {what}", "figure": round(figure, 1), "unit": unit,
                "baseline_name": "durability none, same traffic", "baseline": round(baseline, 1),
                "ratio": round(figure / baseline, 3) if baseline else 0.0,
                "p50": report.latency.p50_us, "p99": report.latency.p99_us, "acked": report.acknowledged,
                "sent": report.sent, "unanswered": report.unanswered,
            })
    return out


def run(quick: bool) -> list[dict]:
    result = entries(measure(quick))
    print_entries(result)
    return result


def main(argv: list[str] | None = None) -> int:
    return module_main(run, "cost of journal/router-log durability none, os, fsync", argv)


if __name__ == "__main__":
    sys.exit(main())
