"""An engine whose parent died before it could ask for the parent-death signal does not serve.

PR_SET_PDEATHSIG only fires for a parent that dies after the prctl. The engine therefore compares
getppid() with the pid its spawner named ($UDPROUTER_ENGINE_PARENT_PID): `sh` forks a child that
waits, then execs the engine with sh's pid named, and sh exits at once, so the engine starts already
reparented. With a live segment it could attach and run forever; it must exit without touching it.
The control keeps sh alive until the engine ends: the same engine then attaches and serves.
"""

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from test_engine_process import CONFIG_ARGS, ENGINE

from udprouter.ring import ENGINE_ABSENT, ENGINE_READY, RingSegment

EXIT_S = 10.0
START_DELAY_S = 0.3  # the child waits this long, so sh has certainly exited before the exec
PARENT_ENV = "UDPROUTER_ENGINE_PARENT_PID"
# $$ is sh's pid (also inside the subshell); $! the subshell's, which becomes the engine's by exec.
SPAWN = f'{PARENT_ENV}=$$; export {PARENT_ENV}; (sleep {START_DELAY_S}; exec "$0" "$@" >/dev/null) &'
ORPHAN = SPAWN + " echo $$ $!"  # sh exits at once
ATTENDED = SPAWN + " echo $$ $!; wait"  # sh lives until the engine ends


@pytest.fixture
def segment():
    if not ENGINE.is_file():
        pytest.fail("build/engine/udprouter-engine is not built: run `make engine` first")
    seg = RingSegment.create(f"udr-pdeath-{os.getpid()}-{uuid.uuid4().hex[:10]}", 256, 1024)
    yield seg
    seg.unlink()
    seg.close()


def launch(script: str, seg: RingSegment, journal: Path, stderr: Path) -> tuple[subprocess.Popen, int, int]:
    """Runs the engine through `sh -c script`; returns sh, sh's pid and the engine's pid."""
    args = [str(ENGINE), "--shm", seg.name, "--inbound-eventfd", str(seg.inbound_eventfd),
            "--outbound-eventfd", str(seg.outbound_eventfd), "--journal", str(journal),
            "--durability", "os", "--wait", "sleep", *CONFIG_ARGS]
    with stderr.open("wb") as err:
        sh = subprocess.Popen(["sh", "-c", script, *args], stdout=subprocess.PIPE, stderr=err,
                              pass_fds=(seg.inbound_eventfd, seg.outbound_eventfd))
    sh_pid, engine_pid = (int(x) for x in sh.stdout.readline().split())
    sh.stdout.close()
    return sh, sh_pid, engine_pid


def gone(pid: int) -> bool:
    """Exited (a zombie counts: its new parent may not reap it at once)."""
    try:
        return ") Z" in Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True


def wait_gone(pid: int, limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return gone(pid)


def kill_if_alive(pid: int) -> None:
    if not gone(pid):
        os.kill(pid, signal.SIGKILL)
        wait_gone(pid, EXIT_S)


def test_engine_started_after_its_parent_died_exits_without_serving(segment, tmp_path):
    stderr = tmp_path / "engine.err"
    sh, sh_pid, engine_pid = launch(ORPHAN, segment, tmp_path / "journal", stderr)
    try:
        assert sh.wait(EXIT_S) == 0  # the parent is gone before the engine even starts
        assert wait_gone(engine_pid, START_DELAY_S + EXIT_S), "the orphaned engine kept running"
        assert f"parent process {sh_pid} is gone" in stderr.read_text()
        assert segment.engine_state == ENGINE_ABSENT and segment.engine_pid == 0
        assert not (tmp_path / "journal").exists()
    finally:
        kill_if_alive(engine_pid)


def test_engine_whose_parent_lives_attaches_and_stops_with_it(segment, tmp_path):
    stderr = tmp_path / "engine.err"
    sh, sh_pid, engine_pid = launch(ATTENDED, segment, tmp_path / "journal", stderr)
    try:
        deadline = time.monotonic() + EXIT_S
        while segment.engine_state != ENGINE_READY and time.monotonic() < deadline:
            time.sleep(0.01)
        assert segment.engine_state == ENGINE_READY and segment.engine_pid == engine_pid
        sh.kill()  # the parent dies after the prctl: the death signal stops the engine
        sh.wait(EXIT_S)
        assert wait_gone(engine_pid, EXIT_S), "the engine outlived its parent"
        assert "is gone" not in stderr.read_text()
    finally:
        kill_if_alive(engine_pid)
        if sh.poll() is None:
            sh.kill()
            sh.wait(EXIT_S)
