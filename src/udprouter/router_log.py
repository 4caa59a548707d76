"""RouterLog: the router's durable session state, so a router restarted after SIGKILL resumes every
session where the clients saw it (server sequence numbers, retransmission buffer, next expected
client number, ClOrdID high-water mark) instead of from memory.

An append-only file `<journal dir>/router.log` of records ``u32 length | u32 crc32 | msgpack``
(little-endian). Two moments of a loop pass write a PassRecord:
  * before commands go to the ring (``before_offer``): the inbound progress of every session that
    received application messages, and the last command_seq assigned. Written ahead, so a command
    the engine may hold is never re-accepted from a client resend; a trailing record whose
    commands never reached the ring is rolled back on replay (restore decides, it knows the ring).
  * before any reply leaves (``commit``): every frame sequenced since the last commit (server
    sequence numbers and bytes, per session) plus the event routing position (done_through and a
    partially routed command), so the events a crash loses are exactly those the engine re-emits.
Durability: ``none`` buffers in memory (written when 64 KiB accumulate and on close: only a clean
stop is recoverable); ``os`` writes each record to the page cache (survives a process crash);
``fsync`` also fdatasyncs at commit: one sync per commit covers every session's frames and the
inbound records before it (group commit), and nothing is sent before it returns.
Bounded: the retransmission buffer is a per-session ring of the last N frames, so once the bytes
appended since the last image pass both ``compact_bytes`` and that image's own size the file is
rewritten as one image of the live state: it never holds much more than two images or an image plus
one threshold plus what a compaction in flight lets accumulate. Measured against the image, not the
file: a live image above the threshold (many sessions' full buffers) made every commit rewrite it,
about 20 MB per loop pass, and the router answered a few thousand orders/s. At start the image is
written on the spot (live sessions, temporary file + rename); while running the rewrite is done by
RouterLogCompactor off the loop (a 25 MB image took ~40 ms of the loop when written there): the
loop only starts it and, at a later commit, installs it (copies the few records appended since the
worker's last round, renames). Compaction stalls on the loop are kept in ``compaction_loop_ns``.
Two image layouts replay alike: the opening one (image_records) and the worker's (the compactor's
image_chunks: each chunk of kept frames a before-offer record of frames alone, then a closing
record), whose chunks it copies byte for byte into the next image; the worker folds with RawState
(frames undecoded).
A torn or corrupt tail (crash mid-append) is cut at the last valid record, like the engine journal.
With ``position_header`` set (the ring segment), every open and every commit whose written records
advance done_through store it in the header's router_logged_through: the engine keeps the snapshot a
recovery from that position starts at (durability none publishes nothing: its log is not durable).
"""

from __future__ import annotations

import itertools
import os
import struct
import time
import zlib
from collections import deque
from pathlib import Path

import msgspec

# The module, not its names: either module may be imported first (a compaction process imports the
# compactor first), and each uses the other only at run time.
from udprouter import router_log_compactor as compaction

FILE_NAME = "router.log"
RECORD_HEADER = struct.Struct("<II")  # payload length, crc32 of the payload
NONE_BUFFER_BYTES = 64 << 10
DEFAULT_COMPACT_BYTES = 16 << 20
IMAGE_CHUNK_FRAMES = 2048
LOOP_TIMINGS_KEPT = 64
MAX_RECORD_BYTES = 1 << 30


class PassRecord(msgspec.Struct, tag="P", array_like=True):
    before_offer: bool
    command_through: int  # highest command_seq assigned so far
    done_through: int  # highest command_seq whose events are all encoded into logged frames
    partial_seq: int  # a command some of whose events are encoded (0: none) ...
    partial_n: int  # ... and how many of them
    inbound: list[tuple[int, int, int, int]]  # (session_id, next_inbound, cl_ord_hwm, open_orders)
    sent: list[tuple[int, int, list[bytes]]]  # (session_id, first server seq, frames)


class SessionImage(msgspec.Struct, array_like=True):
    session_id: int
    next_inbound: int = 1
    cl_ord_hwm: int = 0
    open_orders: int = 0
    next_outbound: int = 1
    kept: list[bytes] = []  # the last frames sent, numbered next_outbound - len(kept) onwards


class ImageRecord(msgspec.Struct, tag="S", array_like=True):
    command_through: int
    done_through: int
    partial_seq: int
    partial_n: int
    sessions: list[SessionImage]


Record = PassRecord | ImageRecord
_encoder = msgspec.msgpack.Encoder()
encode_record = _encoder.encode
_decoder = msgspec.msgpack.Decoder(Record)


class RecoveredSession:
    """One session's state rebuilt from the log (kept frames bounded by the retransmit capacity)."""

    __slots__ = ("session_id", "next_inbound", "cl_ord_hwm", "open_orders", "next_outbound", "kept")

    def __init__(self, session_id: int, capacity: int) -> None:
        self.session_id = session_id
        self.next_inbound = 1
        self.cl_ord_hwm = 0
        self.open_orders = 0
        self.next_outbound = 1
        self.kept: deque[bytes] = deque(maxlen=capacity)

    def add_frames(self, first_seq: int, frames: list[bytes]) -> None:
        """Frames numbered first_seq onwards (the one place the fold touches the kept buffer)."""
        if first_seq != self.next_outbound:  # never written so; a gap would misnumber the buffer
            self.kept.clear()
        self.kept.extend(frames)
        self.next_outbound = first_seq + len(frames)


class RecoveredState:
    """Everything replay found; `unconfirmed` is a trailing before-offer record that restore applies
    only if its commands reached the ring (see confirm). The compactor folds with a subclass whose
    sessions keep their frames undecoded (session_type); the fold itself is this one."""

    session_type = RecoveredSession

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.command_through = 0
        self.done_through = 0
        self.partial = (0, 0)
        self.sessions: dict[int, RecoveredSession] = {}
        self.unconfirmed: PassRecord | None = None
        self.records = 0
        self.cut_bytes = 0  # torn or corrupt tail removed

    @property
    def empty(self) -> bool:
        return self.records == 0

    def session(self, session_id: int) -> RecoveredSession:
        found = self.sessions.get(session_id)
        if found is None:
            found = self.sessions[session_id] = self.session_type(session_id, self.capacity)
        return found

    def apply(self, record: Record) -> None:
        self.records += 1
        if self.unconfirmed is not None:  # a record follows it: its offer happened
            self._apply_pass(self.unconfirmed)
            self.unconfirmed = None
        if isinstance(record, ImageRecord):
            self._apply_image(record)
        elif record.before_offer:
            self.unconfirmed = record
        else:
            self._apply_pass(record)

    def confirm(self, published_through: int) -> bool:
        """Applies the trailing before-offer record if it assigned commands and all of them reached
        the ring or the engine journal (highest known command_seq = published_through); otherwise
        the clients resend its messages and they are evaluated afresh. Returns whether applied."""
        record, self.unconfirmed = self.unconfirmed, None
        if record is None:
            return False
        if self.command_through < record.command_through <= published_through:
            self._apply_pass(record)
            return True
        return False

    def _apply_pass(self, record: PassRecord) -> None:
        self.command_through = max(self.command_through, record.command_through)
        if not record.before_offer:
            self.done_through = record.done_through
            self.partial = (record.partial_seq, record.partial_n)
        for session_id, next_inbound, hwm, open_orders in record.inbound:
            s = self.session(session_id)
            s.next_inbound, s.cl_ord_hwm, s.open_orders = next_inbound, hwm, open_orders
        for session_id, first_seq, frames in record.sent:
            self.session(session_id).add_frames(first_seq, frames)

    def _apply_image(self, record: ImageRecord) -> None:
        self.command_through = record.command_through
        self.done_through = record.done_through
        self.partial = (record.partial_seq, record.partial_n)
        self.sessions = {}
        for image in record.sessions:
            s = self.session(image.session_id)
            s.next_inbound, s.cl_ord_hwm = image.next_inbound, image.cl_ord_hwm
            s.open_orders, s.next_outbound = image.open_orders, image.next_outbound
            s.add_frames(image.next_outbound - len(image.kept), image.kept)


# -- the compactor's fold: frames left undecoded ------------------------------------------------
# Decoding every frame into a bytes object (and evicting most of them again from a 65536-frame
# buffer) was most of a compaction's CPU. The worker decodes each record's frame list as
# msgspec.Raw and keeps, per session, the undecoded msgpack items of the segments still in the
# buffer; the image splices those bytes into its chunk records. The same msgpack, so recovery
# reads the image with its usual decoder. The fold itself is RecoveredState's (apply, unconfirmed):
# only the session's add_frames differs.


class RawPassRecord(msgspec.Struct, tag="P", array_like=True):
    """PassRecord with each session's frames left undecoded (encodes to the same bytes)."""

    before_offer: bool
    command_through: int
    done_through: int
    partial_seq: int
    partial_n: int
    inbound: list[tuple[int, int, int, int]]
    sent: list[tuple[int, int, msgspec.Raw]]


raw_decoder = msgspec.msgpack.Decoder(RawPassRecord | ImageRecord)
frames_decoder = msgspec.msgpack.Decoder(list[bytes])


def array_header(n: int) -> bytes:
    """The msgpack array header for n items (as msgspec writes it)."""
    if n < 16:
        return bytes((0x90 | n,))
    return b"\xdc" + n.to_bytes(2, "big") if n < 1 << 16 else b"\xdd" + n.to_bytes(4, "big")


def split_array(raw) -> tuple[int, memoryview]:
    """(item count, the items' bytes) of an encoded msgpack array."""
    view = memoryview(raw)
    first = view[0]
    if first & 0xF0 == 0x90:
        return first & 0x0F, view[1:]
    if first == 0xDC:
        return int.from_bytes(view[1:3], "big"), view[3:]
    if first == 0xDD:
        return int.from_bytes(view[1:5], "big"), view[5:]
    raise ValueError(f"not a msgpack array: first byte {first:#x}")


class RawSession(RecoveredSession):
    """A RecoveredSession whose kept buffer is a deque of segments (frame count, items, where): at
    least the last `capacity` frames, in whole segments (the compactor trims the oldest when it
    writes the image). Frames folded from the log: items is their msgpack, where None. Frames in a
    chunk record of the image the compactor wrote last: items None, where (offset, length, items
    length) of that record in the installed file (held there, not in memory)."""

    __slots__ = ("capacity", "count")

    def __init__(self, session_id: int, capacity: int) -> None:
        super().__init__(session_id, capacity)
        self.kept = deque()
        self.capacity, self.count = capacity, 0

    def add_frames(self, first_seq: int, frames) -> None:
        if not isinstance(frames, msgspec.Raw):  # an image's kept list (not written so today)
            frames = _encoder.encode(frames)
        n, items = split_array(frames)
        if first_seq != self.next_outbound:  # as RecoveredSession.add_frames
            self.kept.clear()
            self.count = 0
        if n:
            self.kept.append((n, items, None))
            self.count += n
        while self.kept and self.count - self.kept[0][0] >= self.capacity:  # wholly evicted
            self.count -= self.kept.popleft()[0]
        self.next_outbound = first_seq + n


class RawState(RecoveredState):
    session_type = RawSession


def scan_records(data: bytes | memoryview, decoder: msgspec.msgpack.Decoder | None = _decoder):
    """Yields (record, end offset) for each valid record from the start of data, stopping at the first
    torn or corrupt one (length, CRC, and msgpack when a decoder is given; record is None without one).
    The one reader of the record framing: recovery and the compactor both scan with it."""
    view = memoryview(data)
    offset, end = 0, len(view)
    while offset + RECORD_HEADER.size <= end:
        length, crc = RECORD_HEADER.unpack_from(view, offset)
        start = offset + RECORD_HEADER.size
        if length > MAX_RECORD_BYTES or start + length > end:
            return
        payload = view[start:start + length]
        if zlib.crc32(payload) != crc:
            return
        record = None
        if decoder is not None:
            try:
                record = decoder.decode(payload)
            except msgspec.DecodeError:
                return
        offset = start + length
        yield record, offset


def read_records(data: bytes) -> tuple[list[Record], int]:
    """The valid records from the start of data, and the byte length they cover (the rest is torn)."""
    records: list[Record] = []
    valid = 0
    for record, end in scan_records(data):
        records.append(record)
        valid = end
    return records, valid


def frame_record(record: Record) -> bytes:
    payload = _encoder.encode(record)
    return record_header(payload) + payload


def record_header(payload: bytes) -> bytes:
    return RECORD_HEADER.pack(len(payload), zlib.crc32(payload))


def replay(directory: str | os.PathLike[str], capacity: int) -> RecoveredState:
    """Reads <directory>/router.log (missing: an empty state) without changing it."""
    state = RecoveredState(capacity)
    path = Path(directory) / FILE_NAME
    if not path.exists():
        return state
    data = path.read_bytes()
    records, valid = read_records(data)
    for record in records:
        state.apply(record)
    state.cut_bytes = len(data) - valid
    return state


class RouterLog:
    """The writer. ServerSession calls inbound()/sent() (its journal hooks); the ring offer calls
    before_offer(); the router's outbox calls commit() before a pass's datagrams leave."""

    def __init__(self, directory: str | os.PathLike[str], durability: str, capacity: int,
                 compact_bytes: int = DEFAULT_COMPACT_BYTES, compaction_process: bool = False) -> None:
        if durability not in ("none", "os", "fsync"):
            raise ValueError(f"durability {durability!r}: expected none, os or fsync")
        self.directory = Path(directory)
        self.path = self.directory / FILE_NAME
        self.durability = durability
        self.capacity = capacity
        self.compact_bytes = compact_bytes
        self.sessions: dict[int, object] = {}  # session_id -> live ServerSession (for compaction)
        self.command_through = 0
        self.done_through = 0
        self.partial = (0, 0)
        self._inbound: dict[int, object] = {}
        self._sent: list[tuple[int, int, list[bytes]]] = []
        self._buffer = bytearray()
        self._fd: int | None = None
        self._size = 0
        self._image_size = 0  # bytes of the last image (what one compaction costs)
        # Told (router_logged_through = n) the done_through of the newest record written out, once per
        # commit that advances it: the engine keeps the snapshot a recovery from there needs.
        self.position_header = None
        self._written_done = 0  # done_through in the newest record handed to the file
        self._published_done = -1
        self.records = self.syncs = self.compactions = 0
        self.compactor = compaction.RouterLogCompactor(self.path, capacity, durability, compaction_process)
        self._retry_at = 0  # after a failed compaction: the size at which to try again
        self.compaction_loop_ns: deque[int] = deque(maxlen=LOOP_TIMINGS_KEPT)  # each start and install

    # -- lifecycle ------------------------------------------------------------------------------

    def open(self) -> None:
        """Starts this life's file with an image of the live state (attach and restore first)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._compact()
        if self.durability != "none":
            self._publish_position()
        self.compactor.prepare()

    def close(self) -> None:
        if self._fd is None:
            return
        self._write_out(sync=self.durability == "fsync")
        self.compactor.discard()  # the file is complete without it
        os.close(self._fd)
        self._fd = None

    def attach(self, session) -> None:
        session.journal = self
        self.sessions[session.session_id] = session

    def detach(self, session_id: int) -> None:
        """A released session (SessionLayer.sweep): the next compaction leaves it out."""
        self.sessions.pop(session_id, None)

    # -- hooks ----------------------------------------------------------------------------------

    def inbound(self, session) -> None:
        """A session's inbound expectation moved (its ClOrdID mark may follow in this pass)."""
        self._inbound[session.session_id] = session

    def sent(self, session_id: int, first_seq: int, frames: list[bytes]) -> None:
        """Frames just numbered first_seq.. for session_id (they leave only after commit)."""
        self._sent.append((session_id, first_seq, frames))

    def before_offer(self, command_through: int) -> None:
        """Before commands up to command_through go to the ring: the inbound progress that made them."""
        self._append(True, command_through)
        if self.durability != "none":
            self._write_out(sync=False)

    def commit(self, done_through: int, partial: tuple[int, int]) -> None:
        """Before replies leave: every frame sequenced since the last commit, and where event routing
        stands (call only when every routed event is in a flushed session)."""
        self.done_through, self.partial = done_through, partial
        if self._sent or self._inbound:
            self._append(False, self.command_through)
        if self.durability == "none":
            if len(self._buffer) >= NONE_BUFFER_BYTES:
                self._write_out(sync=False)
            return
        self._write_out(sync=self.durability == "fsync")
        self.compaction_step()
        self._publish_position()

    def compaction_step(self) -> compaction.CompactionStep:
        """At a commit (every record written out): installs a finished compaction, or starts one
        once the file passed its threshold. Timed: this is all a compaction costs the loop."""
        compactor = self.compactor
        if compactor.in_flight and not compactor.ready():
            return compaction.CompactionStep.IN_FLIGHT
        grown = self._size - self._image_size
        if not compactor.in_flight and (self._size < self._retry_at or
                                        grown < max(self.compact_bytes, self._image_size)):
            return compaction.CompactionStep.IDLE
        began = time.perf_counter_ns()
        if compactor.in_flight:
            step = self._install()
        else:
            compactor.start()
            step = compaction.CompactionStep.STARTED
        self.compaction_loop_ns.append(time.perf_counter_ns() - began)
        return step

    def wait_compaction(self, timeout: float | None = None) -> compaction.CompactionStep:
        """Blocks until a compaction in flight is done, then installs it (tests, benchmarks)."""
        if not self.compactor.in_flight or not self.compactor.wait(timeout):
            step = compaction.CompactionStep
            return step.IN_FLIGHT if self.compactor.in_flight else step.IDLE
        return self.compaction_step()

    @property
    def dirty(self) -> bool:
        return bool(self._sent or self._inbound or self._buffer)

    # -- internals ------------------------------------------------------------------------------

    def _publish_position(self) -> None:
        """After a commit wrote out (and, with fsync, synced) its records: their done_through is
        durable, so the engine may drop snapshots below it. Not done_through itself: a pass that
        sent no frame writes no record, and the file still holds the older position."""
        done = self._written_done
        if self.position_header is not None and done != self._published_done:
            self._published_done = done
            self.position_header.router_logged_through = done

    def _append(self, before_offer: bool, command_through: int) -> None:
        self.command_through = max(self.command_through, command_through)
        inbound = [(sid, s.next_inbound, s.ctx.cl_ord_hwm, s.ctx.open_orders)
                   for sid, s in self._inbound.items()]
        self._inbound = {}
        sent, self._sent = self._sent, []
        partial_seq, partial_n = self.partial
        record = PassRecord(before_offer, self.command_through, self.done_through, partial_seq, partial_n,
                            inbound, sent)
        self._buffer += frame_record(record)
        self._written_done = self.done_through
        self.records += 1

    def _write_out(self, sync: bool) -> None:
        if self._buffer:
            data, self._buffer = bytes(self._buffer), bytearray()
            self._size += write_all(self._fd, data)
        if sync:
            os.fdatasync(self._fd)
            self.syncs += 1

    def _install(self) -> compaction.CompactionStep:
        """On the loop: the worker's image becomes the file (see RouterLogCompactor.install)."""
        built = self.compactor.take()
        if built is None:  # the old log is intact; try again after another threshold
            self._retry_at = self._size + self.compact_bytes
            return compaction.CompactionStep.FAILED
        size = self.compactor.install(built, self._size)
        self.compactor.close_later(self._fd)  # the last reference to the old file: freeing it takes ms
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        self._size, self._image_size = size, built.image_bytes
        self.compactions += 1
        return compaction.CompactionStep.INSTALLED

    def _image(self):
        """The live state as records (see image_records)."""
        live = sorted(self.sessions.items())
        sessions = ((sid, s.next_inbound, s.ctx.cl_ord_hwm, s.ctx.open_orders, s.next_outbound,
                     s.kept_frames()) for sid, s in live)
        self._written_done = self.done_through
        return image_records(self.command_through, self.done_through, self.partial, sessions)

    def _compact(self) -> None:
        """At open: rewrites the file as one image of the live state (temporary file, fsync, rename)."""
        self.compactor.carried = None  # describes the file being replaced
        if self._fd is not None:
            self._buffer.clear()  # everything in it is already part of the live state
            os.close(self._fd)
            self._fd = None
        tmp = self.path.with_name(FILE_NAME + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        size = 0
        try:
            for record in self._image():
                size += write_all(fd, frame_record(record))
            if self.durability != "none":
                os.fdatasync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        if self.durability == "fsync":
            sync_directory(self.directory)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        self._size = self._image_size = size
        self.compactions += 1


def image_records(command_through: int, done_through: int, partial: tuple[int, int], sessions,
                  chunk_frames: int = IMAGE_CHUNK_FRAMES):
    """A state as records: one ImageRecord of the per-session numbers, then the kept frames in
    PassRecords of at most chunk_frames (a few hundred KB each, so compaction never builds one
    buffer the size of every retransmission buffer together). sessions: sorted tuples
    (session_id, next_inbound, cl_ord_hwm, open_orders, next_outbound, kept frames)."""
    partial_seq, partial_n = partial
    sessions = list(sessions)
    numbers = [SessionImage(sid, inbound, hwm, orders, outbound)
               for sid, inbound, hwm, orders, outbound, _ in sessions]
    yield ImageRecord(command_through, done_through, partial_seq, partial_n, numbers)
    for sid, _, _, _, next_outbound, kept in sessions:
        first = next_outbound - len(kept)
        frames = iter(kept)  # a deque too: one pass, no copy of the whole buffer at once
        for start in range(0, len(kept), chunk_frames):
            yield PassRecord(False, command_through, done_through, partial_seq, partial_n, [],
                             [(sid, first + start, list(itertools.islice(frames, chunk_frames)))])


def sync_directory(directory: str | os.PathLike[str]) -> None:
    """Makes a rename in directory durable."""
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_all(fd: int, data: bytes) -> int:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    return len(data)
