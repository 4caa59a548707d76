"""Soak: sustained paced load against the real router + engine, sampled over time.

    python -m bench.soak [--minutes 10] [--rate 5000] [--interval-s 5] [--warmup-s S] [--out DIR]
    (make soak)

One FIXP session (so the router's per-session retransmission buffer fills during warm-up and then
stays at its bound) sends src/udprouter/loadgen's seeded flow at --rate orders/s, one chunk of interval-s
per row. Each row: RSS of the router and of its engine (/proc/<pid>/status VmRSS at the end of the
chunk), the highest inbound and outbound ring occupancy seen during it (the segment is attached
read-only-in-spirit and polled every 50 ms by a sampler thread while the C load loop runs), and the
chunk's order-to-first-answer latency percentiles (coordinated omission corrected). Written to
<out>/soak.md, soak.csv and soak.png. Exits 1 if either process's RSS grew by more than
--max-growth (default 5%) from the end of warm-up (default: a tenth of the run but at least a
minute and at most half) to the end, or if any order went unanswered; 0 otherwise. RSS counts the
shared ring segment's pages as they are first touched; the private (RssAnon) columns separate them.
"""

from __future__ import annotations

import argparse
import csv
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.udp_servers import RouterProcess
from udprouter.engine_link.engine_supervisor import default_shm_name
from udprouter.loadgen.load_run import LoadSpec, Sessions, execute_load, prepare_load
from udprouter.loadgen.runner import RunLimits
from udprouter.ring import RingSegment

ROOT = Path(__file__).resolve().parents[1]
CREDENTIALS = ("demo", "demo-secret")
SAMPLE_EVERY_S = 0.05


@dataclass
class Row:
    t_s: float
    orders: int
    acked: int
    unanswered: int
    router_rss_mb: float
    engine_rss_mb: float
    router_anon_mb: float  # private memory; the rest of RSS is mostly the shared ring segment
    engine_anon_mb: float
    inbound_max: int
    outbound_max: int
    p50_us: float
    p99_us: float
    p999_us: float
    max_us: float


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A /proc/<pid>/status memory field in MB (VmRSS, RssAnon, RssShmem); 0 if unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 2)
    except OSError:
        pass
    return 0.0


class OccupancySampler(threading.Thread):
    """Highest ring occupancy per interval; the C load loop releases the GIL, so this runs beside it."""

    def __init__(self, ring: RingSegment) -> None:
        super().__init__(daemon=True)
        self.ring = ring
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self._max = (0, 0)

    def run(self) -> None:
        while not self.stop_event.wait(SAMPLE_EVERY_S):
            inbound, outbound = self.ring.inbound_occupancy, self.ring.outbound_occupancy
            with self._lock:
                self._max = (max(self._max[0], inbound), max(self._max[1], outbound))

    def take(self) -> tuple[int, int]:
        with self._lock:
            taken, self._max = self._max, (0, 0)
        return taken


def growth(rows: list[Row], warmup_rows: int, column: str) -> float:
    """Relative growth of column from the last warm-up row to the last row (0.05 = 5%)."""
    start, end = getattr(rows[warmup_rows - 1], column), getattr(rows[-1], column)
    return (end - start) / start if start else 0.0


def verdict(rows: list[Row], warmup_rows: int, max_growth: float) -> tuple[bool, dict[str, float]]:
    grown = {c: growth(rows, warmup_rows, c) for c in ("router_rss_mb", "engine_rss_mb")}
    ok = all(g <= max_growth for g in grown.values()) and not any(r.unanswered for r in rows)
    return ok, grown


def soak(minutes: float, rate: int, interval_s: float, warmup_s: float | None) -> tuple[list[Row], int]:
    chunks = max(2, round(minutes * 60 / interval_s))
    # Default warm-up: a tenth of the run but at least a minute (the shared ring's pages are first
    # touched as its positions go round once: ~20 MB counted in both processes' RSS), at most half.
    warmup = warmup_s if warmup_s is not None else min(max(minutes * 6, 60.0), minutes * 30)
    warmup_rows = max(1, min(chunks - 1, round(warmup / interval_s)))
    rows: list[Row] = []
    with RouterProcess(wait="hybrid", router_wait="sleep") as router:
        ring = RingSegment.attach(default_shm_name(router.work / "journal"))
        sampler = OccupancySampler(ring)
        sampler.start()
        try:
            with Sessions("127.0.0.1", router.port, 1, CREDENTIALS) as sessions:
                start, cl_base = time.monotonic(), 1
                for _ in range(chunks):
                    orders = int(rate * interval_s)
                    spec = LoadSpec(orders=orders, per_datagram=1, rate=rate, seed=len(rows) + 1)
                    report = execute_load(prepare_load(spec, sessions.seq_start, cl_base), sessions,
                                          RunLimits(timeout_s=interval_s * 4 + 10))
                    cl_base += spec.orders
                    inbound, outbound = sampler.take()
                    lat = report.latency
                    engine_pid = ring.engine_pid
                    rows.append(Row(round(time.monotonic() - start, 2), report.sent, report.acknowledged,
                                    report.unanswered, rss_mb(router.pid), rss_mb(engine_pid),
                                    rss_mb(router.pid, "RssAnon"), rss_mb(engine_pid, "RssAnon"), inbound,
                                    outbound, lat.p50_us, lat.p99_us, lat.p999_us, lat.max_us))
                    print(format_row(rows[-1]), flush=True)
        finally:
            sampler.stop_event.set()
            sampler.join()
            ring.close()
    return rows, warmup_rows


def format_row(r: Row) -> str:
    return (f"t {r.t_s:8.1f}s  acked {r.acked}/{r.orders}  rss router {r.router_rss_mb:.1f} MB "
            f"engine {r.engine_rss_mb:.1f} MB  ring max in {r.inbound_max} out {r.outbound_max}  "
            f"us p50 {r.p50_us:.0f} p99 {r.p99_us:.0f} p99.9 {r.p999_us:.0f}")


def write_results(rows: list[Row], warmup_rows: int, ok: bool, grown: dict[str, float], out: Path,
                  title: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    names = list(asdict(rows[0]))
    with (out / "soak.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        writer.writerows([list(asdict(r).values()) for r in rows])
    lines = [f"# Soak: {title}", "",
             f"Verdict: {'PASS' if ok else 'FAIL'}; RSS growth from the end of warm-up (row {warmup_rows}) "
             f"to the end: router {grown['router_rss_mb']:+.2%}, engine {grown['engine_rss_mb']:+.2%}", "",
             "| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(str(v) for v in asdict(r).values()) + " |" for r in rows]
    (out / "soak.md").write_text("\n".join(lines) + "\n")
    plot(rows, warmup_rows, out / "soak.png", title)


def plot(rows: list[Row], warmup_rows: int, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [r.t_s for r in rows]
    fig, axes = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    axes[0].plot(t, [r.router_rss_mb for r in rows], label="router")
    axes[0].plot(t, [r.engine_rss_mb for r in rows], label="engine")
    axes[0].plot(t, [r.router_anon_mb for r in rows], label="router private", linestyle=":")
    axes[0].plot(t, [r.engine_anon_mb for r in rows], label="engine private", linestyle=":")
    axes[0].set_ylabel("RSS (MB)")
    axes[1].plot(t, [r.inbound_max for r in rows], label="inbound max")
    axes[1].plot(t, [r.outbound_max for r in rows], label="outbound max")
    axes[1].set_ylabel("ring occupancy (records)")
    for key, label in (("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9")):
        axes[2].plot(t, [getattr(r, key) for r in rows], label=label)
    axes[2].set_yscale("log")
    axes[2].set_ylabel("latency (us)")
    axes[2].set_xlabel("time (s)")
    for ax in axes:
        ax.axvline(rows[warmup_rows - 1].t_s, color="grey", linestyle="--", linewidth=0.8)
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="sustained load against router + engine, sampled over time")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=5000, help="offered orders/s (paced, 1 per datagram)")
    parser.add_argument("--interval-s", type=float, default=5.0, help="seconds per sample row")
    parser.add_argument("--warmup-s", type=float, default=None,
                        help="default: a tenth of the run, at least 60 s, at most half")
    parser.add_argument("--max-growth", type=float, default=0.05, help="allowed RSS growth after warm-up")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    rows, warmup_rows = soak(args.minutes, args.rate, args.interval_s, args.warmup_s)
    ok, grown = verdict(rows, warmup_rows, args.max_growth)
    title = f"{args.minutes:g} min at {args.rate:,} orders/s, {args.interval_s:g} s rows"
    write_results(rows, warmup_rows, ok, grown, args.out, title)
    print(f"soak {'PASS' if ok else 'FAIL'}: RSS growth after warm-up router {grown['router_rss_mb']:+.2%} "
          f"engine {grown['engine_rss_mb']:+.2%} (limit {args.max_growth:.0%}); "
          f"{args.out / 'soak.md'}, soak.csv, soak.png")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
