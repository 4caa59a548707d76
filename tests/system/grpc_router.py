"""A real `udprouter serve` (engine spawned by it) with the gRPC fallback on free loopback ports, for
the gRPC system tests. Every process is stopped by its pid; the journal lives in a temp dir."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"udp=([\d.]+):(\d+).*engine_pid=(\d+)")
START_TIMEOUT_S = 30.0
# One key and one instrument per test, so each test starts a fresh durable session (server sequence
# numbers from 1) and trades only with its own orders.
KEYS = [(f"k{i}", f"k{i}-secret", i) for i in range(1, 13)]
SECURITIES = range(1, 13)
PRICE = 100_000_000_000  # 100.00: every instrument's reference price; tick 0.01, band 10%
TICK = 10_000_000


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config_text(journal: Path, grpc_port: int, inbound_capacity: int, extra: str = "") -> str:
    keys = "".join(f'[[keys]]\nkey_id = "{k}"\nsecret = "{s}"\naccount = {a}\n' for k, s, a in KEYS)
    keys += "".join(f'[[instruments]]\nsecurity_id = {i}\nsymbol = "S{i}"\ntick = "0.01"\n'
                    f'reference_price = "100.00"\nband = "0.10"\nmax_qty = 1000000\n' for i in SECURITIES)
    return (f'[udp]\nhost = "127.0.0.1"\nport = 0\n[grpc]\nport = {grpc_port}\n[metrics]\nenabled = false\n'
            # Each test trades one key (one account) with itself: self-match prevention (on by
            # default) would cancel instead of trade.
            f'[engine]\ninbound_capacity = {inbound_capacity}\nwait = "sleep"\n'
            'self_match_prevention = false\n'
            f'[journal]\ndir = "{journal}"\ndurability = "none"\n{keys}{extra}')


class GrpcRouter:
    def __init__(self, inbound_capacity: int = 1024, extra_config: str = "") -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="udprouter-grpc-test-")
        work = Path(self.tmp.name)
        self.grpc_port = free_tcp_port()
        self.config = work / "router.toml"
        self.config.write_text(config_text(work / "journal", self.grpc_port, inbound_capacity, extra_config))
        self.log = work / "router.log"
        self.proc: subprocess.Popen | None = None
        self.udp_port = self.engine_pid = 0

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self) -> GrpcRouter:
        with self.log.open("w") as log:
            args = [str(Path(sys.executable).with_name("udprouter")), "serve", "--config", str(self.config)]
            self.proc = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and self.proc.poll() is None:
            match = LISTENING.search(self.log.read_text())
            if match and self._serving():
                self.udp_port, self.engine_pid = int(match.group(2)), int(match.group(3))
                return self
            time.sleep(0.05)
        tail = self.log.read_text()[-1500:]
        self.stop()
        raise RuntimeError(f"udprouter serve did not start with gRPC on {self.target}:\n{tail}")

    def _serving(self) -> bool:
        with grpc.insecure_channel(self.target) as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
            except grpc.RpcError:
                return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def pause_engine(self) -> None:
        os.kill(self.engine_pid, signal.SIGSTOP)

    def resume_engine(self) -> None:
        os.kill(self.engine_pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.tmp.cleanup()
