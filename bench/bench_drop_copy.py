"""Drop-copy benchmark: the router's max-rate UDP figure with a drop-copy session connected against
none, same run, same router (SPEC.md 4.12: copies are made in the router's flush, so this is what
they cost the order path).

    python -m bench.bench_drop_copy [--quick] [--json]

Setup: `udprouter serve` (hybrid, durability os) on ephemeral ports, the default keys plus a
drop-copy key for all accounts, `[session] ended_retention_s = 1` (a drop-copy session that ends is
released within about two seconds, so an 'off' run after another copies nothing), and a
retransmission buffer of 1M messages with a 64 MiB/s budget (a run's copies all stay recoverable:
with the defaults, 65,536 and 256 KiB/s, a reader that falls further behind than the buffer loses
the oldest copies, SPEC.md 4.12). Load =
src/udprouter/loadgen max20 (max rate, 20 orders per datagram, a fresh FIXP session per run).
Runs cycle off/parked/reader, REPEATS each, the median run is the figure; baseline: off.
  parked  a drop-copy session is established but its consumer reads nothing (the copies fill its
          socket buffer and are dropped by the kernel): the router does every bit of the copy
          work and the consumer takes no CPU from this 2-vCPU host. The figure for the order path;
          router+engine CPU per order beside it.
  reader  a drop-copy reader (this module with --reader, a separate process niced 10, as a
          consumer that would normally run elsewhere: udprouter.client, counting every
          CopiedReport) is connected for the whole run; after the load, the time until it has
          every copy the router made (udprouter_drop_copies_total of the run; a reader short of it
          is reported) is a second figure, against the load's duration: a Python reader on a busy
          loopback recovers its socket-buffer losses by RetransmitRequest within the byte budget,
          so this is mostly the reader's and the budget's figure, not the router's
  off     no drop-copy session exists (the previous one terminated and was released)
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
from bench.process_cpu import tree_cpu_seconds
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
retransmit_buffer = 1048576
retransmit_bytes_per_s = 67108864
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
MODES = ("off", "parked", "reader")


async def read_copies(port: int, park: bool) -> None:
    """--reader: a drop-copy session counting its copies until SIGTERM, then one line COPIES n.
    --park: the session established, then nothing read (the socket buffer overflows; the router
    does all its work, the consumer none) and a keepalive long enough for the run."""
    keepalive_ms = 60_000 if park else 1000
    client = await Client.connect("127.0.0.1", port, "copy", "copy-secret", keepalive_ms=keepalive_ms)
    if park:
        client.transport.pause_reading()
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
    def __init__(self, port: int, log, park: bool) -> None:
        self.log = log
        with log.open("w") as out:
            args = ["nice", "-n", "10", sys.executable, "-m", "bench.bench_drop_copy", "--reader", str(port)]
            args += ["--park"] if park else []
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
    orders = 100_000 if quick else 200_000
    prepared = prepare_load(LoadSpec(orders=orders, per_datagram=20, window=4000), [1], 1)
    router = RouterProcess(wait="hybrid", router_wait="sleep")
    config = router.work / "router.toml"
    config.write_text(config.read_text() + KEYS)
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    drains, loads, copies_ok = [], [], True
    with router:
        with Sessions("127.0.0.1", router.port, 1, CREDENTIALS) as sessions:  # warm-up, not recorded
            execute_load(prepare_load(LoadSpec(orders=10_000, per_datagram=1, rate=50_000), [1], 1), sessions,
                         RunLimits(timeout_s=60.0))
        for i in range(repeats * len(MODES)):
            mode = MODES[i % len(MODES)]
            reader = None if mode == "off" else Reader(router.port, router.work / f"reader-{i}.log",
                                                       park=mode == "parked")
            try:
                before = router.metrics().get("udprouter_drop_copies_total", 0)
                cpu0 = tree_cpu_seconds(router.pid)
                with Sessions("127.0.0.1", router.port, 1, CREDENTIALS) as sessions:
                    report = execute_load(prepared, sessions, RunLimits(timeout_s=TIMEOUT_S))
                cpu[mode].append((tree_cpu_seconds(router.pid) - cpu0) / report.acknowledged * 1e6)
                made = router.metrics().get("udprouter_drop_copies_total", 0) - before
                if mode == "reader":
                    drains.append(reader.wait_for(made))
                    loads.append(report.elapsed_s)
                    copies_ok &= reader.count() == made > 0
            finally:
                if reader is not None:
                    reader.stop()
            rates[mode].append(report.rate_per_s)
            print(f"{mode:>6} run {i // len(MODES) + 1}: {report.rate_per_s:,.0f} acked/s "
                  f"({report.acknowledged}/{report.sent}), router+engine CPU {cpu[mode][-1]:.2f} us/order, "
                  f"{made:,.0f} copies made", flush=True)
            if mode == "reader":
                print(f"    reader: {reader.count():,} copies, all of them {drains[-1]:.2f} s after the "
                      f"load's last answer", flush=True)
            if reader is not None:
                released_drop_copies(router)
    mid = repeats // 2

    def med(values: list[float]) -> float:
        return sorted(values)[mid]

    result = [
        entry("router max20, drop-copy session established, consumer not reading", med(rates["parked"]),
              "orders/s", "no drop-copy session", med(rates["off"])),
        entry("router max20, drop-copy reader on this host", med(rates["reader"]), "orders/s",
              "no drop-copy session", med(rates["off"])),
        entry("router+engine CPU per order, drop-copy session established", med(cpu["parked"]), "us",
              "no drop-copy session", med(cpu["off"])),
        entry("drop-copy reader has every copy, after the load's last answer", med(drains), "s",
              "load duration", med(loads)),
    ]
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
        parser.add_argument("--park", action="store_true")
        args = parser.parse_args(argv)
        asyncio.run(read_copies(args.reader, args.park))
        return 0
    return module_main(run, "Drop-copy benchmark (router max20 with a drop-copy session on/off)", argv)


if __name__ == "__main__":
    sys.exit(main())
