"""Servers the UDP benchmark drives, each started on an ephemeral loopback port and stopped by its
pid: the real router (`udprouter serve`, engine spawned by it, temp config and journal) and the
plain asyncio + struct baseline. The C echo server lives in bench/c/echo_server.py."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LISTENING = re.compile(r"udp=([\d.]+):(\d+)")
METRICS_PORT = re.compile(r"metrics=(\d+)")


def router_config(journal_dir: Path, wait: str | None, authenticate: bool = True,
                  spin_us: int | None = None, answer_wait_us: int | None = None,
                  router_wait: str | None = None, engine_low_rate: int | None = None) -> str:
    """The default config but for where it listens and writes: ephemeral UDP, gRPC and metrics
    ports, journal in a temp dir; wait None keeps the default engine wait strategy. Everything
    else (durability os, snapshot interval, router log segments, keys demo/demo-secret,
    SecurityID 1-3) is the built-in default. authenticate=False turns the datagram MAC off: only to
    measure what it costs (SPEC.md 4.9). spin_us: the hybrid wait's spin, answer_wait_us: [udp]
    answer_wait_us, router_wait: [udp] wait, the router's own wait between passes, engine_low_rate:
    [engine] low_rate (None: the defaults)."""
    engine = (f'wait = "{wait}"\n' if wait else "") + ("" if spin_us is None else f"spin_us = {spin_us}\n")
    engine += "" if engine_low_rate is None else f"low_rate = {engine_low_rate}\n"
    engine = f"[engine]\n{engine}" if engine else ""
    session = "" if authenticate else "[session]\nauthenticate_datagrams = false\n"
    udp = ("" if answer_wait_us is None else f"answer_wait_us = {answer_wait_us}\n") + \
        ("" if router_wait is None else f'wait = "{router_wait}"\n')
    return (f'[udp]\nhost = "127.0.0.1"\nport = 0\n{udp}[grpc]\nhost = "127.0.0.1"\nport = 0\n'
            f'[metrics]\nhost = "127.0.0.1"\nport = 0\n{engine}[journal]\ndir = "{journal_dir}"\n{session}')


class ServerProcess:
    """A child process that prints its port; its output goes to a log file (a pipe nobody reads
    could fill up and stall the server in the middle of a measurement)."""

    def __init__(self, args: list[str], port_pattern: re.Pattern[str], startup_s: float = 60.0) -> None:
        self.args, self.port_pattern, self.startup_s = args, port_pattern, startup_s
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.tmp = tempfile.TemporaryDirectory(prefix="udprouter-bench-")
        self.work = Path(self.tmp.name)
        self.log = self.work / "server.log"

    def __enter__(self) -> ServerProcess:
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(self.args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_s
        while time.monotonic() < deadline and self.proc.poll() is None:
            if match := self.port_pattern.search(self.log.read_text()):
                self.port = int(match.group(match.lastindex or 0))
                return self
            time.sleep(0.05)
        tail = self.log.read_text().strip()[-800:]
        self.stop()
        raise RuntimeError(f"{' '.join(self.args[:3])} did not start: {tail}")

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        self.tmp.cleanup()


class RouterProcess(ServerProcess):
    """`udprouter serve` with a temp config; wait = the engine wait strategy (spin|sleep|hybrid|
    adaptive), router_wait = the router's (sleep|adaptive); None: the default."""

    def __init__(self, wait: str | None = None, capture: bool = False, authenticate: bool = True,
                 spin_us: int | None = None, answer_wait_us: int | None = None,
                 router_wait: str | None = None, engine_low_rate: int | None = None) -> None:
        args = [str(Path(sys.executable).parent / "udprouter"), "serve"]
        super().__init__(args, LISTENING)
        self.journal = self.work / "journal"
        config = self.work / "router.toml"
        config.write_text(router_config(self.journal, wait, authenticate, spin_us, answer_wait_us,
                                         router_wait, engine_low_rate))
        self.args += ["--config", str(config)]
        if capture:
            self.args += ["--capture", str(self.work / "capture.pcapng")]

    def metrics(self) -> dict[str, float]:
        """The router's metrics endpoint, scraped: every sample by name, labels included
        (`name{label="value"}`)."""
        match = METRICS_PORT.search(self.log.read_text())
        if match is None:
            return {}
        with urllib.request.urlopen(f"http://127.0.0.1:{match.group(1)}/metrics", timeout=10) as reply:
            text = reply.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            name, _, value = line.rpartition(" ")  # a label value may hold spaces, the value none
            if name and not line.startswith("#"):
                out[name] = float(value)
        return out

    def snapshots(self) -> set[str]:
        """The engine snapshot files in the journal directory now."""
        return {p.name for p in self.journal.glob("snapshot-*.bin")}


class BaselineAsyncioProcess(ServerProcess):
    def __init__(self) -> None:
        args = [sys.executable, "-m", "bench.baseline_asyncio", "--port", "0"]
        super().__init__(args, re.compile(r"PORT (\d+)"))
