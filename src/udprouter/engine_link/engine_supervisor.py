"""EngineSupervisor: owns the ring segment, spawns `udprouter-engine`, restarts it after a crash.

The router creates the shared-memory segment and both eventfds, so orders already in the inbound
ring survive an engine crash; the engine recovers from its journal and continues. The segment also
survives a router crash: it is named after the journal directory (engine.shm_name, or by default
udprouter-<first 16 hex digits of the SHA-256 of the directory's real path>), so a restarted router
on the same journal reattaches it when its header matches this build (commands not yet journaled
stay queued for the new engine), after the old engine has exited (it gets SIGTERM through
PR_SET_PDEATHSIG when the router dies; the journal lock, which the engine inherits, makes the new
router wait for it). The engine runs in a session (process group) of its own, so a terminal's
Ctrl-C reaches only the router, which drains before it stops the engine. The command line is the
contract's. READY is awaited (bounded) as the line ``READY next_command_seq=<n>`` on stdout plus
engine_state READY in the header; an early exit or a timeout raises EngineError with the tail of
the engine's stderr (kept in <journal dir>/engine.log).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from udprouter.config import RouterConfig, instruments_of
from udprouter.durability.journal_lock import PREDECESSOR_EXIT_S, JournalLock, engine_journal, is_engine_of
from udprouter.engine_link.supervised_ring import SupervisedRing
from udprouter.errors import ConfigError, EngineError
from udprouter.ops.oplog import get_logger
from udprouter.order_entry import OrderEntry
from udprouter.ring import ENGINE_READY

STOP_TIMEOUT_S = 5.0
LOG_NAME = "engine.log"
LOST_EVENTS_MARK = "cannot be published again"  # engine/src/engine_process.cpp, EngineProcess::recover
LOST_EVENTS_SCAN_BYTES = 64 << 10  # what recovery writes before READY is a few lines
log = get_logger()


def exit_fields(returncode: int | None) -> dict:
    """status=<n> for an exit, signal=<NAME> for a death by signal (asyncio's negative codes)."""
    if returncode is not None and returncode < 0:
        try:
            return {"signal": signal.Signals(-returncode).name}
        except ValueError:
            return {"signal": -returncode}
    return {"status": returncode}


class EngineSupervisor:
    def __init__(self, config: RouterConfig, binary: Path, order_entry: OrderEntry,
                 lock: JournalLock | None = None) -> None:
        self.config = config
        self.binary = Path(binary)
        self.order_entry = order_entry
        self.journal_dir = Path(config.journal.dir).resolve()
        self.shm_name = config.engine.shm_name or default_shm_name(self.journal_dir)
        self.lock = lock  # the journal directory's lock: the engine inherits it
        self.ring: SupervisedRing | None = None
        self.reattached = False
        self.proc: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.on_restart: Callable[[], None] | None = None
        self._stopping = False
        self._watch_task: asyncio.Task | None = None
        self._stdout_task: asyncio.Task | None = None

    def command_line(self) -> list[str]:
        cfg, ring = self.config, self.ring
        args = [str(self.binary), "--shm", self.shm_name,
                "--inbound-eventfd", str(ring.inbound_eventfd),
                "--outbound-eventfd", str(ring.outbound_eventfd),
                *(["--lock-fd", str(self.lock.fd)] if self.lock is not None else []),
                "--journal", str(self.journal_dir), "--durability", cfg.journal.durability]
        for inst in instruments_of(cfg).values():
            args += ["--instrument", inst.engine_arg()]
        args += ["--max-orders", str(cfg.engine.max_orders), "--max-sessions", str(cfg.engine.max_sessions),
                 "--terminal-orders", str(cfg.engine.terminal_orders),
                 "--wait", cfg.engine.wait, "--spin-us", str(cfg.engine.spin_us), "--low-rate",
                 str(cfg.engine.low_rate), "--low-rate-spin-us", str(cfg.engine.low_rate_spin_us)]
        if cfg.engine.self_match_prevention:
            args.append("--self-match-prevention")
        if cfg.journal.snapshot_every:
            args += ["--snapshot-every", str(cfg.journal.snapshot_every)]
        return args

    async def start(self, prepare: Callable[[SupervisedRing, bool], None] | None = None) -> None:
        """Reattaches or creates the segment, calls prepare(ring, reattached) before the engine
        starts (router recovery), spawns the engine and waits for READY."""
        self.journal_dir.mkdir(parents=True, exist_ok=True)
        self.ring = await self._reattach()
        self.reattached = self.ring is not None
        if self.ring is None:
            self.ring = SupervisedRing.create(self.shm_name, self.config.engine.inbound_capacity,
                                              self.config.engine.outbound_capacity)
        self.order_entry.ring = self.ring
        try:
            if prepare is not None:
                prepare(self.ring, self.reattached)
            await self._spawn()
        except BaseException:
            self._release_ring()
            raise
        self._watch_task = asyncio.get_running_loop().create_task(self._watch())

    async def _reattach(self) -> SupervisedRing | None:
        """A dead router's segment with our name, once its engine is gone; None if there is none.
        A segment whose header does not match this build is removed (a new one is created)."""
        ring = SupervisedRing.reattach(self.shm_name)
        if ring is None:
            return None
        pid = ring.engine_pid
        if pid > 0 and is_engine_of(pid, self.shm_name.encode()) and engine_journal(pid) != self.journal_dir:
            ring.close()  # a live engine of another journal: a shared engine.shm_name, never ours to stop
            raise ConfigError(f"engine.shm_name: segment {self.shm_name} is in use by engine pid {pid} of "
                              f"journal {engine_journal(pid)}")
        deadline = time.monotonic() + PREDECESSOR_EXIT_S
        while pid > 0 and is_engine_of(pid, self.shm_name.encode()):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)  # it ignored the parent-death SIGTERM: its journal is safe
                deadline = time.monotonic() + PREDECESSOR_EXIT_S
            await asyncio.sleep(0.01)
        return ring

    async def _spawn(self) -> None:
        stderr_file = open(self.journal_dir / LOG_NAME, "ab")  # noqa: SIM115 - handed to the child
        log_start = stderr_file.tell()
        # The pid in the environment lets the engine's parent-death check cover the fork-to-exec gap.
        env = dict(os.environ, UDPROUTER_ENGINE_PARENT_PID=str(os.getpid()))
        fds = (self.ring.inbound_eventfd, self.ring.outbound_eventfd) + ((self.lock.fd,) if self.lock else ())
        try:
            # A session of its own: a terminal's SIGINT goes to the router alone, which drains, then stops it.
            self.proc = await asyncio.create_subprocess_exec(
                *self.command_line(), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=stderr_file, pass_fds=fds, env=env, start_new_session=True)
        except OSError as exc:
            raise EngineError(f"cannot start engine {self.binary}: {exc.strerror}") from exc
        finally:
            stderr_file.close()
        if self.lock is not None:
            self.lock.note_engine(self.proc.pid)
        next_seq = await self._await_ready(self.proc)
        log.info("engine_spawned", pid=self.proc.pid, next_command_seq=next_seq, shm=self.shm_name,
                 reattached=self.reattached)
        self._surface_lost_events(log_start)
        self.order_entry.engine_ready(max(next_seq, self.ring.next_command_seq))
        self._stdout_task = asyncio.get_running_loop().create_task(self._discard_stdout(self.proc))

    async def _await_ready(self, proc: asyncio.subprocess.Process) -> int:
        timeout = self.config.engine.ready_timeout_s
        try:
            async with asyncio.timeout(timeout):
                while True:
                    line = await proc.stdout.readline()
                    if not line:
                        await proc.wait()
                        raise EngineError(f"engine exited with status {proc.returncode} before READY: "
                                          f"{self.stderr_tail()}")
                    text = line.decode(errors="replace").strip()
                    if text.startswith("READY"):
                        break
                while self.ring.engine_state != ENGINE_READY:  # the header is set before the line
                    await asyncio.sleep(0.001)
        except TimeoutError:
            await self._kill(proc)
            raise EngineError(f"engine not READY within {timeout} s: {self.stderr_tail()}") from None
        fields = dict(part.split("=", 1) for part in text.split()[1:] if "=" in part)
        return int(fields.get("next_command_seq", "1"))

    def _surface_lost_events(self, offset: int) -> None:
        """Repeats in the router's log the engine's line (written during its recovery, before READY)
        saying events of some commands cannot be published again: those reports are lost."""
        try:
            with open(self.journal_dir / LOG_NAME, "rb") as f:
                f.seek(offset)
                text = f.read(LOST_EVENTS_SCAN_BYTES).decode(errors="replace")
        except OSError:
            return
        for line in text.splitlines():
            if LOST_EVENTS_MARK in line:
                log.warning("engine_events_lost", line=line.strip())

    async def _discard_stdout(self, proc: asyncio.subprocess.Process) -> None:
        while await proc.stdout.readline():
            pass

    def stderr_tail(self, limit: int = 2000) -> str:
        try:
            data = (self.journal_dir / LOG_NAME).read_bytes()[-limit:]
        except OSError:
            return "(no engine log)"
        return data.decode(errors="replace").strip() or "(engine wrote nothing to stderr)"

    async def _watch(self) -> None:
        """Restarts the engine whenever it exits while the router runs, with exponential backoff."""
        backoff = self.config.engine.restart_backoff_s
        while not self._stopping:
            await self.proc.wait()
            if self._stopping:
                return
            log.error("engine_exited", pid=self.proc.pid, **exit_fields(self.proc.returncode),
                      last_stderr=self.stderr_tail(400).splitlines()[-1])
            self.restarts += 1
            # The dead engine's events are all in the ring now: route them before a new one re-emits.
            self.order_entry.drain()
            self.order_entry.engine_restarting()
            if self.on_restart is not None:
                self.on_restart()
            for attempt in range(self.config.engine.max_restarts):
                await asyncio.sleep(min(backoff * 2**attempt, 5.0))
                if self._stopping:
                    return
                try:
                    await self._spawn()
                    log.info("engine_restarted", pid=self.proc.pid, restarts=self.restarts,
                             attempt=attempt + 1)
                    break
                except EngineError as exc:
                    log.error("engine_restart_failed", attempt=attempt + 1, error=str(exc)[:300])
                    continue
            else:
                self.order_entry.available = False
                log.error("engine_given_up", restarts=self.restarts, attempts=self.config.engine.max_restarts)
                return

    async def stop(self, keep_segment: bool = False) -> None:
        """SIGTERM, a bounded wait, then SIGKILL; removes the segment unless keep_segment (it still
        holds commands the engine never took: the next router on this journal reattaches it)."""
        self._stopping = True
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning("engine_stop_timeout", pid=self.proc.pid, timeout_s=STOP_TIMEOUT_S)
                await self._kill(self.proc)
            log.info("engine_stopped", pid=self.proc.pid, **exit_fields(self.proc.returncode))
        if self._stdout_task is not None:
            self._stdout_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stdout_task
        self._release_ring(unlink=not keep_segment)

    @staticmethod
    async def _kill(proc: asyncio.subprocess.Process) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()

    def _release_ring(self, unlink: bool = True) -> None:
        if self.ring is not None:
            self.order_entry.ring = None
            if unlink:
                self.ring.unlink()
            self.ring.close()
            self.ring = None


def default_shm_name(journal_dir: Path) -> str:
    """The segment of the router serving this journal directory: the same name after a restart."""
    digest = hashlib.sha256(str(Path(journal_dir).resolve()).encode()).hexdigest()
    return f"udprouter-{digest[:16]}"
