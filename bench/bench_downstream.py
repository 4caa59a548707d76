"""Downstream benchmark: the publisher into R1 and R3 streams, its lag under max-rate load, the
router's UDP figure with the publisher on against off, and the store's rows/s. One run, real servers.

    python -m bench.bench_downstream [--quick] [--json]

Setup: `udprouter serve` (hybrid, durability os) on an ephemeral port; load = src/udprouter/loadgen max20
(max rate, 20 orders per datagram, a fresh FIXP session per run). Every server runs in a temp dir
on loopback and is stopped by pid.
  router on/off      the same load with a live publisher into a local R1 stream, and without one
                     (alternating, REPEATS each, the median run); baseline: off
  lag                at the last answer of an 'on' run: the events the stream is behind the journal
                     (baseline: the run's events), and the time from then until the stream holds
                     every event (baseline: the load's own duration)
  publisher R1 / R3  a fresh publisher from an empty stream over the whole journal (one node / three
                     nodes, R3): events/s from the first stored to the last; baseline: udprouter-events
                     alone (the journal replayed into /dev/null), i.e. what the source can give
  store              udprouter-store from the R1 stream into a fresh PostgreSQL: rows/s (executions
                     rows, one per event) from the first to the last; baseline: publisher R1
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nats
import psycopg

from bench.module_cli import module_main, print_entries
from bench.udp_servers import ROOT, RouterProcess
from udprouter.config import load_config
from udprouter.downstream.events import FRAME, STREAM, events_command
from udprouter.downstream.local import NatsCluster, NatsServer, PostgresServer, stop_pid
from udprouter.loadgen.load_run import LoadSpec, Sessions, execute_load, prepare_load
from udprouter.loadgen.runner import RunLimits

CREDENTIALS = ("demo", "demo-secret")
REPEATS = 3
TIMEOUT_S = 300.0


def journal_events(config_path: Path, journal: Path) -> tuple[int, float]:
    """(events in the journal, seconds udprouter-events takes to replay them to a pipe)."""
    args = events_command(load_config(config_path), journal, None, follow=False)
    started = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE)
    total = 0
    while chunk := proc.stdout.read(1 << 20):
        total += len(chunk)
    proc.wait()
    return total // FRAME.size, time.monotonic() - started


class StreamCounter:
    """Samples the stream's message count from a thread of its own (its own event loop)."""

    def __init__(self, urls: str) -> None:
        self.urls = urls

    async def _count(self, js) -> int:
        try:
            return (await js.stream_info(STREAM)).state.messages
        except Exception:
            return 0

    def wait_for(self, total: int) -> tuple[float, float]:
        """Blocks until the stream holds total messages: (time of the first seen, time of the last)."""
        async def run() -> tuple[float, float]:
            nc = await nats.connect(servers=self.urls.split(","), max_reconnect_attempts=-1)
            try:
                js = nc.jetstream(timeout=10)
                first, deadline = 0.0, time.monotonic() + TIMEOUT_S
                while time.monotonic() < deadline:
                    n = await self._count(js)
                    now = time.monotonic()
                    if n and not first:
                        first = now
                    if n >= total:
                        return first, now
                    await asyncio.sleep(0.01)
                raise RuntimeError(f"stream stuck below {total} events")
            finally:
                await nc.close()
        return asyncio.run(run())

    def count_now(self) -> int:
        async def run() -> int:
            nc = await nats.connect(servers=self.urls.split(","), max_reconnect_attempts=-1)
            try:
                return await self._count(nc.jetstream(timeout=10))
            finally:
                await nc.close()
        return asyncio.run(run())


def publisher(config: Path, urls: str, log: Path, *extra: str) -> subprocess.Popen:
    with log.open("a") as out:
        return subprocess.Popen([sys.executable, "-m", "udprouter.downstream.publisher", "--config",
                                 str(config), "--nats", urls, *extra],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def router_runs(router, work: Path, prepared, config: Path, journal: Path) -> dict:
    """Alternating on/off max-rate runs; the 'on' ones measure the publisher's lag at the load's end."""
    # Broker and publisher niced, as a host that also serves orders would run them (the broker is
    # normally on other machines).
    nats_server = NatsServer(work, "live", nice=10).start()
    pub = publisher(config, nats_server.url, work / "live.log")
    counter = StreamCounter(nats_server.url)
    on, off, behind, drains, durations, produced = [], [], [], [], [], []
    try:
        for i in range(REPEATS * 2):
            live = i % 2 == 0
            if live:
                before, _ = journal_events(config, journal)
                counter.wait_for(before)  # caught up before the run starts
            with Sessions("127.0.0.1", router.port, 1, CREDENTIALS) as sessions:
                report = execute_load(prepared, sessions, RunLimits(timeout_s=120.0))
            answered = time.monotonic()
            print(f"{'on ' if live else 'off'} run {i // 2 + 1}: {report.rate_per_s:,.0f} acked/s "
                  f"({report.acknowledged}/{report.sent})", flush=True)
            if live:
                stored_at_end = counter.count_now()
                total, _ = journal_events(config, journal)
                _, done = counter.wait_for(total)
                on.append(report.rate_per_s)
                behind.append(total - stored_at_end)
                produced.append(total - before)
                drains.append(done - answered)
                durations.append(report.elapsed_s)
            else:
                off.append(report.rate_per_s)
    finally:
        stop_pid(pub)
        nats_server.stop()
    mid = REPEATS // 2
    return {"on": sorted(on)[mid], "off": sorted(off)[mid], "behind": sorted(behind)[mid],
            "produced": sorted(produced)[mid], "drain_s": sorted(drains)[mid],
            "load_s": sorted(durations)[mid]}


def catch_up(config: Path, urls: str, total: int, log: Path, *extra: str) -> float:
    pub = publisher(config, urls, log, "--nice", "0", *extra)  # nothing else runs: full speed
    try:
        first, last = StreamCounter(urls).wait_for(total)
    finally:
        stop_pid(pub)
    return total / max(last - first, 1e-6)


def store_rate(urls: str, total: int, work: Path) -> float:
    postgres = PostgresServer().start()
    with (work / "store.log").open("a") as out:
        store = subprocess.Popen([sys.executable, "-m", "udprouter.downstream.store", "--nats", urls, "--dsn",
                                  postgres.dsn], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        first, deadline = 0.0, time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(postgres.dsn) as db:
                    n = db.execute("SELECT count(*) FROM executions").fetchone()[0]
            except psycopg.Error:
                n = 0
            now = time.monotonic()
            if n and not first:
                first = now
            if n >= total:
                return total / max(now - first, 1e-6)
            time.sleep(0.02)
        raise RuntimeError("store stuck")
    finally:
        stop_pid(store)
        postgres.stop()


def entry(name: str, figure: float, unit: str, baseline_name: str, baseline: float) -> dict:
    return {"name": name, "figure": round(figure, 3), "unit": unit, "baseline_name": baseline_name,
            "baseline": round(baseline, 3), "ratio": figure / baseline if baseline else 0.0}


def run(quick: bool) -> list[dict]:
    global REPEATS
    REPEATS = 1 if quick else REPEATS
    orders = 100_000 if quick else 400_000
    prepared = prepare_load(LoadSpec(orders=orders, per_datagram=20, window=4000), [1], 1)
    with RouterProcess(wait="hybrid") as router, tempfile.TemporaryDirectory(prefix="udprouter-ds-") as tmp:
        work = Path(tmp)
        config, journal = router.work / "router.toml", router.work / "journal"
        with Sessions("127.0.0.1", router.port, 1, CREDENTIALS) as sessions:  # warm-up, not recorded
            execute_load(prepare_load(LoadSpec(orders=10_000, per_datagram=1, rate=50_000), [1], 1), sessions,
                         RunLimits(timeout_s=60.0))
        live = router_runs(router, work, prepared, config, journal)
        total, replay_s = journal_events(config, journal)
        replay_rate = total / replay_s
        print(f"journal: {total:,} events; udprouter-events alone {replay_rate:,.0f} events/s", flush=True)
        r1_server = NatsServer(work, "r1").start()
        try:
            r1 = catch_up(config, r1_server.url, total, work / "r1.log")
            print(f"publisher R1: {r1:,.0f} events/s", flush=True)
            store = store_rate(r1_server.url, total, work)
            print(f"store: {store:,.0f} rows/s", flush=True)
        finally:
            r1_server.stop()
        cluster = NatsCluster(work / "r3").start()
        try:
            r3 = catch_up(config, cluster.urls, total, work / "r3.log", "--replicas", "3")
            print(f"publisher R3: {r3:,.0f} events/s", flush=True)
        finally:
            cluster.stop()
    result = [
        entry("router max20 with the publisher on", live["on"], "orders/s", "publisher off", live["off"]),
        entry("publisher R1", r1, "events/s", "udprouter-events alone", replay_rate),
        entry("publisher R3 (3 nodes)", r3, "events/s", "publisher R1", r1),
        entry("store", store, "rows/s", "publisher R1", r1),
        entry("publisher behind at the load's last answer", live["behind"], "events", "events of the run",
              live["produced"]),
        entry("publisher drain after the load's last answer", live["drain_s"], "s", "load duration",
              live["load_s"]),
    ]
    print_entries(result)
    return result


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return module_main(run, "Downstream benchmark (publisher R1/R3, lag, router on/off, store)", argv)


if __name__ == "__main__":
    sys.exit(main())
