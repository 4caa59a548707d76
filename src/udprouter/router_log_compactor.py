"""RouterLogCompactor: rewrites router.log as one image without stalling the event loop.

The image is built from the log file itself, not from the live sessions: copying every session's
retransmission buffer on the loop (a list of 65536 references per session) already costs 1-2 ms
each, and the fold of the file up to a record boundary is by construction the state recovery would
rebuild from it. The worker thread reads the file, folds the valid records it finds into a
RecoveredState, writes that state as an image (ImageRecord + kept frames in chunks) to
``router.log.tmp``, re-emits a trailing write-ahead record the fold left unconfirmed (recovery must
still decide it against the ring), then copies the raw records the loop appended meanwhile in a few
rounds and syncs. Only the remainder appended after its last round is copied on the loop (install),
before the rename: a crash at any step leaves either the old complete log or the new complete one.
The worker holds the GIL in slices of about SLICE_S and then sleeps briefly, so the loop thread
waits at most one slice whenever it wants the interpreter back.
"""

from __future__ import annotations

import contextlib
import enum
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import msgspec

from udprouter import router_log as rl

SLICE_S = 100e-6  # the longest the worker holds the interpreter before it lets the loop in
YIELD_S = 20e-6
TAIL_ROUNDS = 4  # worker rounds copying what the loop appended meanwhile ...
TAIL_SMALL = 64 << 10  # ... until a round found less than this
WORKER_CHUNK_FRAMES = 512  # small records: encoding one holds the interpreter ~50 us


class CompactionStep(enum.IntEnum):
    """What RouterLogCompactor.poll did (for the caller's counters and tests)."""

    IDLE = 0
    STARTED = 1
    IN_FLIGHT = 2
    INSTALLED = 3
    FAILED = 4


class BuiltImage(msgspec.Struct, frozen=True):
    consumed: int  # bytes of the old log the tmp file represents (a record boundary)
    image_bytes: int  # the image part of the tmp file (what the next compaction will cost)
    size: int  # the tmp file's size (image + copied tail)
    done_through: int  # done_through of the image (the newest record in it when no tail follows)


class _Slicer:
    """Lets the loop thread take the interpreter about every SLICE_S of worker time."""

    def __init__(self) -> None:
        self.mark = time.perf_counter()

    def tick(self) -> None:
        now = time.perf_counter()
        if now - self.mark >= SLICE_S:
            time.sleep(YIELD_S)  # sleep(0) may re-take the GIL before the waiting loop wakes
            self.mark = time.perf_counter()


def valid_length(data: bytes | memoryview) -> int:
    """Length of the whole records (length + crc checked) at the start of data; no decoding."""
    return max((end for _, end in rl.scan_records(data, None)), default=0)


def fold(data: bytes, capacity: int, slicer: _Slicer) -> tuple[rl.RecoveredState, int]:
    """The state the valid records at the start of data replay to, and the bytes they cover."""
    state = rl.RecoveredState(capacity)
    offset = 0
    for record, end in rl.scan_records(data, msgspec.msgpack.Decoder(rl.Record)):
        state.apply(record)
        offset = end
        slicer.tick()
    return state, offset


def _write_records(fd: int, records, slicer: _Slicer) -> int:
    size = 0
    for record in records:
        size += rl.write_all(fd, rl.frame_record(record))
        slicer.tick()
    return size


def _copy_range(src: int, dst: int, start: int, end: int) -> int:
    """Copies the whole records in src[start:end) to dst; returns where the copy stopped."""
    if end <= start:
        return start
    data = os.pread(src, end - start, start)
    valid = valid_length(data)
    if valid:
        rl.write_all(dst, data[:valid])
    return start + valid


def build_image(path: Path, tmp: Path, capacity: int, sync: bool) -> BuiltImage:
    """Worker: folds the log at path into an image written to tmp, plus the tail appended meanwhile."""
    slicer = _Slicer()
    src = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    dst = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        state, consumed = fold(os.pread(src, os.fstat(src).st_size, 0), capacity, slicer)
        image = rl.image_records(state.command_through, state.done_through, state.partial,
                                 _sessions_of(state), WORKER_CHUNK_FRAMES)
        image_bytes = _write_records(dst, image, slicer)
        if state.unconfirmed is not None:  # recovery still decides it against the ring
            image_bytes += rl.write_all(dst, rl.frame_record(state.unconfirmed))
        if sync:
            os.fdatasync(dst)  # the big sync here, so the one after the tail rounds is short
        for _ in range(TAIL_ROUNDS):
            copied = _copy_range(src, dst, consumed, os.fstat(src).st_size)
            small, consumed = copied - consumed < TAIL_SMALL, copied
            if small:
                break
        if sync:
            os.fdatasync(dst)
        size = os.fstat(dst).st_size
    finally:
        os.close(src)
        os.close(dst)
    return BuiltImage(consumed, image_bytes, size, state.done_through)


def _sessions_of(state: rl.RecoveredState):
    for sid in sorted(state.sessions):
        s = state.sessions[sid]
        yield sid, s.next_inbound, s.cl_ord_hwm, s.open_orders, s.next_outbound, s.kept


class RouterLogCompactor:
    """At most one compaction in flight. The loop calls start() when the log passed its threshold and
    poll() at every commit; install() (on the loop) finishes a built image. A test may set step_hook:
    called with "built", "tail_copied" and "renamed" (a crash at that moment leaves the files so)."""

    def __init__(self, path: Path, capacity: int, durability: str) -> None:
        self.path = path
        self.tmp = path.with_name(rl.FILE_NAME + ".tmp")
        self.capacity = capacity
        self.sync = durability != "none"
        self.fsync = durability == "fsync"
        self._executor: ThreadPoolExecutor | None = None
        self._future: Future | None = None
        self.step_hook: Callable[[str], None] | None = None
        self.failures = 0
        self.last_error: BaseException | None = None

    @property
    def in_flight(self) -> bool:
        return self._future is not None

    def start(self) -> None:
        """Hands the rewrite of the records already written to the file to the worker thread."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="router-log-compaction")
        self._future = self._executor.submit(build_image, self.path, self.tmp, self.capacity, self.sync)

    def ready(self) -> bool:
        return self._future is not None and self._future.done()

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until the worker is done (tests, close); False on timeout."""
        if self._future is None:
            return True
        try:
            self._future.exception(timeout)
        except TimeoutError:
            return False
        return True

    def take(self) -> BuiltImage | None:
        """The finished worker's image (None: it failed; the old log stays, the tmp file is removed)."""
        future, self._future = self._future, None
        error = future.exception()
        if error is None:
            return future.result()
        self.failures += 1
        self.last_error = error
        with contextlib.suppress(OSError):
            self.tmp.unlink(missing_ok=True)
        return None

    def install(self, built: BuiltImage, size: int) -> int:
        """On the loop: appends old log[built.consumed:size) to the tmp file, syncs per durability,
        renames it over the log. Returns the new file's size."""
        self._step("built")
        new_size = built.size
        if size > built.consumed:
            src = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            dst = os.open(self.tmp, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
            try:
                new_size += rl.write_all(dst, os.pread(src, size - built.consumed, built.consumed))
                if self.fsync:
                    os.fdatasync(dst)
            finally:
                os.close(src)
                os.close(dst)
        self._step("tail_copied")
        os.replace(self.tmp, self.path)
        if self.fsync:
            rl.sync_directory(self.path.parent)
        self._step("renamed")
        return new_size

    def close_later(self, fd: int) -> None:
        """Closes fd on the worker thread (closing the replaced log frees its pages: ~10 ms for 45 MB)."""
        self._executor.submit(os.close, fd)

    def discard(self) -> None:
        """Close: waits for a running worker and drops its work (the old log is complete)."""
        if self._future is not None:
            self.wait()
            self._future = None
            self.tmp.unlink(missing_ok=True)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _step(self, name: str) -> None:
        if self.step_hook is not None:
            self.step_hook(name)
