"""OpsMonitor's journal probe: the write runs on a thread of its own, read at the loop's ticks."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

from udprouter.ops import monitor as monitor_module
from udprouter.ops.monitor import OpsMonitor

TICKS = 400  # every wait below is bounded: at most this many ticks


def make_monitor(tmp_path) -> OpsMonitor:
    order_entry = SimpleNamespace(ring=None, available=True)
    supervisor = SimpleNamespace(proc=None)
    risk = SimpleNamespace(rejects={})
    sessions = SimpleNamespace(login_failures={}, logins_dropped=0)
    return OpsMonitor(tmp_path, order_entry, supervisor, risk, sessions)


async def ticks_until(monitor: OpsMonitor, condition) -> bool:
    for _ in range(TICKS):
        monitor._tick()
        if condition():
            return True
        await asyncio.sleep(0.005)
    return False


async def test_a_directory_that_stops_taking_writes_is_reported_at_a_tick(tmp_path, monkeypatch):
    monkeypatch.setattr(monitor_module, "JOURNAL_PROBE_S", 0.0)
    monitor = make_monitor(tmp_path)
    monitor.start()
    try:
        assert monitor.journal_writable
        monitor.probe_fn = lambda directory: "No space left on device"
        assert await ticks_until(monitor, lambda: not monitor.journal_writable)
        assert monitor.journal_error == "No space left on device"
        assert "journal not writable (No space left on device)" in monitor.readiness()
        monitor.probe_fn = monitor_module.probe_journal
        assert await ticks_until(monitor, lambda: monitor.journal_writable)
    finally:
        monitor.close()


async def test_a_write_that_never_returns_makes_the_journal_unwritable(tmp_path, monkeypatch):
    monkeypatch.setattr(monitor_module, "JOURNAL_PROBE_S", 0.0)
    monkeypatch.setattr(monitor_module, "PROBE_HUNG_S", 0.05)
    monitor = make_monitor(tmp_path)
    monitor.start()
    release = threading.Event()
    try:
        def hung(directory) -> str:
            release.wait(10)  # a disk that does not answer (released at the end of the test)
            return ""

        monitor.probe_fn = hung
        assert await ticks_until(monitor, lambda: not monitor.journal_writable)
        assert "has not returned" in monitor.journal_error  # and the ticks never waited on it
    finally:
        release.set()
        monitor.close()
