"""RouterLogCompactor: rewrites router.log as one image without stalling the event loop.

The image is built from the log file itself, not from the live sessions: copying every session's
retransmission buffer on the loop (a list of 65536 references per session) already costs 1-2 ms
each, and the fold of the file up to a record boundary is by construction the state recovery would
rebuild from it. The worker thread reads the file, folds the valid records it finds into a
RecoveredState, writes that state as an image (ImageRecord + kept frames in chunk records) to
``router.log.tmp``, re-emits a trailing write-ahead record the fold left unconfirmed (recovery must
still decide it against the ring), then copies the raw records the loop appended meanwhile in a few
rounds and syncs. Only the remainder appended after its last round is copied on the loop (install),
before the rename: a crash at any step leaves either the old complete log or the new complete one.
The worker holds the GIL in slices of about SLICE_S and then sleeps briefly, so the loop thread
waits at most one slice whenever it wants the interpreter back.

Incremental: the CPU of a compaction follows the bytes appended since the last one, not the image.
  * The fold keeps frames undecoded (RawState: msgpack segments per session, see router_log), so a
    frame costs no Python object, and most appended frames are evicted from the buffer unseen.
  * The worker's fold is carried to the next compaction (Carried: the state and the offset just
    after the image in the installed file), which folds only the records after it. It is handed to
    the worker at start and back at install; a failed compaction drops it (the worker may have
    half updated it) and so do close and open: the next compaction then folds the whole file.
    Checked against the file's inode, so it never applies to a file it was not made for.
  * Image chunks are records whose bytes depend only on their frames (image_chunks), so a chunk
    still whole from the last image is copied as it is from the installed file (copy_file_range:
    in the kernel, without the GIL): new frames are encoded and CRC'd once. The carried state holds
    where those chunks are, not their bytes.
bench/bench_compaction.py measures it against the previous full decoded fold in the same run.
"""

from __future__ import annotations

import contextlib
import ctypes
import enum
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import NamedTuple

import msgspec

from udprouter import router_log as rl

PR_SET_PDEATHSIG = 1  # prctl(2)
SLICE_S = 100e-6  # the longest the worker holds the interpreter before it lets the loop in
YIELD_S = 20e-6
TAIL_ROUNDS = 4  # worker rounds copying what the loop appended meanwhile ...
TAIL_SMALL = 64 << 10  # ... until a round found less than this
CHUNK_BYTES = 64 << 10  # image chunk records of kept frames: building one holds the interpreter ~20 us


class CompactionStep(enum.IntEnum):
    """What RouterLog.compaction_step did (for the caller's counters and tests)."""

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
    carry: Carried | None = None  # the fold to resume once this file is installed


class Carried(NamedTuple):
    """A fold of a log file up to offset: the next compaction folds only the records after it.
    Valid only for the file it was made for (inode: the tmp file renamed over the log)."""

    state: rl.RawState
    offset: int
    inode: tuple[int, int]  # (st_dev, st_ino)


_slicing = True  # False in a compaction process: no event loop shares its interpreter


class _Slicer:
    """Lets the loop thread take the interpreter about every SLICE_S of worker time."""

    def __init__(self) -> None:
        self.mark = time.perf_counter()

    def tick(self) -> None:
        now = time.perf_counter()
        if _slicing and now - self.mark >= SLICE_S:
            time.sleep(YIELD_S)  # sleep(0) may re-take the GIL before the waiting loop wakes
            self.mark = time.perf_counter()


def valid_length(data: bytes | memoryview) -> int:
    """Length of the whole records (length + crc checked) at the start of data; no decoding."""
    return max((end for _, end in rl.scan_records(data, None)), default=0)


def fold(data: bytes, state: rl.RawState, slicer: _Slicer) -> int:
    """Folds the valid records at the start of data into state; returns the bytes they cover."""
    offset = 0
    for record, end in rl.scan_records(data, rl.raw_decoder):
        state.apply(record)
        offset = end
        slicer.tick()
    return offset


def image_chunks(state: rl.RawState, src: int, chunk_bytes: int = CHUNK_BYTES):
    """state as framed records: the ImageRecord of every session's numbers, each session's kept
    frames in chunk records of about chunk_bytes, a record closing the chunks. A chunk record is a
    before-offer PassRecord of frames alone (numbers 0): the next record applies it without touching
    the state's numbers, and its bytes depend only on (session, first seq, frames), so a chunk of the
    previous image still whole is copied as it is from src, the installed file (yielded as its
    (offset, length) there: no encoding, no CRC, not held in memory). The closing record repeats the
    numbers, so no chunk is left trailing for recovery to decide. Leaves each session's kept deque
    holding where its chunks are in the file being written (the carried state for the next time)."""
    numbers = [rl.SessionImage(sid, s.next_inbound, s.cl_ord_hwm, s.open_orders, s.next_outbound)
               for sid, s in sorted(state.sessions.items())]
    head = rl.frame_record(rl.ImageRecord(state.command_through, state.done_through, *state.partial, numbers))
    yield head
    pos = len(head)
    for sid in sorted(state.sessions):
        s = state.sessions[sid]
        _trim(s, src)
        first = s.next_outbound - s.count
        segments, s.kept = s.kept, deque()
        while segments:
            if segments[0][2] is not None:  # a chunk of the last image, still whole
                n, _, (offset, length, size) = segments.popleft()
                yield offset, length
            else:  # frames folded from the log since: a new chunk
                n, parts, size = 0, [], 0
                while segments and segments[0][2] is None and (not parts or size < chunk_bytes):
                    k, items, _ = segments.popleft()
                    n, size = n + k, size + len(items)
                    parts.append(items)
                frames = msgspec.Raw(b"".join((rl.array_header(n), *parts)))
                payload = rl.encode_record(rl.RawPassRecord(True, 0, 0, 0, 0, [], [(sid, first, frames)]))
                record = rl.record_header(payload) + payload
                length = len(record)
                yield record
            s.kept.append((n, None, (pos, length, size)))  # the frames end the record
            pos += length
            first += n
    closing = rl.PassRecord(False, state.command_through, state.done_through, *state.partial, [], [])
    yield rl.frame_record(closing)


def _trim(s: rl.RawSession, src: int) -> None:
    """Cuts the oldest segment to exactly the last `capacity` frames (decodes that one only)."""
    excess = s.count - s.capacity
    if excess > 0:
        n, items, where = s.kept.popleft()
        if where is not None:  # in the installed file
            offset, length, size = where
            items = os.pread(src, size, offset + length - size)
        frames = rl.frames_decoder.decode(rl.array_header(n) + items)[excess:]
        if frames:
            s.kept.appendleft((*rl.split_array(rl.encode_record(frames)), None))
        s.count -= excess


def _write_records(dst: int, records, slicer: _Slicer, src: int) -> int:
    """Writes framed records to dst; an (offset, length) is copied from src in the kernel."""
    size = 0
    for record in records:
        if isinstance(record, tuple):
            offset, length = record
            size += _copy_file_range(src, dst, offset, length)
        else:
            size += rl.write_all(dst, record)
        slicer.tick()
    return size


def _copy_file_range(src: int, dst: int, offset: int, length: int) -> int:
    end = offset + length
    while offset < end:
        try:
            copied = os.copy_file_range(src, dst, end - offset, offset)
        except (OSError, AttributeError):  # not supported here (filesystem, not Linux): user space
            copied = os.write(dst, os.pread(src, min(end - offset, 1 << 20), offset))
        if copied == 0:
            raise OSError(f"router log ended at {offset} inside a chunk of the last image")
        offset += copied
    return length


def _copy_range(src: int, dst: int, start: int, end: int) -> int:
    """Copies the whole records in src[start:end) to dst; returns where the copy stopped."""
    if end <= start:
        return start
    data = os.pread(src, end - start, start)
    valid = valid_length(data)
    if valid:
        rl.write_all(dst, data[:valid])
    return start + valid


def build_image(path: Path, tmp: Path, capacity: int, sync: bool,
                carried: Carried | None = None) -> BuiltImage:
    """Worker: folds the log at path into an image written to tmp, plus the tail appended meanwhile.
    With carried (the fold of this very file up to carried.offset) only the records after it are
    folded; carried.state is updated in place, so the caller must not use it again (see take)."""
    slicer = _Slicer()
    src = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    dst = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        stat = os.fstat(src)
        if carried is None or carried.inode != (stat.st_dev, stat.st_ino) or carried.offset > stat.st_size:
            state, start = rl.RawState(capacity), 0  # first compaction of this file: fold all of it
        else:
            state, start = carried.state, carried.offset
        consumed = start + fold(os.pread(src, stat.st_size - start, start), state, slicer)
        image_bytes = _write_records(dst, image_chunks(state, src, CHUNK_BYTES), slicer, src)
        if state.unconfirmed is not None:  # recovery still decides it against the ring
            framed = rl.frame_record(state.unconfirmed)
            image_bytes += rl.write_all(dst, framed)
            # Its own copy: a Raw from the fold would pin the whole read buffer until next time.
            state.unconfirmed = rl.raw_decoder.decode(memoryview(framed)[rl.RECORD_HEADER.size:])
        # The fold resumes after the image in the new file, with the same unconfirmed record.
        dst_stat = os.fstat(dst)
        carry = Carried(state, image_bytes, (dst_stat.st_dev, dst_stat.st_ino))
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
    return BuiltImage(consumed, image_bytes, size, state.done_through, carry)


# The compaction process's nice value: it yields the cores to the router and the engine. At the
# same priority the scheduler let it run 4 ms slices while a woken engine waited behind it.
COMPACTION_NICE = 19


def _compaction_process_setup(router_pid: int) -> None:
    """Compaction process initializer: background priority, and exit when the router does, even by
    SIGKILL (its idle worker would otherwise wait for work for ever); PR_SET_PDEATHSIG is Linux's,
    elsewhere a no-op."""
    os.setpriority(os.PRIO_PROCESS, 0, COMPACTION_NICE)
    with contextlib.suppress(AttributeError, OSError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != router_pid:  # it died before the prctl
        os._exit(0)


def _new_process_pool() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_compaction_process_setup, initargs=(os.getpid(),))


# In a compaction process: the fold of the image it built last (valid once the router installed it).
_process_carry: Carried | None = None


def build_image_in_process(path: Path, tmp: Path, capacity: int, sync: bool,
                           resume: bool) -> tuple[BuiltImage, bool]:
    """build_image in the compaction process, which keeps the carried fold across compactions
    (resume: the router installed the image built last). The image goes back without its fold,
    with whether there is one to resume next time."""
    global _process_carry, _slicing
    _slicing = False
    carried, _process_carry = (_process_carry if resume else None), None
    built = build_image(path, tmp, capacity, sync, carried)
    _process_carry = built.carry
    return msgspec.structs.replace(built, carry=None), built.carry is not None


class RouterLogCompactor:
    """At most one compaction in flight. At every commit the loop (RouterLog.compaction_step) calls
    start() once the log passed its threshold, then ready(), take() and install() (on the loop) to
    finish a built image. A test may set step_hook:
    called with "built", "tail_copied" and "renamed" (a crash at that moment leaves the files so)."""

    def __init__(self, path: Path, capacity: int, durability: str, in_process: bool = False) -> None:
        self.path = path
        # in_process: the worker is a process of its own (spawned at the first compaction and kept),
        # so it never holds the event loop's interpreter lock. A worker thread does, in slices, and
        # when the scheduler preempts it in the middle of one (two vCPUs, router, engine and clients
        # all busy) the loop waits for it: 10-46 ms loop stalls measured at 1 order/datagram.
        self.in_process = in_process
        self._closer: ThreadPoolExecutor | None = None  # closes replaced logs (in_process)
        self._resumable = False  # in_process: the worker holds the fold of the installed image
        self._built_resumable = False
        self.tmp = path.with_name(rl.FILE_NAME + ".tmp")
        self.capacity = capacity
        self.sync = durability != "none"
        self.fsync = durability == "fsync"
        self._executor: ThreadPoolExecutor | None = None
        self._future: Future | None = None
        self.step_hook: Callable[[str], None] | None = None
        self.failures = 0
        self.last_error: BaseException | None = None
        # The fold behind the installed file, handed to the next worker; None: fold the whole file
        # (first compaction, after a failed one, after close) - its records are the truth.
        self.carried: Carried | None = None
        self.incremental = 0  # compactions started with a carried fold (tests, benchmarks)

    @property
    def in_flight(self) -> bool:
        return self._future is not None

    def prepare(self) -> None:
        """Starts the worker process now (at open), not at the first compaction: spawning it from
        the event loop took ~15 ms of the loop."""
        if self.in_process and self._executor is None:
            self._executor = _new_process_pool()
            self._executor.submit(os.getpid)

    def start(self) -> None:
        """Hands the rewrite of the records already written to the file to the worker."""
        if self.in_process:
            if self._executor is None:
                self._executor = _new_process_pool()
            resume, self._resumable = self._resumable, False
            self.incremental += resume
            args = (build_image_in_process, self.path, self.tmp, self.capacity, self.sync, resume)
            try:
                self._future = self._executor.submit(*args)
            except BrokenProcessPool:  # the worker died while idle: a new one folds the whole log
                self._executor.shutdown(wait=False)
                self._executor = _new_process_pool()
                self._future = self._executor.submit(*args[:-1], False)
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="router-log-compaction")
        carried, self.carried = self.carried, None  # the worker owns it now: it folds into it
        self.incremental += carried is not None
        self._future = self._executor.submit(build_image, self.path, self.tmp, self.capacity, self.sync,
                                             carried)

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
        """The finished worker's image (None: it failed; the old log stays, the tmp file is removed,
        the carried fold, possibly half updated, is gone: the next compaction folds the whole log)."""
        future, self._future = self._future, None
        error = future.exception()
        if error is None:
            if self.in_process:
                built, self._built_resumable = future.result()
                return built
            return future.result()
        self.failures += 1
        self.last_error = error
        if self.in_process and self._executor is not None:  # a dead worker process breaks its pool
            self._executor.shutdown(wait=False)
            self._executor = None
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
        self.carried = built.carry  # only now is the built file the log it describes
        self._resumable = self.in_process and self._built_resumable
        return new_size

    def close_later(self, fd: int) -> None:
        """Closes fd on the worker thread (closing the replaced log frees its pages: ~10 ms for 45 MB)."""
        if self.in_process:
            if self._closer is None:
                self._closer = ThreadPoolExecutor(1, thread_name_prefix="router-log-close")
            self._closer.submit(os.close, fd)
            return
        self._executor.submit(os.close, fd)

    def discard(self) -> None:
        """Close: waits for a running worker and drops its work (the old log is complete)."""
        self.carried = None
        if self._future is not None:
            self.wait()
            self._future = None
            self.tmp.unlink(missing_ok=True)
        self._resumable = False
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._closer is not None:
            self._closer.shutdown(wait=True)
            self._closer = None

    def _step(self, name: str) -> None:
        if self.step_hook is not None:
            self.step_hook(name)
