"""System-test fixtures: a real `udprouter serve` (which spawns the real engine) on ephemeral loopback
ports, its journal in tmp_path. Every process is stopped by its pid in the fixture's finalizer."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from udprouter.config import ENGINE_BIN_ENV, REPO_ROOT, instruments_of, load_config, resolve_engine_binary
from udprouter.errors import ConfigError

LISTENING = re.compile(r"udp=([\d.]+):(\d+) grpc=(\S+) metrics=(\S+) engine_pid=(\d+)")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
PRICE = 100_000_000_000  # 100.00, the default instruments' reference price
TICK = 10_000_000  # 0.01


def engine_binary() -> Path:
    try:
        return resolve_engine_binary(load_config(None))
    except ConfigError as exc:
        pytest.skip(f"engine not built: {exc}")


def router_command(config: Path) -> list[str]:
    return [sys.executable, "-m", "udprouter.cli", "serve", "--config", str(config)]


def merged_section(base: str, extra: str) -> str:
    """TOML section body `base` with the keys of `extra` replacing or adding to its own."""
    keys: dict[str, str] = {}
    for line in (base + "\n" + extra).splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            keys[line.split("=", 1)[0].strip()] = line
    return "\n".join(keys.values())


# Ring segments named by this test session: a router killed on purpose (crash tests) leaves its
# segment for the restart, as in production; the session removes whatever of them is left at its end.
TEST_SEGMENTS: set[str] = set()


def test_segment_name() -> str:
    name = f"udprouter-test-{uuid.uuid4().hex[:12]}"
    TEST_SEGMENTS.add(name)
    return name


@pytest.fixture(scope="session", autouse=True)
def remove_test_segments():
    yield
    for name in TEST_SEGMENTS:
        Path("/dev/shm", name).unlink(missing_ok=True)


class RouterProcess:
    """`udprouter serve --config FILE` in a subprocess; start() waits for its listening line."""

    def __init__(self, work: Path, extra_config: str = "", *, journal: Path | None = None,
                 capture: Path | None = None) -> None:
        self.work = work
        self.capture = capture
        self.journal = journal or work / "journal"
        self.config = work / f"router-{uuid.uuid4().hex[:8]}.toml"
        # snapshot_every = 0: several tests read every command back from the journal segments, which a
        # snapshot at the clean stop would prune; the snapshot tests set it themselves. The router
        # and the engine sleep between passes (no adaptive spinning): tests don't each hold a vCPU.
        sections = {"udp": 'host = "127.0.0.1"\nport = 0\nwait = "sleep"',
                    "metrics": 'host = "127.0.0.1"\nport = 0',
                    "grpc": "enabled = false",
                    "journal": f'dir = "{self.journal}"\ndurability = "os"\nsnapshot_every = 0',
                    "engine": f'shm_name = "{test_segment_name()}"\nwait = "hybrid"'}
        for name, body in re.findall(r"^\[(\w+)\]\n((?:(?!\[).*\n?)*)", extra_config, re.M):
            sections[name] = merged_section(sections.get(name, ""), body)
        # [[array]] tables ([[accounts]], [[admin_keys]]) are passed through as they are.
        arrays = "".join(re.findall(r"^\[\[\w+\]\]\n(?:(?!\[).*\n?)*", extra_config, re.M))
        self.config.write_text("".join(f"[{name}]\n{body}\n" for name, body in sections.items()) + arrays)
        self.log = work / "router.log"
        self.proc: subprocess.Popen | None = None
        self.udp = ("127.0.0.1", 0)
        self.metrics_port = 0
        self.engine_pid = 0

    def start(self) -> RouterProcess:
        env = dict(os.environ, **{ENGINE_BIN_ENV: str(engine_binary())})
        with self.log.open("a") as log:
            args = router_command(self.config) + (["--capture", str(self.capture)] if self.capture else [])
            self.proc = subprocess.Popen(args, cwd=REPO_ROOT, stdout=log,
                                         stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and self.proc.poll() is None:
            match = LISTENING.search(self.log.read_text())
            if match:
                self.udp = (match.group(1), int(match.group(2)))
                self.metrics_port = int(match.group(4))
                self.engine_pid = int(match.group(5))
                return self
            time.sleep(0.02)
        tail = self.log.read_text()[-2000:]
        self.stop()
        raise RuntimeError(f"udprouter serve did not start:\n{tail}")

    def stop(self) -> int | None:
        """SIGTERM (graceful drain), bounded wait, then SIGKILL. Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        status, self.proc = self.proc.returncode, None
        return status

    def log_text(self) -> str:
        return self.log.read_text()

    def restart(self) -> RouterProcess:
        """Starts the stopped (or killed) router again on the UDP port it had, with the same journal
        and config: clients re-establish where they were. The previous life's output moves to
        router.log.<n>, so start() finds the new listening line."""
        port = self.udp[1]
        text = re.sub(r"(\[udp\]\nhost = \"127.0.0.1\"\n)port = \d+", rf"\g<1>port = {port}",
                      self.config.read_text())
        self.config.write_text(text)
        lives = len(list(self.work.glob("router.log.*")))
        self.log.rename(self.work / f"router.log.{lives}")
        self.start()
        assert self.udp[1] == port
        return self


def kill_engine_of(pid: int, journal: Path) -> None:
    """SIGKILL pid if it is still the engine serving journal (a test that froze an engine and failed
    before a router stopped it; a reused pid is left alone)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return
    if args[0].endswith(b"udprouter-engine") and str(journal.resolve()).encode() in args:
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def fast_path() -> bool:
    """[udp] fast_path for the routers a test starts; router test modules parametrize it over both."""
    return True


@pytest.fixture
def start_router(tmp_path, fast_path):
    """start_router(extra_config="", journal=None, capture=None) -> a started RouterProcess, stopped
    afterwards."""
    routers: list[RouterProcess] = []

    def start(extra_config: str = "", journal: Path | None = None,
              capture: Path | None = None) -> RouterProcess:
        work = tmp_path / f"r{len(routers)}"
        work.mkdir()
        udp = f"[udp]\nfast_path = {'true' if fast_path else 'false'}\n"
        router = RouterProcess(work, udp + extra_config, journal=journal, capture=capture)
        routers.append(router)
        return router.start()

    yield start
    for router in routers:
        router.stop()


@pytest.fixture
def router(start_router):
    return start_router()


@pytest.fixture
def state_digest():
    """state_digest(journal_dir) -> the engine's --print-state-digest (default instruments and limits)."""
    return engine_state_digest


def engine_state_digest(journal: Path) -> str:
    config = load_config(None)
    args = [str(engine_binary()), "--journal", str(journal), "--max-orders", str(config.engine.max_orders),
            "--max-sessions", str(config.engine.max_sessions),
            "--terminal-orders", str(config.engine.terminal_orders), "--print-state-digest"]
    for inst in instruments_of(config).values():
        args += ["--instrument", inst.engine_arg()]
    if config.engine.self_match_prevention:  # part of the snapshot's configuration fingerprint
        args.append("--self-match-prevention")
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True).stdout
    match = re.search(r"STATE_DIGEST (\S+)", out)
    assert match, out
    return match.group(1)


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs (a disk that fills up); skipped where mount is not permitted (CI runs as root)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 4 MB tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(path: Path, leave: int) -> Path:
    """A filler file on path's filesystem that leaves about `leave` bytes free; returns its path."""
    st = os.statvfs(path)
    filler = path / "filler"
    remaining, chunk = max(0, st.f_bavail * st.f_frsize - leave), b"\0" * (64 << 10)
    with open(filler, "wb", buffering=0) as f:
        while remaining > 0:
            try:  # a journal written meanwhile may take the last blocks first: the disk is full
                remaining -= f.write(chunk[:remaining])
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    return filler
