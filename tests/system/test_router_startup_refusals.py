"""What the router refuses to start on, each with one line and exit status 2 (no traceback):
a journal directory another router holds (the line names its pid; an engine started by hand on it
exits 2 too), a ring segment (engine.shm_name)
another router's engine serves, a UDP, gRPC or metrics port
already in use (no silent sharing), and a journal directory that is a file, has no parent, or
cannot be written. A missing journal directory whose parent exists is created."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import RouterProcess, engine_binary

from udprouter._generated.messages import ExecutionReportNew, Side
from udprouter.client import Client
from udprouter.config import ENGINE_BIN_ENV, REPO_ROOT

PRICE = 100_000_000_000
CLI_TIMEOUT_S = 60.0
GRPC_ON = "[grpc]\nenabled = true\nport = 0\n"


def refused(work: Path, extra: str = "", journal: Path | None = None) -> str:
    """Runs `udprouter serve` on a config (ephemeral ports unless extra names one); asserts exit 2
    with one line and no traceback; returns that line."""
    work.mkdir(exist_ok=True)
    config = RouterProcess(work, extra, journal=journal).config
    env = dict(os.environ, **{ENGINE_BIN_ENV: str(engine_binary())})
    result = subprocess.run([sys.executable, "-m", "udprouter.cli", "serve", "--config", str(config)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, env=env)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 2, output
    assert "Traceback" not in output and len(output.splitlines()) == 1, output
    return output


async def assert_serving(router: RouterProcess) -> None:
    client = await Client.connect(*router.udp, "demo", "demo-secret")
    try:
        cl = await client.send_order(security_id=1, side=Side.Buy, price=PRICE, qty=1)
        assert isinstance(await client.first_ack(cl), ExecutionReportNew)
    finally:
        await client.close()


@pytest.fixture
def first_router(tmp_path):
    """A router serving from tmp_path/first (gRPC on), stopped afterwards: the one whose journal,
    segment or port a refused start names, and which must go on serving."""
    (tmp_path / "first").mkdir()
    router = RouterProcess(tmp_path / "first", GRPC_ON)
    yield router.start()
    router.stop()


async def test_second_router_on_the_same_journal_is_refused_naming_the_holder(tmp_path, first_router):
    first = first_router
    line = refused(tmp_path / "second", journal=first.journal)
    assert line == f"udprouter: journal.dir: {first.journal} is in use by udprouter pid {first.proc.pid}"
    assert f"udprouter pid {first.proc.pid}" in (first.journal / "LOCK").read_text()
    await assert_serving(first)


async def test_second_router_naming_the_same_segment_is_refused_and_the_first_engine_spared(
        tmp_path, first_router):
    shm_name = re.search(r'shm_name = "([^"]+)"', first_router.config.read_text()).group(1)
    line = refused(tmp_path / "second", f'[engine]\nshm_name = "{shm_name}"\n')
    assert line.startswith(f"udprouter: engine.shm_name: segment {shm_name} is in use by engine pid "
                           f"{first_router.engine_pid}")
    await assert_serving(first_router)


async def test_engine_started_by_hand_on_a_routers_journal_exits_2(first_router):
    journal = first_router.journal
    args = [str(engine_binary()), "--shm", "udprouter-never-attached", "--inbound-eventfd", "0",
            "--outbound-eventfd", "1", "--journal", str(journal), "--durability", "os",
            "--instrument", "1:10000000:90000000000:110000000000:1000", "--max-orders", "10",
            "--max-sessions", "10"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    assert result.returncode == 2
    reason = f"journal directory {journal} is in use ({journal}/LOCK is locked)"
    # One line, in the engine's logfmt (every engine stderr line since the ops logs: ts, level, source).
    line, = result.stderr.splitlines()
    logfmt = rf'ts=\S+ level=error source=engine msg="udprouter-engine: {re.escape(reason)}"'
    assert re.fullmatch(logfmt, line), line
    await assert_serving(first_router)


def test_udp_port_in_use_is_refused(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        line = refused(tmp_path / "r", f"[udp]\nport = {port}\n")
    assert line.startswith("udprouter: udp.port: cannot listen on 127.0.0.1:") and str(port) in line


def test_metrics_port_in_use_is_refused(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = refused(tmp_path / "r", f"[metrics]\nport = {port}\n")
    assert line.startswith("udprouter: metrics.port: cannot listen on") and str(port) in line


async def test_grpc_port_of_another_router_is_refused_not_shared(tmp_path, first_router):
    grpc_port = int(first_router.log_text().split("grpc=")[1].split()[0])
    line = refused(tmp_path / "second", f"[grpc]\nenabled = true\nport = {grpc_port}\n")
    assert line.startswith("udprouter: grpc.port: cannot listen on") and str(grpc_port) in line
    await assert_serving(first_router)


def test_journal_dir_that_is_a_file_is_refused(tmp_path):
    a_file = tmp_path / "journal-file"
    a_file.write_text("not a directory")
    line = refused(tmp_path / "r", journal=a_file)
    assert line == f"udprouter: journal.dir: {a_file} is not a directory"


def test_journal_dir_without_a_parent_is_refused_not_created(tmp_path):
    missing = tmp_path / "no-such-parent" / "journal"
    line = refused(tmp_path / "r", journal=missing)
    assert "journal.dir" in line and "does not exist" in line and str(missing.parent) in line
    assert not missing.parent.exists()


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory the router cannot write: mode 0555, or (as root, who ignores modes) a read-only tmpfs."""
    path = tmp_path / "read-only"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)],
                           capture_output=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs as root: {mount.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_journal_dir_that_cannot_be_written_is_refused(tmp_path, read_only_dir):
    line = refused(tmp_path / "r", journal=read_only_dir)
    assert line.startswith(f"udprouter: journal.dir: {read_only_dir} is not writable")


async def test_missing_journal_dir_with_a_parent_is_created(tmp_path):
    journal = tmp_path / "parent" / "journal"
    journal.parent.mkdir()
    (tmp_path / "r").mkdir()
    router = RouterProcess(tmp_path / "r", journal=journal).start()
    try:
        await assert_serving(router)
        assert (journal / "LOCK").exists()
    finally:
        assert router.stop() == 0
