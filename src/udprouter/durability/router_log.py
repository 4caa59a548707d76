"""RouterLog: the router's durable session state, so a router restarted after SIGKILL resumes every
session where the clients saw it (server sequence numbers, retransmission buffer, next expected
client number, ClOrdID high-water mark) instead of from memory.

A log of segments in the journal directory: the live one `router.log`, the closed ones
`router-<n>.log` (n rising), each a series of records ``u32 length | u32 crc32 | msgpack``
(little-endian), replayed closed segments first, in order, then the live one. Two moments of a
loop pass write a PassRecord:
  * before commands go to the ring (``before_offer``): the inbound progress of every session that
    received application messages, the last command_seq assigned, and every frame sequenced since
    the last record, among them the replies the router made itself to those messages (rejects,
    NotApplied: LoopPass.before_offer flushes the sessions first), with the event routing position
    they reflect. Written ahead, so a command the engine may hold is never re-accepted from a
    client resend, and no sequence number it consumes is without its logged answer; a trailing
    record whose commands never reached the ring is rolled back on replay, frames and all (restore
    decides, it knows the ring): the clients then resend and everything is decided afresh.
  * before any reply leaves (``commit``): every frame sequenced since the last commit (server
    sequence numbers and bytes, per session) plus the event routing position (done_through and a
    partially routed command), so the events a crash loses are exactly those the engine re-emits.
Durability: ``none`` buffers in memory (written when 64 KiB accumulate and on close: only a clean
stop is recoverable); ``os`` writes each record to the page cache (survives a process crash);
``fsync`` also fdatasyncs at commit: one sync per commit covers every session's frames and the
inbound records before it (group commit), and nothing is sent before it returns.
Segments, dropped whole, never rewritten: once the live segment holds ``segment_bytes`` it is
renamed to the next router-<n>.log and a new router.log begins with a MarkRecord (every session's
numbers, no frames), so each segment states the numbers itself and any segment may go. A closed
segment is deleted (off the loop) once every frame in it has left its session's retransmission
buffer (the last ``capacity`` frames): it holds nothing a recovery needs. The loop's cost of a roll
is two renames and one small record (the worker thread that deletes dropped segments opens the next
segment's file beforehand); no process or thread folds or rewrites the log (the
rewriting design it replaces cost a quarter to a third more CPU per order and put rewrites inside
the latency tail, see README). The disk holds the live segment plus the closed segments some
session's last ``capacity`` frames still reach into (a session that went quiet keeps its last
frames' segments). At open the log starts afresh: one image of the live state (numbers and kept
frames, temporary file + rename) becomes router.log and the older segments go.
A reused session_id (SessionStore) gets a ResetRecord before its new session logs anything, and
every image and mark carries each session's first server number: replay never gives a new session
what the id's previous occupant logged (numbers, kept frames), whichever segments were dropped.
Cancel on disconnect (SPEC 4.6.1): a CodRecord of a session each time what it asked for or where it
stands changes (established with a type, armed until an instant, done), and one per such session in
each image and after each mark, so an armed cancel, or the type of a session established at a
crash, outlives the router; the records reach the file with the pass's writes, before the replies
(EstablishmentAck, Terminate) leave.
A torn or corrupt tail (crash mid-append) is cut at the last valid record, like the engine journal.
Full disk and I/O errors: a write (or sync) that fails is cut back off the file (ftruncate to the last
record that went out whole), its records stay in the buffer, and commit() returns False, so the
pass's replies are held: nothing leaves that the file does not hold, and a server sequence number
once sent is in the log (so it never goes backwards across a restart). The free space of the
directory is also read (statvfs, at most every SPACE_CHECK_S): below LOW_SPACE_BYTES, or after a
failed write, the log is `unavailable` (on_unavailable(True): the order entry refuses new orders
with JournalUnavailable, while what is already in flight is still written, into the space left
for it); once a write succeeds and RESUME_SPACE_BYTES are free again, on_unavailable(False). One
log line at each edge of such an episode; `unavailable_episodes` counts them.
With ``position_header`` set (the ring segment), every open and every commit whose written records
advance done_through store it in the header's router_logged_through: the engine keeps the snapshot a
recovery from that position starts at (durability none publishes nothing: its log is not durable).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import struct
import time
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import msgspec

from udprouter._ring_cffi import ffi, lib
from udprouter.server_session import SessionState

FILE_NAME = "router.log"
RECORD_HEADER = struct.Struct("<II")  # payload length, crc32 of the payload
SEGMENT_PREFIX = "router-"
NONE_BUFFER_BYTES = 64 << 10
DEFAULT_SEGMENT_BYTES = 16 << 20
# At a roll, sessions holding a closed segment only for a few frames (a client that sent a few orders
# and went quiet) have those frames logged again in the new segment, up to this many frames per
# roll (a few hundred KB: well under a millisecond), so they do not keep old segments forever.
CARRY_FRAMES_PER_ROLL = 4096
RELEASE_STEP_BYTES = 1 << 20
RELEASE_PAUSE_S = 0.002
IMAGE_CHUNK_FRAMES = 2048
LOOP_TIMINGS_KEPT = 64
MAX_RECORD_BYTES = 1 << 30
# Below this much free space the log stops taking new orders: what is in flight (and the engine's
# journal beside it) still has room. Above RESUME it takes them again (a gap, so one episode is
# not a flicker of many).
LOW_SPACE_BYTES = 1 << 20
RESUME_SPACE_BYTES = 2 << 20
SPACE_CHECK_S = 0.01
WRITE_AHEAD_SESSIONS = 256  # more sessions in one pass's record: the Python path writes it
C_RECORD_FRAMES = 4096  # the most frames one reply record holds (a drained batch: DRAIN_CAPACITY)

log = logging.getLogger("udprouter")


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
    first_outbound: int = 1  # the session's first server number (above 1: a reused session_id)


class ResetRecord(msgspec.Struct, tag="R", array_like=True):
    """A released session_id given to a new session (SessionStore): everything logged for the id
    before it was the previous occupant's and is forgotten; the new one numbers from first_outbound."""

    session_id: int
    first_outbound: int


class ImageRecord(msgspec.Struct, tag="S", array_like=True):
    command_through: int
    done_through: int
    partial_seq: int
    partial_n: int
    sessions: list[SessionImage]


class MarkRecord(msgspec.Struct, tag="M", array_like=True):
    """The first record of a segment after the opening one: every session's numbers (no frames),
    so the segment can be read after any older segment was dropped."""

    command_through: int
    done_through: int
    partial_seq: int
    partial_n: int
    sessions: list[SessionImage]


class CodRecord(msgspec.Struct, tag="C", array_like=True):
    """A session's cancel on disconnect: what its last Establish asked (CancelOnDisconnectType, window
    and keepalive interval), whether it was established, and when an armed cancel falls due (wall
    clock ns; 0: not armed). The newest one of a session counts."""

    session_id: int
    cod_type: int
    window_ms: int
    keepalive_ms: int
    established: bool
    due_ns: int

    @property
    def idle(self) -> bool:
        """Nothing to remember: no cancel armed and none asked for by an established session."""
        return not self.due_ns and not (self.established and self.cod_type)


def cod_record(session) -> CodRecord:
    """A live ServerSession's cancel-on-disconnect state as a record."""
    return CodRecord(session.session_id, session.cod_type, session.cod_window_ms, session.keepalive_ms,
                     session.state is SessionState.ESTABLISHED, session.cod_due_ns)


Record = PassRecord | ImageRecord | MarkRecord | ResetRecord | CodRecord
_encoder = msgspec.msgpack.Encoder()
encode_record = _encoder.encode
_decoder = msgspec.msgpack.Decoder(Record)


class RecoveredSession:
    """One session's state rebuilt from the log (kept frames bounded by the retransmit capacity)."""

    __slots__ = ("session_id", "next_inbound", "cl_ord_hwm", "open_orders", "next_outbound", "kept",
                 "first_outbound")

    def __init__(self, session_id: int, capacity: int, first_outbound: int = 1) -> None:
        self.session_id = session_id
        self.next_inbound = 1
        self.cl_ord_hwm = 0
        self.open_orders = 0
        self.first_outbound = first_outbound
        self.next_outbound = first_outbound
        self.kept: deque[bytes] = deque(maxlen=capacity)

    def add_frames(self, first_seq: int, frames: list[bytes]) -> None:
        """Frames numbered first_seq onwards (the one place the fold touches the kept buffer)."""
        if first_seq != self.next_outbound:  # never written so; a gap would misnumber the buffer
            self.kept.clear()
        self.kept.extend(frames)
        self.next_outbound = first_seq + len(frames)


class RecoveredState:
    """Everything replay found; `unconfirmed` is a trailing before-offer record that restore applies
    only if its commands reached the ring (see confirm)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.command_through = 0
        self.done_through = 0
        self.partial = (0, 0)
        self.sessions: dict[int, RecoveredSession] = {}
        self.cod: dict[int, CodRecord] = {}  # each session's newest, unless idle
        self.unconfirmed: PassRecord | None = None
        self.records = 0
        self.cut_bytes = 0  # torn or corrupt tail removed

    @property
    def empty(self) -> bool:
        return self.records == 0

    def session(self, session_id: int) -> RecoveredSession:
        found = self.sessions.get(session_id)
        if found is None:
            found = self.sessions[session_id] = RecoveredSession(session_id, self.capacity)
        return found

    def apply(self, record: Record) -> None:
        self.records += 1
        if isinstance(record, CodRecord):  # says nothing of the ring: a trailing pass stays unconfirmed
            if record.idle:
                self.cod.pop(record.session_id, None)
            else:
                self.cod[record.session_id] = record
            return
        if self.unconfirmed is not None:  # a record follows it: its offer happened
            self._apply_pass(self.unconfirmed)
            self.unconfirmed = None
        if isinstance(record, ImageRecord):
            self._apply_image(record)
            self.cod = {}  # all of them follow it
        elif isinstance(record, ResetRecord):
            self.cod.pop(record.session_id, None)
            self.sessions[record.session_id] = RecoveredSession(record.session_id, self.capacity,
                                                                record.first_outbound)
        elif isinstance(record, MarkRecord):
            self._apply_mark(record)
            self.cod = {}  # all of them follow it (a dropped segment may have held a newer one)
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
        # Either kind states the routing position its frames reflect (a write-ahead record written
        # by an older router repeats its last commit's).
        self.command_through = max(self.command_through, record.command_through)
        self.done_through = record.done_through
        self.partial = (record.partial_seq, record.partial_n)
        for session_id, next_inbound, hwm, open_orders in record.inbound:
            s = self.session(session_id)
            s.next_inbound, s.cl_ord_hwm, s.open_orders = next_inbound, hwm, open_orders
        for session_id, first_seq, frames in record.sent:
            self.session(session_id).add_frames(first_seq, frames)

    def _apply_mark(self, record: MarkRecord) -> None:
        self.command_through = max(self.command_through, record.command_through)
        self.done_through = record.done_through
        self.partial = (record.partial_seq, record.partial_n)
        for image in record.sessions:
            s = self.session(image.session_id)
            if s.first_outbound != image.first_outbound:  # what came before was a previous occupant's
                s = self.sessions[image.session_id] = RecoveredSession(image.session_id, self.capacity,
                                                                       image.first_outbound)
            if s.next_outbound != image.next_outbound:  # frames before it were in a dropped segment
                s.kept.clear()
            s.next_inbound, s.cl_ord_hwm = image.next_inbound, image.cl_ord_hwm
            s.open_orders, s.next_outbound = image.open_orders, image.next_outbound

    def _apply_image(self, record: ImageRecord) -> None:
        self.command_through = record.command_through
        self.done_through = record.done_through
        self.partial = (record.partial_seq, record.partial_n)
        self.sessions = {}
        for image in record.sessions:
            s = self.session(image.session_id)
            s.first_outbound = image.first_outbound
            s.next_inbound, s.cl_ord_hwm = image.next_inbound, image.cl_ord_hwm
            s.open_orders, s.next_outbound = image.open_orders, image.next_outbound
            s.add_frames(image.next_outbound - len(image.kept), image.kept)


def scan_records(data: bytes | memoryview, decoder: msgspec.msgpack.Decoder | None = _decoder):
    """Yields (record, end offset) for each valid record from the start of data, stopping at the first
    torn or corrupt one (length, CRC, and msgpack when a decoder is given; record is None without one).
    The one reader of the record framing."""
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
    """A record as the log holds it: RECORD_HEADER (length, CRC of the payload), then the payload."""
    payload = _encoder.encode(record)
    return RECORD_HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def closed_segments(directory: Path) -> list[tuple[int, Path]]:
    """(n, path) of every router-<n>.log in directory, oldest first."""
    found = []
    for path in directory.glob(f"{SEGMENT_PREFIX}*.log"):
        number = path.name[len(SEGMENT_PREFIX):-len(".log")]
        if number.isdigit():
            found.append((int(number), path))
    return sorted(found)


def segment_name(number: int) -> str:
    return f"{SEGMENT_PREFIX}{number:010d}.log"


def replay(directory: str | os.PathLike[str], capacity: int) -> RecoveredState:
    """Reads the closed segments and router.log (none: an empty state) without changing them. A torn
    or corrupt record ends its segment (the next one starts with every session's numbers)."""
    state = RecoveredState(capacity)
    directory = Path(directory)
    paths = [path for _, path in closed_segments(directory)] + [directory / FILE_NAME]
    for path in paths:
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # no router.log yet, or a segment being dropped (not needed)
            continue
        records, valid = read_records(data)
        for record in records:
            state.apply(record)
        state.cut_bytes += len(data) - valid
    return state


class Segment:
    """A closed segment and, per session, the highest server sequence number of a frame in it."""

    __slots__ = ("number", "path", "last_frame")

    def __init__(self, number: int, path: Path, last_frame: dict[int, int]) -> None:
        self.number, self.path, self.last_frame = number, path, last_frame


class RouterLog:
    """The writer. ServerSession calls inbound()/sent() (its journal hooks); the ring offer calls
    before_offer(); the router's outbox calls commit() before a pass's datagrams leave."""

    def __init__(self, directory: str | os.PathLike[str], durability: str, capacity: int,
                 segment_bytes: int = DEFAULT_SEGMENT_BYTES) -> None:
        if durability not in ("none", "os", "fsync"):
            raise ValueError(f"durability {durability!r}: expected none, os or fsync")
        self.directory = Path(directory)
        self.path = self.directory / FILE_NAME
        self.durability = durability
        self.capacity = capacity
        self.segment_bytes = segment_bytes
        self.sessions: dict[int, object] = {}  # session_id -> live ServerSession (images, marks)
        self.cod: dict[int, CodRecord] = {}  # each session's newest logged CodRecord, unless idle
        self.command_through = 0
        self.done_through = 0
        self.partial = (0, 0)
        self._inbound: dict[int, object] = {}
        self._sent: list[tuple[int, int, list[bytes]]] = []
        self._buffer = bytearray()
        self._fd: int | None = None
        self._size = 0  # durable bytes of the live segment
        self._closed: list[Segment] = []
        self._last_frame: dict[int, int] = {}  # the live segment's, per session (see Segment)
        self._next_segment = 1
        self._roll_at = 0  # after a roll that failed: the size at which to try again
        self._dropper: ThreadPoolExecutor | None = None  # unlinks off the loop (frees the pages)
        # The next segment's file, created and opened by the same worker thread after each roll: an
        # open(O_CREAT) on the loop took 0.4-4.6 ms at a roll on ext4 (perf trace, 50k orders/s).
        self._prepared: Future | None = None
        # Told (router_logged_through = n) the done_through of the newest record written out, once per
        # commit that advances it: the engine keeps the snapshot a recovery from there needs.
        self.position_header = None
        self._written_done = 0  # done_through in the newest record handed to the file
        self._published_done = -1
        self.records = self.syncs = self.segments_closed = self.segments_dropped = 0
        self.roll_loop_ns: deque[int] = deque(maxlen=LOOP_TIMINGS_KEPT)  # what each roll cost the loop
        self._written = 0  # fsync durability: bytes of _buffer written but not yet synced
        self.unavailable = False  # a write failed or space ran low: new orders are refused
        self.unavailable_episodes = 0
        self.write_failures = 0  # writes or syncs that failed (each cut back and retried)
        self.on_unavailable = None  # called with True / False at each edge of an episode
        self._space_checked = 0.0
        self._write_error: OSError | None = None
        # The C write-ahead record's session pointers and output (before_offer's common case).
        self._wa_sessions = ffi.new("udr_fp_session *[]", WRITE_AHEAD_SESSIONS)
        self._wa_out = ffi.new("unsigned char[]", lib.UDR_WA_FIXED_MAX
                               + WRITE_AHEAD_SESSIONS * lib.UDR_WA_SESSION_MAX)
        # reply_record: answer_pass.h encodes into it, at most C_RECORD_FRAMES frames, each in a group
        # of its own.
        self._fr_out = ffi.new("unsigned char[]", lib.UDR_FR_RECORD_FIXED + C_RECORD_FRAMES * (
            lib.UDR_FR_RECORD_GROUP + lib.UDR_FR_RECORD_BIN + lib.UDR_FP_MAX_REPORT_FRAME))

    # -- lifecycle ------------------------------------------------------------------------------

    def open(self) -> None:
        """Starts this life's file with an image of the live state (attach and restore first)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._open_image()
        if self.durability != "none":
            self._publish_position()

    def close(self) -> None:
        if self._fd is None:
            return
        self._write_out(sync=self.durability == "fsync")
        os.close(self._fd)
        self._fd = None
        if self._dropper is not None:
            self._dropper.shutdown(wait=True)
            self._dropper = None
        if self._prepared is not None:  # done: the worker has finished
            with contextlib.suppress(Exception):
                os.close(self._prepared.result())
            self._prepared = None
            self.path.with_name(FILE_NAME + ".next").unlink(missing_ok=True)

    @property
    def segments(self) -> int:
        """Segments on disk: the closed ones kept and the live one."""
        return len(self._closed) + 1

    def attach(self, session) -> None:
        session.journal = self
        self.sessions[session.session_id] = session

    def detach(self, session_id: int) -> None:
        """A released session (SessionLayer.sweep): the next compaction leaves it out."""
        self.sessions.pop(session_id, None)
        self.cod.pop(session_id, None)

    def reset(self, session_id: int, first_outbound: int) -> None:
        """A released session_id given to a new session, before that session logs anything (see
        ResetRecord); the previous occupant's frames no longer hold a closed segment."""
        self._buffer += frame_record(ResetRecord(session_id, first_outbound))
        self.records += 1
        self.cod.pop(session_id, None)
        self._last_frame.pop(session_id, None)
        for segment in self._closed:
            segment.last_frame.pop(session_id, None)

    # -- hooks ----------------------------------------------------------------------------------

    def inbound(self, session) -> None:
        """A session's inbound expectation moved (its ClOrdID mark may follow in this pass)."""
        self._inbound[session.session_id] = session

    def sent(self, session_id: int, first_seq: int, frames: list[bytes]) -> None:
        """Frames just numbered first_seq.. for session_id (they leave only after commit)."""
        self._sent.append((session_id, first_seq, frames))

    def note_cod(self, session, done: bool = False) -> None:
        """The session's cancel-on-disconnect state may have changed (SessionLayer): logged if it did
        (before the log is open, only remembered: the opening image writes it). done: its cancel
        was carried out, nothing is left to do for it even if it is still established (router stop)."""
        record = cod_record(session)
        if done:
            record.established = False
        known = self.cod.get(record.session_id)
        if known == record or (known is None and record.idle):
            return
        if record.idle:
            del self.cod[record.session_id]
        else:
            self.cod[record.session_id] = record
        if self._fd is not None:
            self._buffer += frame_record(record)
            self.records += 1

    def _cod_records(self) -> bytes:
        """Every session's remembered CodRecord (after an image or a mark: older ones may be dropped)."""
        self.records += len(self.cod)
        return b"".join(frame_record(record) for _, record in sorted(self.cod.items()))

    def before_offer(self, command_through: int, done_through: int | None = None,
                     partial: tuple[int, int] = (0, 0)) -> bool:
        """Before commands up to command_through go to the ring: the inbound progress that made them,
        with the frames sequenced so far (call with every session flushed, as commit) and, when
        given, the routing position they reflect. False: it could not be written (it stays
        buffered) and the commands must not be offered yet: the engine would hold commands a
        restarted router would accept again from a client resend."""
        if done_through is not None:
            self.done_through, self.partial = done_through, partial
        if self._nothing_waits() and 0 < len(self._inbound) <= WRITE_AHEAD_SESSIONS:
            return self._write_ahead_in_c(command_through)
        self._append(True, command_through)
        if self.durability != "none" and len(self._buffer) > self._written:
            return self._write_out(sync=False)
        return True

    def _write_ahead_in_c(self, command_through: int) -> bool:
        """before_offer's common case (durability os, nothing else buffered, only inbound progress):
        the record _append would make, encoded and written in one C call (fastpath/write_ahead.h).
        A failed write leaves the same bytes buffered and the same state as _write_out's failure."""
        if command_through > self.command_through:
            self.command_through = command_through
        sessions = self._wa_sessions
        count = 0
        for s in self._inbound.values():
            sessions[count] = s.fp  # the session's C twin holds the numbers the record carries
            count += 1
        self._inbound = {}
        partial_seq, partial_n = self.partial
        written = lib.udr_wa_write(self._fd, self._wa_out, self.command_through, self.done_through,
                                   partial_seq, partial_n, sessions, count)
        return self._written_ahead(self._wa_out, written)

    def write_ahead_fd(self) -> int:
        """The file a read pass may append its write-ahead record to in C (FastIngest.read) when
        nothing else waits to be written (takes_c_record), else -1."""
        return self._fd if self.takes_c_record() else -1

    def written_ahead(self, record, written: int, command_through: int, done_through: int,
                      partial: tuple[int, int]) -> bool:
        """After FastIngest.read appended the write-ahead record it encoded into record (written:
        its length, or -errno) for commands up to command_through at that routing position: the
        same state as before_offer's own C write leaves. False: it was not written (it is buffered,
        the log unavailable) and its commands were not offered."""
        self.command_through = command_through
        self.done_through, self.partial = done_through, partial
        return self._written_ahead(record, written)

    def _written_ahead(self, record, written: int) -> bool:
        self._written_done = self.done_through
        if not self._written_in_c(record, written):
            return False
        self._check_space_when_due()
        return True

    def _nothing_waits(self) -> bool:
        """Durability os, the file open and available, nothing buffered or sent unlogged: a record
        can be written in C alone (the write-ahead one, or a drain step's reply record)."""
        return self.durability == "os" and self._fd is not None and not self._buffer and not self._sent \
            and not self.unavailable

    def _written_in_c(self, out, written: int) -> bool:
        """After a record encoded into out and appended in C (written: its length, or -errno): counted,
        or on failure left buffered (its header gives its length) with the file cut back and the log
        unavailable, as _write_out's failure leaves one."""
        self.records += 1
        if written < 0:
            length = RECORD_HEADER.size + RECORD_HEADER.unpack_from(ffi.buffer(out))[0]
            self._buffer += ffi.buffer(out, length)
            self._cut_back(OSError(-written, os.strerror(-written)))
            return False
        self._size += written
        return True

    def commit(self, done_through: int, partial: tuple[int, int]) -> bool:
        """Before replies leave: every frame sequenced since the last commit, and where event routing
        stands (call only when every routed event is in a flushed session). False: the records
        could not be written (they stay buffered): the replies must wait (retry)."""
        self.done_through, self.partial = done_through, partial
        if self._sent or self._inbound:
            self._append(False, self.command_through)
        if self.durability == "none":
            if len(self._buffer) >= NONE_BUFFER_BYTES:
                self._write_out(sync=False)
            return True
        if not self._write_out(sync=self.durability == "fsync"):
            return False
        self._committed()
        return True

    def takes_c_record(self) -> bool:
        """A pass's replies built in C may be logged in C (answer_pass.h): durability os and
        nothing else waiting to be written."""
        return self._nothing_waits() and not self._inbound

    @property
    def reply_record(self):
        """The buffer answer_pass.h encodes a drain step's record into (reply_record_written)."""
        return self._fr_out

    def reply_record_written(self, groups, count: int, targets, written: int, done_through: int,
                             partial: tuple[int, int]) -> bool:
        """After answer_pass.h appended the record of a drain step's replies (in takes_c_record's
        state; written: its length, or -errno): the record commit() would have written had the
        frames come through sent(). The caller keeps the frames in their sessions, then calls
        after_c_record(). False: the write failed, the record is buffered and the log unavailable,
        as after _write_out's failure: the datagrams were not sent and must wait."""
        self.done_through, self.partial = done_through, partial
        last_frame = self._last_frame
        for i in range(count):
            group = groups[i]
            last_frame[group.session_id] = targets[i].first_seq + group.count - 1
        self._written_done = done_through
        return self._written_in_c(self._fr_out, written)

    def after_c_record(self) -> None:
        """After a successful reply_record_written's replies have left: what commit() does after its write."""
        self._check_space_when_due()
        self._committed()

    def _committed(self) -> None:
        """A commit's records are written out: the segment rolls once full, and the engine hears
        the routing position it may drop snapshots below."""
        if self._size >= max(self.segment_bytes, self._roll_at) and not self.unavailable:
            self._roll()
        self._publish_position()

    def retry(self) -> bool:
        """While unavailable (the router's timer): writes out what is buffered and checks the space
        again; returns True once everything buffered is in the file."""
        if not self.unavailable or self.durability == "none":
            return True
        return self._write_out(sync=self.durability == "fsync")

    @property
    def frames_pending(self) -> bool:
        """Frames sequenced since the last commit (a commit writes them)."""
        return bool(self._sent)

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
        if command_through > self.command_through:
            self.command_through = command_through
        inbound = []
        if self._inbound:
            for sid, s in self._inbound.items():
                fp = s.fp  # the session's C twin holds these numbers
                inbound.append((sid, fp.next_inbound, fp.cl_ord_hwm, fp.open_orders))
            self._inbound = {}
        sent = self._sent
        if sent:
            self._sent = []
            last_frame = self._last_frame
            for sid, first, frames in sent:
                last_frame[sid] = first + len(frames) - 1
        partial_seq, partial_n = self.partial
        self._buffer += frame_record(PassRecord(before_offer, self.command_through, self.done_through,
                                                partial_seq, partial_n, inbound, sent))
        self._written_done = self.done_through
        self.records += 1

    def _write_out(self, sync: bool) -> bool:
        """Writes the buffer (and syncs); on failure cuts the file back to its last whole record and
        keeps the buffer. _size counts only what is durable for this durability."""
        buffer = self._buffer
        try:
            if len(buffer) > self._written:
                # fsync durability: only the part written since the last sync
                write_all(self._fd, bytes(buffer[self._written:]) if self._written else buffer)
                self._written = len(buffer)
            if sync:
                os.fdatasync(self._fd)
                self.syncs += 1
        except OSError as exc:
            self._cut_back(exc)
            return False
        if sync or self.durability != "fsync":  # fsync: written bytes count once synced
            self._size += self._written
            self._buffer, self._written = bytearray(), 0
        self._check_space_when_due()
        return True

    def _check_space_when_due(self) -> None:
        """After a write: the free space read again if SPACE_CHECK_S has passed since the last look."""
        if time.monotonic() - self._space_checked >= SPACE_CHECK_S:
            self._check_space()

    def _cut_back(self, exc: OSError) -> None:
        """A write or sync failed: no half record stays in the file (a later record appended after
        it would be invisible to replay); everything since the last durable byte is written again."""
        try:
            os.ftruncate(self._fd, self._size)
        except OSError:
            pass  # the next successful write can't land after a torn one: replay cuts there anyway
        self._written = 0
        self._write_error = exc
        self.write_failures += 1
        self._set_unavailable(True, exc.strerror or str(exc))

    def _check_space(self) -> None:
        """Reads the free space now (_write_out calls it at most every SPACE_CHECK_S)."""
        self._space_checked = time.monotonic()
        try:
            st = os.statvfs(self.directory)
        except OSError:
            return
        free = st.f_bavail * st.f_frsize
        if not self.unavailable and free < LOW_SPACE_BYTES:
            self._set_unavailable(True, f"{free} bytes free, below {LOW_SPACE_BYTES}")
        elif self.unavailable and free >= RESUME_SPACE_BYTES and not self._buffer:
            self._set_unavailable(False, f"{free} bytes free")

    def _set_unavailable(self, unavailable: bool, why: str) -> None:
        if unavailable == self.unavailable:
            return
        self.unavailable = unavailable
        if unavailable:
            self.unavailable_episodes += 1
            log.error("router log %s: cannot take new orders (%s): they are rejected with "
                      "JournalUnavailable until it can", self.path, why)
        else:
            self._write_error = None
            log.warning("router log %s: writable again (%s): taking new orders", self.path, why)
        if self.on_unavailable is not None:
            self.on_unavailable(unavailable)

    def _numbers(self) -> list[SessionImage]:
        return [SessionImage(sid, s.next_inbound, s.cl_ord_hwm, s.open_orders, s.next_outbound, [],
                             s.first_outbound)
                for sid, s in sorted(self.sessions.items())]

    def _roll(self) -> None:
        """At a commit (everything written out): the live segment is closed under the next number,
        a new router.log starts with every session's numbers, and the closed segments no session's
        retransmission buffer reaches into any more are dropped."""
        began = time.perf_counter_ns()
        number = self._next_segment
        closed = self.directory / segment_name(number)
        following = self.path.with_name(FILE_NAME + ".next")  # made first: a failure changes nothing
        try:
            fd = self._take_prepared()
            if fd is None:
                fd = open_segment(following)
        except OSError as exc:  # no file can be made (disk full): keep appending here, try again later
            log.warning("router log: cannot start a new segment (%s)", exc.strerror or exc)
            self._roll_at = self._size + self.segment_bytes // 4
            return
        self._roll_at = 0
        os.rename(self.path, closed)  # a crash from here on replays it first, then a new router.log
        os.rename(following, self.path)
        os.close(self._fd)
        self._fd = fd
        self._next_segment += 1
        self._closed.append(Segment(number, closed, self._last_frame))
        self._last_frame, self._size = {}, 0
        self.segments_closed += 1
        partial_seq, partial_n = self.partial
        mark = MarkRecord(self.command_through, self.done_through, partial_seq, partial_n, self._numbers())
        self._buffer += frame_record(mark) + self._cod_records()
        self._written_done = self.done_through
        self._carry_small_pins()
        self._write_out(sync=self.durability == "fsync")  # a failure keeps it buffered, first in line
        if self.durability == "fsync":
            sync_directory(self.directory)
        self._prepare_next()  # before the drops: the worker runs its jobs in order
        self._drop_unneeded()
        self.roll_loop_ns.append(time.perf_counter_ns() - began)

    def _carry_small_pins(self) -> None:
        """Logs again, into the new segment, the kept frames of sessions that alone hold a closed
        segment with few frames (oldest segments first; at most CARRY_FRAMES_PER_ROLL frames and a
        quarter of a segment in all, so a roll never fills the next segment): replay then restarts
        their buffers there (a PassRecord whose first number is not the next expected one)."""
        sessions, capacity = self.sessions, self.capacity
        frames_left, bytes_left = CARRY_FRAMES_PER_ROLL, self.segment_bytes // 4
        sent, carried = [], set()
        for segment in self._closed:
            pinning = [sid for sid, seq in segment.last_frame.items()
                       if sid in sessions and seq >= sessions[sid].next_outbound - capacity]
            ranges = [(sid, *sessions[sid].kept_range()) for sid in pinning if sid not in carried]
            count = sum(end - first for _, first, end in ranges)
            if count > frames_left:
                continue
            frames = [(sid, first, sessions[sid].kept_frames()) for sid, first, _ in ranges]
            size = sum(len(f) for _, _, fs in frames for f in fs)
            if size > bytes_left:
                continue
            frames_left, bytes_left = frames_left - count, bytes_left - size
            sent += frames
            carried.update(pinning)
        if not sent:
            return
        for segment in self._closed:
            for sid in carried:
                segment.last_frame.pop(sid, None)
        for sid, first, frames in sent:
            if frames:
                self._last_frame[sid] = first + len(frames) - 1
        partial_seq, partial_n = self.partial
        self._buffer += frame_record(PassRecord(False, self.command_through, self.done_through, partial_seq,
                                                partial_n, [], sent))
        self.records += 1

    def _drop_unneeded(self) -> None:
        sessions, capacity, kept = self.sessions, self.capacity, []
        for segment in self._closed:
            needed = any(sid in sessions and seq >= sessions[sid].next_outbound - capacity
                         for sid, seq in segment.last_frame.items())
            if needed:
                kept.append(segment)
            else:
                self._unlink_later(segment.path)
                self.segments_dropped += 1
        self._closed = kept

    def _worker(self) -> ThreadPoolExecutor:
        if self._dropper is None:
            self._dropper = ThreadPoolExecutor(1, thread_name_prefix="router-log-drop")
        return self._dropper

    def _unlink_later(self, path: Path) -> None:
        """A worker thread deletes the segment (see release_file)."""
        self._worker().submit(release_file, path)

    def _prepare_next(self) -> None:
        """The worker thread creates and opens the next segment's file (router.log.next, empty)."""
        if self.durability != "none" and self._prepared is None:
            self._prepared = self._worker().submit(open_segment, self.path.with_name(FILE_NAME + ".next"))

    def _take_prepared(self) -> int | None:
        """The prepared file's fd, if the worker has opened it; None: open it here. One the worker is
        still opening is closed when it is done (the path it names is made again for this roll)."""
        future, self._prepared = self._prepared, None
        if future is None:
            return None
        if not future.done():
            future.add_done_callback(_close_opened)
            return None
        try:
            return future.result()
        except OSError:
            return None  # opened again here: the failure, if it lasts, is reported there

    def _open_image(self) -> None:
        """At open: one image of the live state becomes router.log (temporary file, sync, rename),
        then the segments it supersedes go."""
        if self._fd is not None:
            self._buffer.clear()  # everything in it is already part of the live state
            self._written = 0
            os.close(self._fd)
            self._fd = None
        older = closed_segments(self.directory)
        self._next_segment = max((n for n, _ in older), default=0) + 1
        live = sorted(self.sessions.items())
        sessions = ((sid, s.next_inbound, s.cl_ord_hwm, s.open_orders, s.next_outbound,
                     s.kept_frames(), s.first_outbound) for sid, s in live)
        self._written_done = self.done_through
        tmp = self.path.with_name(FILE_NAME + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        size = 0
        try:
            for record in image_records(self.command_through, self.done_through, self.partial, sessions):
                size += write_all(fd, frame_record(record))
            self.cod = {sid: record for sid, record in self.cod.items() if sid in self.sessions}
            size += write_all(fd, self._cod_records())
            if self.durability != "none":
                os.fdatasync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        if self.durability == "fsync":
            sync_directory(self.directory)
        for _, path in older:  # replayed before the image, which resets everything they held
            path.unlink(missing_ok=True)
        self.path.with_name(FILE_NAME + ".next").unlink(missing_ok=True)  # a roll a crash cut short
        self._closed = []
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        self._size = size
        self._prepare_next()
        self._last_frame = {sid: s.next_outbound - 1 for sid, s in live if s.next_outbound > 1}


def image_records(command_through: int, done_through: int, partial: tuple[int, int], sessions,
                  chunk_frames: int = IMAGE_CHUNK_FRAMES):
    """A state as records: one ImageRecord of the per-session numbers, then the kept frames in
    PassRecords of at most chunk_frames (a few hundred KB each, so the opening image never builds one
    buffer the size of every retransmission buffer together). sessions: sorted tuples
    (session_id, next_inbound, cl_ord_hwm, open_orders, next_outbound, kept frames, first_outbound)."""
    partial_seq, partial_n = partial
    sessions = list(sessions)
    numbers = [SessionImage(sid, inbound, hwm, orders, outbound, [], first)
               for sid, inbound, hwm, orders, outbound, _, first in sessions]
    yield ImageRecord(command_through, done_through, partial_seq, partial_n, numbers)
    for sid, _, _, _, next_outbound, kept, _ in sessions:
        first = next_outbound - len(kept)
        frames = iter(kept)  # a deque too: one pass, no copy of the whole buffer at once
        for start in range(0, len(kept), chunk_frames):
            yield PassRecord(False, command_through, done_through, partial_seq, partial_n, [],
                             [(sid, first + start, list(itertools.islice(frames, chunk_frames)))])


def release_file(path: Path, step: int = RELEASE_STEP_BYTES) -> None:
    """Deletes a file a slice at a time: unlinking 16 MB at once freed its blocks in one go, about
    10 ms of filesystem work during which the loop's own appends on the same filesystem stalled.
    Truncating RELEASE_STEP_BYTES at a time with a pause between spreads that work out."""
    try:
        size = path.stat().st_size
        with open(path, "r+b") as f:
            while size > 0:
                size = max(0, size - step)
                os.ftruncate(f.fileno(), size)
                time.sleep(RELEASE_PAUSE_S)
    except FileNotFoundError:
        return
    path.unlink(missing_ok=True)


def open_segment(path: Path) -> int:
    """A new, empty segment file opened for appending."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC, 0o600)


def _close_opened(future: Future) -> None:
    with contextlib.suppress(Exception):
        os.close(future.result())


def sync_directory(directory: str | os.PathLike[str]) -> None:
    """Makes a rename in directory durable."""
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_all(fd: int, data: bytes | bytearray) -> int:
    """One os.write, and more only after a short write (the disk filling: the rest, or OSError)."""
    done = os.write(fd, data)
    if done < len(data):
        # The rest copied: a view of a bytearray would pin it while a failed write's traceback lives.
        view = memoryview(bytes(data[done:]))
        while view:
            view = view[os.write(fd, view):]
    return len(data)
