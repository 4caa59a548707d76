"""Drop-copy benchmark: the router's max-rate UDP figure with a drop-copy session connected against
none, same run, same router (SPEC.md 4.12: copies are made in the router's flush, so this is what
they cost the order path).

    python -m bench.bench_drop_copy [--quick] [--json]

Setup: `udprouter serve` (hybrid, durability os) on ephemeral ports, the default keys plus a
drop-copy key for all accounts, `[session] ended_retention_s = 1` (a drop-copy session that ends is
released within about two seconds, so an 'off' run after an 'on' run copies nothing). Load =
src/udprouter/loadgen max20 (max rate, 20 orders per datagram, a fresh FIXP session per run).
Runs alternate off/on, REPEATS each, the median run is the figure; baseline: off.
  on   a drop-copy reader (this module with --reader, a separate process niced 10, as a consumer
       that would normally run elsewhere: udprouter.client, counting every CopiedReport) is
       connected for the whole run; after the load, the time until it has every copy the router
       made (udprouter_drop_copies_total of the run; a reader short of it is reported) is a second
       figure, against the load's duration: a Python reader behind a busy loopback recovers its
       socket-buffer losses by RetransmitRequest within the byte budget, so this is mostly the
       reader's and the budget's figure, not the router's
  off  no drop-copy session exists (the previous one terminated and was released)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time

from bench.module_cli import module_main, print_entries
from bench.udp_servers import ROOT, RouterProcess
from udprouter.client import Client, CopiedReport
from udprouter.loadgen.load_run import LoadSpec, Sessions, execute_load, prepare_load
from udprouter.loadgen.runner import RunLimits

CREDENTIALS = ("demo", "demo-secret")
REPEATS = 3
TIMEOUT_S = 120.0
KEYS = """
[session]
ended_retention_s = 1
[[keys]]
key_id = "demo"
secret = "demo-secret"
account = 1
[[keys]]
key_id = "demo2"
secret = "demo2-secret"
account = 2
[[keys]]
key_id = "copy"
secret = "copy-secret"
account = 900
drop_copy = "all"
"""
COPIES = re.compile(r"COPIES (\d+)")


async def read_copies(port: int) -> None:
    """--reader: a drop-copy session counting its copies until SIGTERM, then one line COPIES n."""
    client = await Client.connect("127.0.0.1", port, "copy", "copy-secret", keepalive_ms=1000)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("READY", flush=True)
    count = 0

    async def count_copies() -> None:
        nonlocal count
        async for report in client.reports():
            count += isinstance(report, CopiedReport)

    task = asyncio.create_task(count_copies())
    while not stop.is_set():  # progress for the bench, which waits for every copy
        print(f"COPIES {count} retransmit_requests {client.inbound.retransmit_requests}", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)
    task.cancel()
    print(f"COPIES {count} retransmit_requests {client.inbound.retransmit_requests}", flush=True)
    await client.close()


class Reader:
    def __init__(self, port: int, log) -> None:
        self.log = log
        with log.open("w") as out:
            args = ["nice", "-n", "10", sys.executable, "-m", "bench.bench_drop_copy", "--reader", str(port)]
            self.proc = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while "READY" not in log.read_text():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"drop-copy reader did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)

    def count(self) -> int:
        """The copies it has delivered in order so far (its latest progress line)."""
        counts = COPIES.findall(self.log.read_text())
        return int(counts[-1]) if counts else 0

    def wait_for(self, total: int) -> float:
        """Seconds until it has total copies (bounded)."""
        start = time.monotonic()
        while self.count() < total and time.monotonic() - start < TIMEOUT_S:
            time.sleep(0.05)
        return time.monotonic() - start

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def released_drop_copies(router) -> None:
    deadline = time.monotonic() + 30
    while router.metrics().get("udprouter_drop_copy_sessions", 1) > 0:
        if time.monotonic() > deadline:
            raise RuntimeError("the drop-copy session was not released")
        time.sleep(0.2)


def entry(name: str, figure: float, unit: str, baseline_name: str, baseline: float) -> dict:
    return {"name": name, "figure": round(figure, 3), "unit": unit, "baseline_name": baseline_name,
            "baseline": round(baseline, 3), "ratio": figure / baseline if baseline else 0.0}


def run(quick: bool) -> list[dict]:
    repeats = 1 if quick else REPEATS
    orders = 100_000 if quick else 300_000
    prepared = prepare_load(LoadSpec(orders=orders, per_datagram=20, window=4000), [1], 1)
    router = RouterProcess(wait="hybrid")
    config = router.work / "router.toml"
    config.write_text(config.read_text() + KEYS)
    on, off, drains, loads, copies_ok = [], [], [], [], True
    with router:
        with Sessions("127.0.0.1", router.port, 1, CREDENTIALS) as sessions:  # warm-up, not recorded
            execute_load(prepare_load(LoadSpec(orders=10_000, per_datagram=1, rate=50_000), [1], 1), sessions,
                         RunLimits(timeout_s=60.0))
        for i in range(repeats * 2):
            live = i % 2 == 1
            reader = Reader(router.port, router.work / f"reader-{i}.log") if live else None
            try:
                before = router.metrics().get("udprouter_drop_copies_total", 0)
                with Sessions("127.0.0.1", router.port, 1, CREDENTIALS) as sessions:
                    report = execute_load(prepared, sessions, RunLimits(timeout_s=TIMEOUT_S))
                if reader is not None:
                    made = router.metrics().get("udprouter_drop_copies_total", 0) - before
                    drains.append(reader.wait_for(made))
                    got = reader.count()
                    copies_ok &= got == made > 0
            finally:
                if reader is not None:
                    reader.stop()
            print(f"{'on ' if live else 'off'} run {i // 2 + 1}: {report.rate_per_s:,.0f} acked/s "
                  f"({report.acknowledged}/{report.sent})", flush=True)
            if live:
                on.append(report.rate_per_s)
                loads.append(report.elapsed_s)
                print(f"    reader: {got:,} copies of the {made:,.0f} the router made, all of them "
                      f"{drains[-1]:.2f} s after the load's last answer", flush=True)
                released_drop_copies(router)
            else:
                off.append(report.rate_per_s)
    mid = repeats // 2
    result = [entry("router max20 with a drop-copy session connected", sorted(on)[mid], "orders/s",
                    "no drop-copy session", sorted(off)[mid]),
              entry("drop-copy reader has every copy, after the load's last answer", sorted(drains)[mid], "s",
                    "load duration", sorted(loads)[mid])]
    print_entries(result)
    if not copies_ok:
        print("WARNING: a drop-copy reader missed copies (see reader-*.log)", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--reader"]:
        parser = argparse.ArgumentParser()
        parser.add_argument("--reader", type=int, required=True)
        asyncio.run(read_copies(parser.parse_args(argv).reader))
        return 0
    return module_main(run, "Drop-copy benchmark (router max20 with a drop-copy session on/off)", argv)


if __name__ == "__main__":
    sys.exit(main())
