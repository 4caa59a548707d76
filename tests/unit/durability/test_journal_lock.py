"""JournalLock: the holder's pid in LOCK, a live holder named, a dead router's leftover holder waited
for (bounded), the lock free again once the holder exits."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from udprouter.durability.journal_lock import LOCK_NAME, JournalLock
from udprouter.errors import ConfigError

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.write(fd, sys.argv[2].encode())
print("held", flush=True)
time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path):
    """holder(text) -> a process (not a router: its command line never says so) holding the lock
    on tmp_path/LOCK with text written in the file; killed afterwards."""
    procs = []

    def hold(text: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / LOCK_NAME), text],
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield hold
    for proc in procs:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def exited_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_lock_file_names_the_router_and_then_its_engine(tmp_path):
    lock = JournalLock.acquire(tmp_path)
    try:
        assert (tmp_path / LOCK_NAME).read_text() == f"udprouter pid {os.getpid()}\n"
        lock.note_engine(4242)
        assert (tmp_path / LOCK_NAME).read_text().splitlines()[1] == "engine pid 4242"
    finally:
        lock.release()
    JournalLock.acquire(tmp_path).release()  # released: taken again at once


def test_lock_of_an_exited_router_held_by_an_unknown_process_is_refused_after_the_wait(tmp_path, holder):
    dead = exited_pid()
    holder(f"udprouter pid {dead}\n")
    began = time.monotonic()
    with pytest.raises(ConfigError) as refused:
        JournalLock.acquire(tmp_path, wait_s=0.3)
    assert time.monotonic() - began >= 0.3
    assert str(refused.value) == (f"journal.dir: {tmp_path} is still locked by an unknown process of the "
                                  f"exited udprouter pid {dead}")


def test_lock_of_an_exited_router_is_taken_once_its_holder_exits(tmp_path, holder):
    proc = holder(f"udprouter pid {exited_pid()}\n")
    timer = threading.Timer(0.3, proc.kill)  # the leftover holder exits while acquire waits
    timer.start()
    try:
        lock = JournalLock.acquire(tmp_path, wait_s=30)
    finally:
        timer.join()
    assert proc.poll() is not None
    lock.release()
