"""JournalLock: one router, and its engine, per journal directory.

acquire() first checks the directory named by journal.dir: a missing one is created when its parent
exists (a mistyped parent path fails instead of starting an empty journal somewhere else; only the
built-in default, var/journal, is created with its parent); a path
that is a file, a missing parent or a directory the router cannot write is a ConfigError naming
journal.dir. It then takes flock(LOCK_EX | LOCK_NB) on <dir>/LOCK and writes the holder's pid there
(and, once spawned, its engine's). The lock belongs to the open file, which the engine inherits
(pass_fds, --lock-fd; engine/include/udprouter/engine/journal_lock.h), so it is held while either
process lives: a router that died holds it through its
engine until that engine has exited (it gets SIGTERM when its parent dies).

A second router finds the lock held. If the recorded router is alive it refuses with one line
naming that pid. If the router is dead, the holder is its engine: the new router waits for it to
exit (bounded), kills it if it does not (its journal is safe: every journaled record is whole or
cut at recovery), and takes the lock, so a new engine never starts beside an old one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import time
from pathlib import Path

from udprouter.errors import ConfigError

LOCK_NAME = "LOCK"
PREDECESSOR_EXIT_S = 10.0  # a dead router's engine publishes for at most ~1 s after SIGTERM, then exits
POLL_S = 0.01


class JournalLock:
    def __init__(self, directory: Path, fd: int) -> None:
        self.directory = directory
        self.fd = fd  # inherited by the engine: the lock outlives the router while its engine runs
        self._router_pid = os.getpid()

    @classmethod
    def acquire(cls, directory: str | os.PathLike[str], wait_s: float = PREDECESSOR_EXIT_S, *,
                create_parents: bool = False) -> JournalLock:
        path = Path(directory)
        ensure_directory(path, create_parents)
        try:
            fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise ConfigError(f"journal.dir: cannot open {path / LOCK_NAME}: {exc.strerror}") from None
        try:
            _lock_after_predecessor(fd, path, wait_s)
        except BaseException:
            os.close(fd)
            raise
        lock = cls(path, fd)
        lock._write(None)
        return lock

    def note_engine(self, engine_pid: int) -> None:
        """Records the engine's pid beside the router's (what a successor waits for)."""
        self._write(engine_pid)

    def release(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)  # the engine has exited by now: this was the last reference
            self.fd = -1

    def _write(self, engine_pid: int | None) -> None:
        text = f"udprouter pid {self._router_pid}\n"
        if engine_pid:
            text += f"engine pid {engine_pid}\n"
        with contextlib.suppress(OSError):  # the pids are for people and successors; the flock decides
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, text.encode(), 0)


def ensure_directory(path: Path, create_parents: bool = False) -> None:
    """journal.dir exists (created if only its last component is missing, or with its parents if
    create_parents), is a directory, and can be written."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"journal.dir: {path} is not a directory")
    if not path.exists():
        parent = path.absolute().parent
        if not parent.is_dir() and not create_parents:
            raise ConfigError(f"journal.dir: {path} does not exist and neither does its parent {parent}")
        try:
            path.mkdir(parents=create_parents)
        except FileExistsError:
            pass
        except OSError as exc:
            raise ConfigError(f"journal.dir: cannot create {path}: {exc.strerror}") from None
    probe = path / f".write-test-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:  # access() says yes to root even on a read-only mount: try it
        raise ConfigError(f"journal.dir: {path} is not writable: {exc.strerror}") from None
    os.close(fd)
    os.unlink(probe)


def holders(fd: int) -> tuple[int, int]:
    """(router pid, engine pid) recorded in the lock file; 0 where none is recorded."""
    try:
        text = os.pread(fd, 256, 0).decode(errors="replace")
    except OSError:
        return 0, 0
    pids = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "pid" and parts[2].isdigit():
            pids[parts[0]] = int(parts[2])
    return pids.get("udprouter", 0), pids.get("engine", 0)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _lock_after_predecessor(fd: int, directory: Path, wait_s: float) -> None:
    if _try_lock(fd):
        return
    router_pid, engine_pid = holders(fd)
    if router_pid and is_process_of(router_pid, b"udprouter"):
        raise ConfigError(f"journal.dir: {directory} is in use by udprouter pid {router_pid}")
    # The router that held it is gone; its engine still does. It was sent SIGTERM when its parent
    # died; give it the time to finish, then kill it.
    deadline = time.monotonic() + wait_s
    killed = False
    while not _try_lock(fd):
        if time.monotonic() > deadline:
            if killed or not engine_pid or not is_engine_of(engine_pid, str(directory.resolve()).encode()):
                who = f"engine pid {engine_pid}" if engine_pid else "an unknown process"
                raise ConfigError(f"journal.dir: {directory} is still locked by {who} of the exited "
                                  f"udprouter pid {router_pid}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(engine_pid, signal.SIGKILL)
            killed = True
            deadline = time.monotonic() + wait_s
        time.sleep(POLL_S)


def is_process_of(pid: int, name: bytes) -> bool:
    """pid is alive, not a zombie, and its command line mentions name (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return False
    return ") Z" not in stat and name in cmdline


def is_engine_of(pid: int, marker: bytes) -> bool:
    """pid is a live udprouter-engine whose arguments include marker (its segment or journal)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    engine = b"udprouter-engine"
    return is_process_of(pid, engine) and args[0].endswith(engine) and marker in args


def engine_journal(pid: int) -> Path | None:
    """The journal directory a running engine serves (its --journal, resolved from its cwd)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None
    if "--journal" not in args[:-1]:
        return None
    return (Path(cwd) / args[args.index("--journal") + 1]).resolve()
