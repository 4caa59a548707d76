"""UDP end-to-end benchmark: a long-running router on the default config beside a C echo server,
same traffic, one run.

    python -m bench.bench_udp [--quick] [--json] [--rates 50000 --seconds 60 --no-throughput]

Servers (each on an ephemeral loopback port, stopped by pid at the end):
  echo             bench/c/udp_echo.c: answers like the router, does no work (the in-run ceiling)
  router           `udprouter serve` on the default config (durability os, snapshots every 1M
                   commands, router log segments, adaptive router and engine waits); only the
                   ports and the journal directory (a temp dir) are set
  full run only:   the engine wait strategies spin, sleep and hybrid, `--capture`, and an asyncio+struct
                   server (bench/baseline_asyncio.py), each at max rate
Sustained latency against offered rate (the figures with floors): a server first runs CONDITION
seconds at 50k orders/s (not recorded: a router's periodic work, router.log rewrites and engine
snapshots, has begun by then), then each rate of RATES for WINDOW seconds (one order per datagram;
50k/s for longer in the full run). A window is a series of CHUNK-second loads back to back, each on
a fresh FIXP session (one prepared plan serves every chunk and server; the sessions stay logged in
the router, as a router's clients do), merged into one latency histogram. Latency is order-to-first-
answer from the intended send time (coordinated omission corrected) to the answer's arrival at the
client's socket (the kernel's receive stamp): p50/p99/p99.9/max. The load generator's own delays
are printed beside them: sent late (inside the latencies), read late (outside them), and the
latencies to its read of each answer (`to the read`, the figure before the receive stamp). Server CPU
(process and children, e.g. the engine) per order, and the router's periodic work inside each
window are printed beside it: router log rewrites, segments closed and dropped (whichever of these
the metrics endpoint exports: rewrites before the segmented log, segments since) and engine
snapshots (new snapshot files).
The run says which router and engine wait strategies ran (the config's defaults: adaptive, with their
thresholds), and each window's line says its fsyncs (router log fdatasyncs, engine journal
fdatasyncs: none on the default durability os) and the host's load average (1 min) at the window's
start and end: the host is shared, and a window with a high load is measured against other work,
not the router alone.
--rates and --seconds run only the given rates for that long each (e.g. the 60 s window at 50k/s:
`--rates 50000 --seconds 60 --no-throughput`, echo and router both; the conditioning run still first).
--wait and --spin-us run the router with another engine wait strategy (e.g. `--spin-us 20` against
the default 5 us, interleaved runs on a quiet host); --router-wait sleep turns the router's own
low-rate spinning off.
Throughput (src/udprouter/loadgen, max rate inside a window of unanswered orders): max1 / max20, 1 or 20
orders per datagram, 3 runs each on fresh sessions, the median run is the figure.
Each server first gets a warm-up load (10,000 orders at 50k/s, not recorded). The load generator
sleeps until 5 us before each paced send (src/udprouter/loadgen/runner.py: a spinning one would hold one of
the two cores the servers need). Every figure has its baseline from the same run (ratio printed);
floors from the issue are attached to the router-vs-echo entries they concern; the floors are absolute
figures, so a floor line also says when the echo server missed it in the same window (a host limit).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from bench.c.echo_server import EchoServer
from bench.module_cli import print_entries
from bench.process_cpu import host_cpu_ticks, tree_cpu_seconds, tree_cpu_wait_seconds
from bench.udp_servers import BaselineAsyncioProcess, RouterProcess
from udprouter.config import EngineSection, UdpConfig
from udprouter.loadgen.latency import (
    HIGHEST_NS,
    SIGNIFICANT_DIGITS,
    LatencySummary,
    latency_histogram,
    read_lateness_histogram,
    send_lateness_histogram,
    summarize,
)
from udprouter.loadgen.load_run import (
    LoadReport,
    LoadSpec,
    PreparedLoad,
    Sessions,
    execute_load,
    prepare_load,
)
from udprouter.loadgen.runner import RunLimits, run_plan

CREDENTIALS = ("demo", "demo-secret")
HEADLINE_RATE = 50_000
RATES = (1_000, 10_000, HEADLINE_RATE, 100_000)
CHUNK_S = 5.0  # one load of a sustained window (its plan is built once, in Python, before any run)
REPEATS = 3  # each throughput load runs this many times on fresh sessions; the median run is the figure
WARMUP = LoadSpec(orders=10_000, per_datagram=1, rate=HEADLINE_RATE)  # 0.2 s before a server's first load
PERIODIC = {"router.log rewrites": "udprouter_router_log_compactions_total",
            "segments closed": "udprouter_router_log_segments_closed_total",
            "segments dropped": "udprouter_router_log_segments_dropped_total",
            "router.log fsyncs": "udprouter_router_log_syncs_total",
            "engine journal fsyncs": "udprouter_journal_fsync_seconds_count",
            "full collections": 'python_gc_collections_total{generation="2"}'}
# The collector's pauses, all generations (README "The kept frames, one block per pass").
GC_PAUSES = [f'udprouter_gc_pause_seconds_total{{generation="{g}"}}' for g in range(3)]
READ_PASSES, EVENT_PASSES = "udprouter_read_passes_total", "udprouter_event_passes_total"
# The engine's short spin between batches by outcome (README "The engine's short spin").
SHORT_SPINS = {outcome: f'udprouter_engine_short_spins_total{{outcome="{outcome}"}}'
               for outcome in ("caught", "missed", "skipped")}
# Floors (issue 11): figure key -> (floor, True when the figure must stay below it).
LATENCY_FLOORS = {(HEADLINE_RATE, "p99"): 1000.0, (HEADLINE_RATE, "p999"): 5000.0, (1_000, "p50"): 100.0}
THROUGHPUT_FLOORS = {"max1": ("ratio", 0.8), "max20": ("figure", 1_000_000)}


@dataclass(frozen=True)
class Durations:
    condition_s: float  # at 50k/s before the first window
    window_s: dict[int, float]  # per offered rate

    @classmethod
    def for_mode(cls, quick: bool, rates: tuple[int, ...] = RATES, seconds: float | None = None) -> Durations:
        if seconds is not None:
            return cls(10.0 if quick else 30.0, {rate: seconds for rate in rates})
        if quick:
            return cls(10.0, {rate: 10.0 for rate in rates})
        return cls(30.0, {rate: 60.0 if rate == HEADLINE_RATE else 30.0 for rate in rates})


@dataclass
class Window:
    """One sustained window: merged latency, counts, CPU and the periodic work inside it."""

    rate: int
    seconds: float
    latency: LatencySummary
    sent: int
    acknowledged: int
    rejected: int
    not_applied: int
    unanswered: int
    cpu_us_per_order: float
    periodic: dict[str, int] | None = None  # router only: PERIODIC counts and snapshots in the window
    chunks: int = 0
    load: tuple[float, float] = (0.0, 0.0)  # the host's 1-minute load average at the start and the end
    cpu_wait_ms_per_s: float = 0.0  # the server's threads runnable but waiting for a CPU, per second
    steal_pct: float = 0.0  # the host's steal time, percent of its CPU time in the window
    # router only: its loop passes started by datagrams read, per second, and the orders each carried
    # (README "Why the router is flat out"): a pass rate that stays put as the rate rises means full.
    read_passes_per_s: float | None = None
    orders_per_pass: float | None = None
    event_passes_per_s: float | None = None
    short_spins: dict[str, int] | None = None  # router only: the engine's short spins by outcome
    gc_pause_ms: float | None = None  # router only: how long its garbage collector held the loop
    # The load generator's own error, inside the latencies: each datagram's send after its intended time.
    send_lateness: LatencySummary | None = None
    client_cpu_pct: float = 0.0  # the load generator's own CPU, percent of one vCPU over its runs
    # Outside them: each answer's read after it reached the socket, and the latencies to the read.
    read_lateness: LatencySummary | None = None
    latency_at_read: LatencySummary | None = None


@dataclass
class Bench:
    quick: bool
    rates: tuple[int, ...] = RATES
    seconds: float | None = None  # every window this long (None: the mode's lengths)
    throughput_runs: bool = True
    wait: str | None = None  # the router's engine wait strategy (None: the default config's)
    spin_us: int | None = None
    answer_wait_us: int | None = None  # [udp] answer_wait_us (None: the default config's)
    router_wait: str | None = None  # [udp] wait (None: the default config's)
    durations: Durations = field(init=False)
    chunks: dict[int, PreparedLoad] = field(init=False)
    throughput: dict[str, PreparedLoad] = field(init=False)
    windows: dict[str, dict[int, Window]] = field(default_factory=dict)
    reports: dict[str, dict[str, LoadReport]] = field(default_factory=dict)
    runs: dict[str, dict[str, list[LoadReport]]] = field(default_factory=dict)
    cpu_us_per_order: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.durations = Durations.for_mode(self.quick, self.rates, self.seconds)
        # New sessions start at sequence number 1 and ClOrdID 1, so one plan serves every chunk.
        self.chunks = {rate: prepare_load(LoadSpec(orders=int(rate * CHUNK_S), rate=rate), [1], 1)
                       for rate in sorted({*self.rates, HEADLINE_RATE})}
        self.throughput = {
            "max1": prepare_load(LoadSpec(orders=40_000 if self.quick else 150_000, window=256), [1], 1),
            # 4,000 orders (200 datagrams) in flight: with 1,000 the run was bound by window / round
            # trip; from 4,000 the rate stops rising, and 16,000 overflowed socket buffers.
            "max20": prepare_load(LoadSpec(orders=200_000 if self.quick else 1_000_000, per_datagram=20,
                                           window=4000), [1], 1),
        }
        self.warmup = prepare_load(WARMUP, [1], 1)

    # -- sustained windows ----------------------------------------------------------------------

    def sustained(self, server: str, process, credentials) -> None:
        """Warm-up, the conditioning run, then one window per rate (lowest first)."""
        self.sustained_warmup(process, credentials)
        for rate in self.rates:
            window = self.window(process, rate, self.durations.window_s[rate], credentials)
            self.windows.setdefault(server, {})[rate] = window
            _print_window(server, window)

    def sustained_warmup(self, process, credentials) -> None:
        """The warm-up load and the conditioning run (not recorded) before a server's windows."""
        self._run_chunks(process, self.warmup, 1, credentials)
        condition = self.chunks[HEADLINE_RATE]
        self._run_chunks(process, condition, math.ceil(self.durations.condition_s / CHUNK_S), credentials)

    def window(self, process, rate: int, seconds: float, credentials) -> Window:
        prepared = self.chunks[rate]
        n = max(1, math.ceil(seconds / CHUNK_S))
        router = isinstance(process, RouterProcess)
        load0 = os.getloadavg()[0]
        metrics0 = process.metrics() if router else {}
        seen = process.snapshots() if router else set()
        known = set(seen)
        cpu0 = tree_cpu_seconds(process.pid)
        wait0, ticks0, start = tree_cpu_wait_seconds(process.pid), host_cpu_ticks(), time.monotonic()
        results = []
        for _ in range(n):
            results.append(self._run_one(process, prepared, credentials))
            if router:  # the newest snapshot is always kept: a listing per chunk sees each one
                seen |= process.snapshots()
        cpu = tree_cpu_seconds(process.pid) - cpu0
        cpu_wait = (tree_cpu_wait_seconds(process.pid) - wait0) / (time.monotonic() - start)
        ticks = host_cpu_ticks()
        steal = 100 * (ticks[0] - ticks0[0]) / max(1, ticks[1] - ticks0[1])
        hist = HdrHistogram(1, HIGHEST_NS, SIGNIFICANT_DIGITS)
        late = HdrHistogram(1, HIGHEST_NS, SIGNIFICANT_DIGITS)
        read_late = HdrHistogram(1, HIGHEST_NS, SIGNIFICANT_DIGITS)
        at_read = HdrHistogram(1, HIGHEST_NS, SIGNIFICANT_DIGITS)
        order_datagram = prepared.plan.order_datagram()
        sent = acked = rejected = not_applied = unanswered = 0
        client_cpu = 100 * sum(r.cpu_ns for r in results) / max(1, sum(r.elapsed_ns for r in results))
        for result in results:  # after the window: no Python work between its chunks
            hist.add(latency_histogram(result, order_datagram, prepared.schedule))
            late.add(send_lateness_histogram(result, prepared.schedule))
            read_late.add(read_lateness_histogram(result))
            at_read.add(latency_histogram(result, order_datagram, prepared.schedule, at_read=True))
            sent += result.sent_orders
            acked += result.acked
            rejected += result.rejected
            not_applied += result.not_applied
            unanswered += result.unanswered
        window = Window(rate, n * CHUNK_S, summarize(hist), sent, acked, rejected, not_applied, unanswered,
                        1e6 * cpu / max(1, sent), chunks=n, load=(load0, os.getloadavg()[0]),
                        cpu_wait_ms_per_s=1e3 * cpu_wait, steal_pct=steal, send_lateness=summarize(late),
                        client_cpu_pct=client_cpu, read_lateness=summarize(read_late),
                        latency_at_read=summarize(at_read))
        if router:
            metrics = process.metrics()
            window.periodic = {label: round(metrics[name] - metrics0.get(name, 0.0))
                               for label, name in PERIODIC.items() if name in metrics}
            window.periodic["snapshots"] = len(seen - known)
            elapsed = time.monotonic() - start
            read = metrics.get(READ_PASSES, 0.0) - metrics0.get(READ_PASSES, 0.0)
            window.read_passes_per_s = read / elapsed
            window.orders_per_pass = sent / read if read else None
            events = metrics.get(EVENT_PASSES, 0.0) - metrics0.get(EVENT_PASSES, 0.0)
            window.event_passes_per_s = events / elapsed
            window.short_spins = {outcome: round(metrics.get(name, 0.0) - metrics0.get(name, 0.0))
                                  for outcome, name in SHORT_SPINS.items()}
            if GC_PAUSES[0] in metrics:  # (a build before the metric has none)
                window.gc_pause_ms = 1e3 * sum(metrics[n] - metrics0.get(n, 0.0) for n in GC_PAUSES)
        return window

    def _run_chunks(self, process, prepared: PreparedLoad, n: int, credentials) -> None:
        for _ in range(n):
            self._run_one(process, prepared, credentials)

    @staticmethod
    def _run_one(process, prepared: PreparedLoad, credentials):
        limits = RunLimits(timeout_s=CHUNK_S * 4 + 30)
        with Sessions("127.0.0.1", process.port, 1, credentials) as sessions:
            return run_plan(prepared.plan, sessions.fds(), prepared.schedule,
                            window_orders=prepared.spec.window, limits=limits, keys=sessions.keys)

    # -- throughput -----------------------------------------------------------------------------

    def max_rate(self, server: str, process, credentials, repeats: int = REPEATS,
                 keys: tuple[str, ...] = ("max1", "max20")) -> None:
        for key in keys:
            runs = []
            for run in range(repeats):
                with Sessions("127.0.0.1", process.port, 1, credentials) as sessions:
                    cpu_before = tree_cpu_seconds(process.pid)
                    report = execute_load(self.throughput[key], sessions, RunLimits(timeout_s=60.0))
                    cpu = tree_cpu_seconds(process.pid) - cpu_before
                cpu_us = 1e6 * cpu / max(1, report.acknowledged)
                _print_report(server, f"{key}#{run + 1}", report, cpu_us)
                runs.append((report, cpu_us))
            report, cpu_us = sorted(runs, key=lambda r: r[0].rate_per_s)[len(runs) // 2]
            self.reports.setdefault(server, {})[key] = report
            self.cpu_us_per_order.setdefault(server, {})[key] = cpu_us
            self.runs.setdefault(server, {})[key] = [r for r, _ in runs]


def _print_window(server: str, w: Window) -> None:
    lat = w.latency
    periodic = "" if w.periodic is None else \
        "  in window: " + ", ".join(f"{n} {label}" for label, n in w.periodic.items())
    if w.read_passes_per_s is not None:
        each = "" if w.orders_per_pass is None else f" of {w.orders_per_pass:.1f} orders"
        periodic += f"; passes {w.read_passes_per_s:,.0f}/s read{each}, {w.event_passes_per_s:,.0f}/s events"
    if w.short_spins is not None:
        periodic += "; engine short spins " + ", ".join(f"{n:,} {o}" for o, n in w.short_spins.items())
    if w.gc_pause_ms is not None:
        periodic += f"; collector held the loop {w.gc_pause_ms:.1f} ms"
    print(f"{server:>16} {w.rate // 1000:>4}k/s x {w.seconds:.0f} s: acked {w.acknowledged}/{w.sent} "
          f"rej {w.rejected} n/a {w.not_applied} lost {w.unanswered}  us p50 {lat.p50_us:.1f} "
          f"p99 {lat.p99_us:.1f} p99.9 {lat.p999_us:.1f} max {lat.max_us:.1f}  "
          f"server cpu {w.cpu_us_per_order:.1f} us/order, waited for a cpu {w.cpu_wait_ms_per_s:.0f} ms/s  "
          f"{_lateness(w.send_lateness)}{_read(w)}client cpu {w.client_cpu_pct:.0f}%  "
          f"host steal {w.steal_pct:.1f}%  load {w.load[0]:.1f}->{w.load[1]:.1f}{periodic}",
          flush=True)


def _lateness(late: LatencySummary | None) -> str:
    return "" if late is None else f"sent late p50 {late.p50_us:.1f} p99 {late.p99_us:.1f} us  "


def _read(w: Window) -> str:
    """The load generator's read of each answer after it arrived, and the latencies to that read."""
    late, lat = w.read_lateness, w.latency_at_read
    if late is None or lat is None:
        return ""
    return (f"read late p50 {late.p50_us:.1f} p99 {late.p99_us:.1f} us (to the read: p50 {lat.p50_us:.1f} "
            f"p99 {lat.p99_us:.1f} p99.9 {lat.p999_us:.1f})  ")


def _print_report(server: str, key: str, r: LoadReport, cpu_us: float) -> None:
    lat = r.latency
    print(f"{server:>16} {key:>9}: {r.rate_per_s:>12,.0f} acked/s  acked {r.acknowledged}/{r.sent} "
          f"rej {r.rejected} n/a {r.not_applied} lost {r.unanswered}  us p50 {lat.p50_us:.1f} "
          f"p99 {lat.p99_us:.1f} max {lat.max_us:.1f}  server cpu {cpu_us:.1f} us/order", flush=True)


def wait_label(wait: str | None = None, spin_us: int | None = None) -> str:
    """The engine wait strategy a router runs: the default config's, or the one given."""
    engine = EngineSection()
    wait = wait or engine.wait
    spin_us = engine.spin_us if spin_us is None else spin_us
    short_spin = f"spin_us {spin_us}, skipped while it catches nothing"
    if wait == "hybrid":
        return f"hybrid ({short_spin})"
    if wait == "adaptive":
        return (f"adaptive (below {engine.low_rate} commands/s spins up to {engine.low_rate_spin_us} us "
                f"between batches, above it hybrid with {short_spin})")
    return wait


def router_wait_label(wait: str | None = None) -> str:
    """The router's own wait between passes ([udp] wait): the default config's, or the one given."""
    udp = UdpConfig()
    wait = wait or udp.wait
    if wait == "adaptive":
        return (f"adaptive (below {udp.low_rate} datagrams/s spins up to {udp.low_rate_spin_us} us "
                "between passes)")
    return wait


def run_servers(bench: Bench) -> None:
    with EchoServer(max_seconds=1800) as echo:
        bench.sustained("echo", echo, None)
        if bench.throughput_runs:
            bench.max_rate("echo", echo, None)
    given = "default config" if (bench.wait, bench.spin_us, bench.answer_wait_us, bench.router_wait) \
        == (None, None, None, None) else "default config but the waits"
    answer_wait = UdpConfig().answer_wait_us if bench.answer_wait_us is None else bench.answer_wait_us
    print(f"router: {given}, router wait {router_wait_label(bench.router_wait)}, engine wait "
          f"{wait_label(bench.wait, bench.spin_us)}, answer_wait_us {answer_wait}", flush=True)
    with RouterProcess(wait=bench.wait, spin_us=bench.spin_us, answer_wait_us=bench.answer_wait_us,
                       router_wait=bench.router_wait) as router:
        bench.sustained("router", router, CREDENTIALS)
        if bench.throughput_runs:
            bench.max_rate("router", router, CREDENTIALS)
    if bench.quick or not bench.throughput_runs:
        return
    for wait in ("spin", "sleep", "hybrid"):
        with RouterProcess(wait=wait) as router:
            bench.max_rate(f"router ({wait})", router, CREDENTIALS)
    with RouterProcess(capture=True) as router:
        bench.max_rate("router (capture)", router, CREDENTIALS, keys=("max1",))
    with BaselineAsyncioProcess() as baseline:
        bench.max_rate("asyncio+struct", baseline, None, keys=("max1",))


def latency_entries(bench: Bench, server: str = "router", base: str = "echo") -> list[dict]:
    out = []
    for rate, w in bench.windows.get(server, {}).items():
        b = bench.windows[base][rate]
        for stat, label in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9"), ("max", "max")):
            figure, baseline = getattr(w.latency, f"{stat}_us"), getattr(b.latency, f"{stat}_us")
            entry = {
                "name": f"UDP order-to-answer {label} at {rate // 1000}k/s sustained {w.seconds:.0f} s, "
                        f"{server} vs {base}",
                "figure": figure, "unit": f"us ({label})", "baseline_name": f"{base} {label}, same traffic",
                "baseline": baseline, "ratio": round(figure / baseline, 3) if baseline else 0.0,
                "offered_rate": rate, "seconds": w.seconds, "acked": w.acknowledged, "sent": w.sent,
                "unanswered": w.unanswered, "rejected": w.rejected, "not_applied": w.not_applied,
                "cpu_us_per_order": round(w.cpu_us_per_order, 2),
                "baseline_cpu_us_per_order": round(b.cpu_us_per_order, 2),
                "periodic": w.periodic,
                "read_passes_per_s": None if w.read_passes_per_s is None else round(w.read_passes_per_s),
                "orders_per_pass": None if w.orders_per_pass is None else round(w.orders_per_pass, 2),
                "event_passes_per_s": None if w.event_passes_per_s is None else round(w.event_passes_per_s),
                "engine_short_spins": w.short_spins,
                "gc_pause_ms": None if w.gc_pause_ms is None else round(w.gc_pause_ms, 2),
                "engine_wait": wait_label(bench.wait, bench.spin_us) if server == "router" else None,
                "router_wait": router_wait_label(bench.router_wait) if server == "router" else None,
                "load_average": list(w.load), "baseline_load_average": list(b.load),
                "cpu_wait_ms_per_s": round(w.cpu_wait_ms_per_s, 1),
                "baseline_cpu_wait_ms_per_s": round(b.cpu_wait_ms_per_s, 1),
                "steal_pct": round(w.steal_pct, 2), "baseline_steal_pct": round(b.steal_pct, 2),
                "send_late_us": _lateness_dict(w.send_lateness),
                "baseline_send_late_us": _lateness_dict(b.send_lateness),
                "read_late_us": _lateness_dict(w.read_lateness),
                "baseline_read_late_us": _lateness_dict(b.read_lateness),
                "at_read_us": None if w.latency_at_read is None else w.latency_at_read.as_dict(),
                "baseline_at_read_us": None if b.latency_at_read is None else b.latency_at_read.as_dict(),
                "client_cpu_pct": round(w.client_cpu_pct, 1),
                "baseline_client_cpu_pct": round(b.client_cpu_pct, 1),
                "spectrum_us": sorted(w.latency.spectrum_us.items()),
                "series": server, "baseline_series": base,
            }
            if (rate, stat) in LATENCY_FLOORS:
                entry.update(latency_floor(figure, baseline, LATENCY_FLOORS[(rate, stat)]))
            out.append(entry)
    return out


def _lateness_dict(late: LatencySummary | None) -> dict | None:
    return None if late is None else {"p50": late.p50_us, "p99": late.p99_us}


def latency_floor(figure: float, baseline: float, floor: float) -> dict:
    """A latency floor's fields. The floors are absolute figures, so the baseline is held to the
    floor too: one the C echo server misses in the same window was missed by the host (a slow or
    busy machine), not only by the router."""
    return {"floor": floor, "meets_floor": figure < floor, "baseline_meets_floor": baseline < floor}


def throughput_entry(bench: Bench, server: str, key: str, base: str) -> dict:
    r, b = bench.reports[server][key], bench.reports[base][key]
    ratio = round(r.rate_per_s / b.rate_per_s, 3) if b.rate_per_s else 0.0
    entry = {
        "name": f"UDP acked orders/s, {r.spec.per_datagram}/datagram, {server} vs {base}",
        "figure": round(r.rate_per_s), "unit": "orders/s", "baseline_name": f"{base}, same traffic",
        "baseline": round(b.rate_per_s), "ratio": ratio,
        "p50": r.latency.p50_us, "p99": r.latency.p99_us, "acked": r.acknowledged, "sent": r.sent,
        "rate_runs": [round(run.rate_per_s) for run in bench.runs[server][key]],
        "rejected": r.rejected, "unanswered": r.unanswered, "window": r.spec.window,
        "cpu_us_per_order": round(bench.cpu_us_per_order[server][key], 2),
        "baseline_cpu_us_per_order": round(bench.cpu_us_per_order[base][key], 2),
        "series": server, "baseline_series": base,
    }
    if base == "echo" and key in THROUGHPUT_FLOORS:
        kind, floor = THROUGHPUT_FLOORS[key]
        entry["floor"], entry["floor_of"] = floor, kind
        entry["meets_floor"] = (ratio if kind == "ratio" else r.rate_per_s) >= floor
    return entry


def entries(bench: Bench) -> list[dict]:
    out = latency_entries(bench)
    for server in bench.reports:
        if server in ("echo", "asyncio+struct"):
            continue
        base = "router" if server == "router (capture)" else "echo"
        out += [throughput_entry(bench, server, key, base) for key in bench.reports[server]]
    if "asyncio+struct" in bench.reports:
        out.append(throughput_entry(bench, "router", "max1", "asyncio+struct"))
    return out


def run(quick: bool, rates: tuple[int, ...] = RATES, seconds: float | None = None,
        throughput: bool = True, wait: str | None = None, spin_us: int | None = None,
        answer_wait_us: int | None = None, router_wait: str | None = None) -> list[dict]:
    began = time.monotonic()
    print(f"host load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at start", flush=True)
    bench = Bench(quick, rates, seconds, throughput, wait, spin_us, answer_wait_us, router_wait)
    print(f"plans built in {time.monotonic() - began:.1f} s", flush=True)
    run_servers(bench)
    result = entries(bench)
    print_entries(result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="UDP end-to-end benchmark: a long-running router vs C echo")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the entries as one JSON array")
    parser.add_argument("--rates", type=lambda text: tuple(int(r) for r in text.split(",")), default=RATES,
                        help="offered rates of the sustained windows, comma-separated (default: all)")
    parser.add_argument("--seconds", type=float, help="every sustained window this long")
    parser.add_argument("--no-throughput", action="store_true", help="the sustained windows only")
    parser.add_argument("--wait", choices=("spin", "sleep", "hybrid", "adaptive"),
                        help="the router's engine wait strategy (default: the default config's)")
    parser.add_argument("--spin-us", type=int, help="the hybrid wait's spin (default: the default config's)")
    parser.add_argument("--answer-wait-us", type=int,
                        help="[udp] answer_wait_us (default: the default config's)")
    parser.add_argument("--router-wait", choices=("sleep", "adaptive"),
                        help="[udp] wait, the router's between passes (default: the default config's)")
    args = parser.parse_args(argv)
    result = run(args.quick, args.rates, args.seconds, not args.no_throughput, args.wait, args.spin_us,
                 args.answer_wait_us, args.router_wait)
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
