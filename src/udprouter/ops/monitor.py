"""OpsMonitor: the router's operational duty cycle, a timer on the event loop every TICK_S.

Each tick: notes that the loop turned (for /healthz), pets the systemd watchdog, checks that the
journal directory takes a write (for /readyz; the write itself runs on a thread of its own: creating
a file on ext4 held the loop 4 ms at a time under load), and turns counters into log lines of bounded volume:
ring-full and journal-unwritable episodes (one line at the start, one at the end), and a summary of
refused logins at most every LOGIN_SUMMARY_S. Nothing here runs per datagram.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from udprouter.ops.oplog import get_logger
from udprouter.ops.sd_notify import SdNotifier
from udprouter.ring import ENGINE_READY

if TYPE_CHECKING:
    from udprouter.engine_link.engine_supervisor import EngineSupervisor
    from udprouter.order_entry import OrderEntry
    from udprouter.risk import Risk
    from udprouter.session import SessionLayer

TICK_S = 0.25
LOOP_STALL_S = 5.0  # /healthz fails when the loop has not turned for this long
JOURNAL_PROBE_S = 1.0
PROBE_HUNG_S = 5.0  # a probe write that has not returned for this long: the journal is not writable
LOGIN_SUMMARY_S = 10.0
PROBE_NAME = ".udprouter-ready-probe"
ENGINE_STATES = {0: "absent", 1: "recovering", 2: "ready", 3: "stopped", 4: "failed"}

log = get_logger()


class OpsMonitor:
    def __init__(self, journal_dir: str | Path, order_entry: OrderEntry, supervisor: EngineSupervisor,
                 risk: Risk, sessions: SessionLayer, notifier: SdNotifier | None = None) -> None:
        """Reads, never changes: the order entry (the ring it holds, whether it takes commands), the
        supervisor (the engine process), risk (EngineBusy rejects) and the session layer (refused
        logins); it probes journal_dir with a small file of its own."""
        self.order_entry = order_entry
        self.supervisor = supervisor
        self.risk = risk
        self.sessions = sessions
        self.notifier = notifier or SdNotifier()
        self.journal_dir = Path(journal_dir)
        self.stopping = False
        self.last_tick = time.monotonic()
        self.journal_writable = True
        self.journal_error = ""
        self._handle: asyncio.TimerHandle | None = None
        self._next_watchdog = 0.0
        self._next_probe = 0.0
        self._prober = ThreadPoolExecutor(max_workers=1, thread_name_prefix="udprouter-probe")
        self._probe: Future | None = None  # the write in flight; its outcome is read at a tick
        self._probe_since = 0.0
        self.probe_fn = probe_journal  # the write itself (a test may stand in a slow disk)
        self._busy_seen = 0
        self._ring_full_since = 0.0
        self._ring_full_refused = 0
        self._login_seen: Counter[str] = Counter()
        self._next_login_summary = time.monotonic() + LOGIN_SUMMARY_S

    # -- probes (called from the HTTP thread and the gRPC health task) ---------------------------

    def healthz(self) -> tuple[bool, str]:
        lag = time.monotonic() - self.last_tick
        if lag > LOOP_STALL_S:
            return False, f"event loop stalled for {lag:.1f} s"
        return True, "ok"

    def readiness(self) -> list[str]:
        """What keeps the router from taking orders; empty when ready."""
        missing = []
        oe, sup = self.order_entry, self.supervisor
        ring = oe.ring
        if ring is None or sup.proc is None or sup.proc.returncode is not None or not oe.available:
            missing.append("engine not attached")
        elif ring.engine_state != ENGINE_READY:
            missing.append(f"engine {ENGINE_STATES.get(ring.engine_state, 'unknown')}")
        if not self.journal_writable:
            missing.append(f"journal not writable ({self.journal_error})")
        if self.stopping:
            missing.append("stopping")
        return missing

    def readyz(self) -> tuple[bool, str]:
        missing = self.readiness()
        return (False, "not ready: " + "; ".join(missing)) if missing else (True, "ready")

    def ready(self) -> bool:
        return not self.readiness()

    # -- duty cycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._probed(self.probe_fn(self.journal_dir))
        self._handle = asyncio.get_running_loop().call_later(TICK_S, self._tick)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._end_ring_full(time.monotonic())
        self._login_summary()
        log.flush_suppressed()
        self._prober.shutdown(wait=False)  # a probe in flight is one small write (or a hung disk)
        with contextlib.suppress(OSError):
            (self.journal_dir / PROBE_NAME).unlink()

    def _tick(self) -> None:
        now = self.last_tick = time.monotonic()
        if self.notifier.watchdog_interval_s and now >= self._next_watchdog:
            self.notifier.watchdog()
            self._next_watchdog = now + self.notifier.watchdog_interval_s
        probe = self._probe
        if probe is not None and probe.done():
            self._probe = None
            self._probed(probe.result())
        elif probe is not None and now - self._probe_since >= PROBE_HUNG_S:  # a hung disk
            self._probed(f"a write has not returned for {now - self._probe_since:.0f} s")
        if now >= self._next_probe and self._probe is None:
            self._probe = self._prober.submit(self.probe_fn, self.journal_dir)
            self._probe_since = now
            self._next_probe = now + JOURNAL_PROBE_S
        self._ring_full(now)
        if now >= self._next_login_summary:
            self._login_summary()
            log.flush_suppressed()
            self._next_login_summary = now + LOGIN_SUMMARY_S
        self._handle = asyncio.get_running_loop().call_later(TICK_S, self._tick)

    def _probed(self, error: str) -> None:
        """A probe's outcome ("" or why the write failed): readiness, and a line when it changes."""
        writable = not error
        if writable != self.journal_writable:
            if writable:
                log.info("journal_writable", dir=str(self.journal_dir))
            else:
                log.error("journal_unwritable", dir=str(self.journal_dir), error=error)
        self.journal_writable, self.journal_error = writable, error

    def _ring_full(self, now: float) -> None:
        busy = self.risk.rejects.get("EngineBusy", 0)  # not ApplicationNotAvailable: engine gone
        refused, self._busy_seen = busy - self._busy_seen, busy
        if refused:
            if not self._ring_full_since:
                self._ring_full_since = now
                ring = self.order_entry.ring
                log.warning("ring_full_start", capacity=ring.inbound_capacity if ring is not None else 0)
            self._ring_full_refused += refused
        else:
            self._end_ring_full(now)

    def _end_ring_full(self, now: float) -> None:
        if self._ring_full_since:
            log.info("ring_full_end", duration_s=round(now - self._ring_full_since, 3),
                     refused=self._ring_full_refused)
            self._ring_full_since, self._ring_full_refused = 0.0, 0

    def _login_summary(self) -> None:
        sessions = self.sessions
        current = Counter(sessions.login_failures)
        current["dropped_over_budget"] = sessions.logins_dropped
        delta = current - self._login_seen
        self._login_seen = current
        if delta:
            log.warning("login_failures", count=sum(delta.values()), window_s=LOGIN_SUMMARY_S,
                        **dict(sorted(delta.items())))


def probe_journal(journal_dir: Path) -> str:
    """A small write in the journal directory (the router log and the engine need it writable):
    "" if it took it, else why not."""
    try:
        fd = os.open(journal_dir / PROBE_NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, b"1")
        finally:
            os.close(fd)
    except OSError as exc:
        return exc.strerror or str(exc)
    return ""
