"""Where a router's latency tail comes from: every event-loop callback of a router on the default
config timed, with what ran inside the long ones, under a paced load.

    python -m bench.trace_loop [--rate 50000] [--duration 30] [--warmup 5] [--wait hybrid] [--top 15]

The router runs in a child process of this module (the same `serve` as `udprouter serve`, temp
config and journal like bench_udp), with its callbacks wrapped before it starts: the UDP readable
callback, the engine-events callback, the 50 ms timer and the metrics collector. Inside each call,
time spent in the cyclic GC (gc.callbacks), router log writes and rolls, the ring offer, the event
drain, and the send (sendmmsg) is added up, and so are the steps of a pass inside them (PARTS: the C
ingest, the write-ahead record, the engine's wake-up, the C reply's record write, its sendmmsg and
the frames kept for retransmission, ...), each also summed over the window per call. Then
`udprouter-loadgen --rate R --duration D` runs against it (after a warm-up load that is not
recorded) and, at the end, the child prints:
  * a histogram of callback durations and the callbacks per second,
  * the GC collections and their pauses per generation,
  * the longest calls, each split into the parts above and the periodic work that fell inside it
    (router log roll, engine snapshot),
  * the engine's journal append latency buckets from the ring header, and the socket's drops
    (/proc/net/udp) before and after,
beside the loadgen's own p50/p99/p99.9/max. A measuring tool for the README's performance section,
not a test: the wrappers add a few hundred ns per call.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench.udp_servers import LISTENING, ServerProcess, router_config

BOUNDS_US = (50, 100, 200, 500, 1000, 2000, 5000, 10000)
# The parts nest: offer holds write_ahead and wake; drain holds route (on the fast path the ring's
# poll is inside drain's C call; poll is the other path's), route the C reply (reply_in_c), and that
# its record write, its sendmmsg and the frames handed to the sessions.
PARTS = ("gc", "log_write", "log_roll", "recv", "ingest", "offer", "write_ahead", "wake", "await_events",
         "drain", "poll", "route", "reply_in_c", "reply_log", "reply_send", "reply_keep", "finish", "send")


class Tracer:
    def __init__(self) -> None:
        self.active = False
        self.parts: Counter[str] = Counter()
        self.flags: list[str] = []
        self.hist: Counter[str] = Counter()
        self.cpu_hist: Counter[str] = Counter()
        self.longest_cpu: list[tuple[int, str, float, dict, list]] = []
        self.calls: Counter[str] = Counter()
        self.total_ns: Counter[str] = Counter()
        self.longest: list[tuple[int, str, float, dict, list]] = []  # (ns, callback, wall time, parts, flags)
        self.gc_started = 0
        self.gc_pauses: dict[int, list[int]] = {0: [], 1: [], 2: []}
        self.recording = False
        self.part_totals: Counter[str] = Counter()  # over the window: ns per part
        self.part_calls: Counter[str] = Counter()

    def gc_callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.gc_started = time.perf_counter_ns()
            return
        ns = time.perf_counter_ns() - self.gc_started
        if self.recording:
            self.gc_pauses[info["generation"]].append(ns)
        self.parts["gc"] += ns
        self.flags.append(f"gc{info['generation']}")

    def wrap_callback(self, name: str, fn):
        def traced(*args, **kwargs):
            if self.active:  # nested (a callback called from another): counted in the outer one
                return fn(*args, **kwargs)
            self.active = True
            self.parts.clear()
            self.flags.clear()
            cpu0 = time.thread_time_ns()
            began = time.perf_counter_ns()
            try:
                return fn(*args, **kwargs)
            finally:
                ns = time.perf_counter_ns() - began
                cpu = time.thread_time_ns() - cpu0
                self.active = False
                if self.recording:
                    self.record(name, ns, cpu)
        return traced

    def wrap_part(self, part: str, fn):
        def timed(*args, **kwargs):
            began = time.perf_counter_ns()
            try:
                return fn(*args, **kwargs)
            finally:
                ns = time.perf_counter_ns() - began
                self.parts[part] += ns
                if self.recording:
                    self.part_totals[part] += ns
                    self.part_calls[part] += 1
        return timed

    def record(self, name: str, ns: int, cpu: int) -> None:
        self.calls[name] += 1
        self.total_ns[name] += ns
        self.hist[_bucket(ns)] += 1
        self.cpu_hist[_bucket(cpu)] += 1
        parts = dict(self.parts)
        parts["cpu"] = cpu
        for kept, key in ((self.longest, ns), (self.longest_cpu, cpu)):
            if len(kept) < 200 or key > kept[-1][0]:
                kept.append((key, name, time.time(), parts, list(self.flags)))
                kept.sort(key=lambda x: -x[0])
                del kept[200:]


def _bucket(ns: int) -> str:
    us = ns / 1000
    return next((f"<={b}" for b in BOUNDS_US if us <= b), f">{BOUNDS_US[-1]}")


def install(tracer: Tracer) -> None:
    """Wraps the Router's callbacks and parts (class attributes: before any Router exists)."""
    from udprouter import loop_pass, order_entry, ring, server
    from udprouter.durability import router_log
    from udprouter.fastpath import fast_ingest, fast_io
    from udprouter.ops import metrics

    R = server.Router
    for name in ("_on_udp_readable", "_on_timer"):
        setattr(R, name, tracer.wrap_callback(name, getattr(R, name)))
    P = loop_pass.LoopPass  # the engine's eventfd reader is the loop pass's
    P.on_engine_events = tracer.wrap_callback("_on_engine_events", P.on_engine_events)
    M = metrics.Metrics
    if hasattr(M, "collect"):
        M.collect = tracer.wrap_callback("metrics_collect", M.collect)
    L = router_log.RouterLog
    L._write_out = tracer.wrap_part("log_write", L._write_out)
    original_roll = L._roll

    def roll(self, *a, **k):
        tracer.flags.append("roll")
        return original_roll(self, *a, **k)
    L._roll = tracer.wrap_part("log_roll", roll)
    entry = order_entry.OrderEntry
    entry.flush = tracer.wrap_part("offer", entry.flush)
    entry.drain = tracer.wrap_part("drain", entry.drain)
    entry._reply_routed = tracer.wrap_part("route", entry._reply_routed)
    D = fast_io.DatagramSocket
    D.flush = tracer.wrap_part("send", D.flush)
    D.receive_raw = tracer.wrap_part("recv", D.receive_raw)
    D.send_built = tracer.wrap_part("reply_send", D.send_built)
    L._write_ahead_in_c = tracer.wrap_part("write_ahead", L._write_ahead_in_c)
    L.reply_record_written = tracer.wrap_part("reply_log", L.reply_record_written)
    P.drain_step = tracer.wrap_part("drain_step", P.drain_step)  # ring to socket in one (answer_pass.h)
    P._reply_in_c = tracer.wrap_part("reply_in_c", P._reply_in_c)
    P._hand_frames = tracer.wrap_part("reply_keep", P._hand_frames)
    P._finish = tracer.wrap_part("finish", P._finish)
    S = ring.RingSegment
    S.wake_engine_if_sleeping = tracer.wrap_part("wake", S.wake_engine_if_sleeping)
    S.await_events = tracer.wrap_part("await_events", S.await_events)  # the answer wait, the low-rate spin
    S.poll_events = tracer.wrap_part("poll", S.poll_events)
    F = fast_ingest.FastIngest
    F.run = tracer.wrap_part("ingest", F.run)
    F.read = tracer.wrap_part("read_in_c", F.read)  # socket to ring in one C call (read_pass.h)
    gc.callbacks.append(tracer.gc_callback)


def udp_drops(port: int) -> int:
    """The drops counter of the UDP socket bound to port (/proc/net/udp, last column)."""
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            return int(fields[-1])
    return -1


def child(args: argparse.Namespace) -> int:
    """The router, traced; prints the report on SIGUSR1 (recording starts on SIGUSR2)."""
    import asyncio

    import uvloop

    from udprouter import cli
    from udprouter.ops import oplog

    tracer = Tracer()
    install(tracer)
    oplog.setup("logfmt", "warning")
    journal = Path(args.journal)
    state: dict = {}

    profiler = None
    if args.profile:
        import cProfile
        profiler = cProfile.Profile()

    def start_recording() -> None:
        tracer.recording = True
        if profiler is not None:
            profiler.enable()
        state["drops0"] = udp_drops(state["port"]) if "port" in state else -1
        state["snapshots0"] = snapshot_times(journal)
        state["t0"] = time.time()

    def report() -> None:
        tracer.recording = False
        if profiler is not None:  # before the report: the parent reads both once the report is there
            profiler.disable()
            profiler.dump_stats(args.report + ".prof")
        rec = {"calls": dict(tracer.calls), "total_ms": {k: v / 1e6 for k, v in tracer.total_ns.items()},
               "hist": dict(tracer.hist), "cpu_hist": dict(tracer.cpu_hist),
               "parts": {k: {"calls": tracer.part_calls[k], "ms": round(v / 1e6, 1),
                             "us_per_call": round(v / 1e3 / max(1, tracer.part_calls[k]), 1)}
                         for k, v in tracer.part_totals.items()},
               "gc": {g: {"n": len(p), "max_us": max(p, default=0) / 1000,
                          "sum_ms": sum(p) / 1e6, "over_500us": sum(1 for x in p if x > 500_000)}
                      for g, p in tracer.gc_pauses.items()},
               "gc_threshold": gc.get_threshold(), "gc_frozen": gc.get_freeze_count(),
               "drops": udp_drops(state["port"]) - state.get("drops0", 0),
               "snapshots": sorted(t for t in snapshot_times(journal)
                                   if t not in state.get("snapshots0", set())),
               "longest": _longest(tracer.longest, args.top, state),
               "longest_cpu": _longest(tracer.longest_cpu, args.top, state),
               "engine": state["engine"]() if "engine" in state else {}}
        Path(args.report + ".tmp").write_text(json.dumps(rec))
        os.replace(args.report + ".tmp", args.report)  # whole when the parent sees it

    async def main() -> int:
        loop = asyncio.get_running_loop()
        original = cli.freeze_startup_heap

        def started() -> None:
            original()
            router = routers[0]
            state["port"] = router.udp_address[1]
            ring = router.supervisor.ring
            state["engine"] = lambda: engine_figures(ring)
            loop.add_signal_handler(signal.SIGUSR2, start_recording)
            loop.add_signal_handler(signal.SIGUSR1, report)
        cli.freeze_startup_heap = started
        return await cli.serve(args.config, None)

    from udprouter import server
    routers: list = []
    init = server.Router.__init__

    def capture_init(self, *a, **k):
        init(self, *a, **k)
        routers.append(self)
    server.Router.__init__ = capture_init
    return uvloop.run(main())


def _longest(kept: list, top: int, state: dict) -> list[dict]:
    return [{"us": round(ns / 1000), "cb": name, "t": round(t - state.get("t0", 0), 3),
             "parts_us": {k: round(v / 1000) for k, v in parts.items() if v > 20_000},
             "flags": sorted(set(flags))}
            for ns, name, t, parts, flags in kept[:top]]


def snapshot_times(journal: Path) -> set[float]:
    return {p.stat().st_mtime for p in journal.glob("snapshot-*.bin")}


def engine_figures(ring) -> dict:
    """The engine's journal append latency buckets (ring header: <= 2, 8, 32, 128, 512, 2048, 8192 us,
    more)."""
    h = getattr(ring, "header", None) or getattr(getattr(ring, "ring", None), "header", None)
    if h is None:
        return {}
    return {"journal_append_buckets": list(h.journal_append_buckets),
            "journal_append_sum_ms": h.journal_append_sum_ns / 1e6,
            "commands_applied": h.commands_applied}


class TracedRouter(ServerProcess):
    """This module's child: the traced router, on a temp config and journal like bench_udp's."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__([sys.executable, "-m", "bench.trace_loop", "--child"], LISTENING)
        journal, config = self.work / "journal", self.work / "router.toml"
        config.write_text(router_config(journal, args.wait))
        self.report = self.work / "report.json"
        self.args += ["--config", str(config), "--journal", str(journal), "--report", str(self.report),
                      "--top", str(args.top), "--profile", str(args.profile)]


def parent(args: argparse.Namespace) -> int:
    loadgen = str(Path(sys.executable).parent / "udprouter-loadgen")
    with TracedRouter(args) as router:
        target = f"127.0.0.1:{router.port}"
        if args.warmup:
            subprocess.run([loadgen, "--target", target, "--rate", str(args.rate), "--duration",
                            str(args.warmup), "--json"], check=True, stdout=subprocess.DEVNULL)
        print(f"load {os.getloadavg()}", flush=True)
        router.proc.send_signal(signal.SIGUSR2)
        time.sleep(0.2)
        run = subprocess.run([loadgen, "--target", target, "--rate", str(args.rate), "--duration",
                              str(args.duration), "--json"], check=True, capture_output=True, text=True)
        router.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 30
        while not router.report.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        print_report(args, json.loads(run.stdout), json.loads(router.report.read_text()))
        if args.profile:
            import pstats
            pstats.Stats(str(router.report) + ".prof").sort_stats("tottime").print_stats(args.profile)
    return 0


def print_report(args, result: dict, rec: dict) -> None:
    lat = result.get("latency_us") or result.get("latency") or {}
    print(f"loadgen {args.rate}/s x {args.duration:.0f} s: "
          + " ".join(f"{k} {v}" for k, v in result.items() if not isinstance(v, (dict, list))))
    print("loadgen latency:", json.dumps(lat))
    print(f"load after {os.getloadavg()}")
    seconds = args.duration
    print("callbacks/s:", {k: round(v / seconds) for k, v in rec["calls"].items()},
          "busy ms:", {k: round(v) for k, v in rec["total_ms"].items()})
    order = [f"<={b}" for b in BOUNDS_US] + [f">{BOUNDS_US[-1]}"]
    print("parts over the window:", rec["parts"])
    print("callback duration us (wall):", {k: rec["hist"].get(k, 0) for k in order})
    print("callback duration us (cpu): ", {k: rec["cpu_hist"].get(k, 0) for k in order})
    print("gc (threshold", rec["gc_threshold"], "frozen", rec["gc_frozen"], "):", rec["gc"])
    print("udp socket drops:", rec["drops"], " engine:", rec["engine"])
    print("engine snapshots in window (unix time):", rec["snapshots"])
    for key, title in (("longest", "wall"), ("longest_cpu", "cpu")):
        print(f"longest callbacks by {title} time (t: s since recording began, the loadgen's plan building "
              "included; parts in us, cpu = thread cpu):")
        for item in rec[key]:
            print(f"  {item['us']:>7} us {item['cb']:<18} t={item['t']:>7.3f} {item['parts_us']} "
                  f"{item['flags']}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=int, default=50_000)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--wait", choices=("spin", "sleep", "hybrid"), default=None)
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--profile", type=int, default=0, help="cProfile the window: print this many functions")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--config", help=argparse.SUPPRESS)
    p.add_argument("--journal", help=argparse.SUPPRESS)
    p.add_argument("--report", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    return child(args) if args.child else parent(args)


if __name__ == "__main__":
    sys.exit(main())
