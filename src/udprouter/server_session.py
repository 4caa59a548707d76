"""ServerSession: one router session, the one object that holds its state (pure logic, no sockets).

Its C-visible fields (the order-entry marks, the expected inbound number, the FIXP state, the bound
source address's key and the datagram key) are stored in a udr_fp_session struct
(fastpath/fast_ingest.h), which the C fast path reads and writes in place: the properties below
read and write that struct, there is no second copy. SessionContext is the order-entry part that
OrderEntry, Risk and the C fast path use; a ServerSession is one. SessionLayer (session.py) creates
sessions and owns the table of them; durability/session_store.py persists their durable ids, and
the router log their sequencing state. A gRPC key's flow (fallback_grpc/grpc_session.py) is a
ServerSession too, without an address.


Inbound (client -> server) is Idempotent: each client sequence number is applied at most once,
duplicates are dropped silently, a gap is answered with NotApplied and the expectation moves past
it, so a number declared NotApplied is never applied later. Outbound (server -> client) is
Recoverable: every message other than session management takes the next server sequence number
and is kept in a bounded buffer for RetransmitRequest. Frames waiting to be sent collect in
``pending`` during one loop pass and leave as few datagrams as possible, each starting with Sequence.
"""

from __future__ import annotations

import enum
import struct
from operator import attrgetter

from udprouter._generated.messages import (
    MAX_DATAGRAM_SIZE,
    MAX_MESSAGES_PER_DATAGRAM,
    NotApplied,
    Sequence,
    encode_not_applied,
    encode_sequence,
)
from udprouter._ring_cffi import ffi, lib
from udprouter.config import KeyConfig
from udprouter.fastpath.datagram_packer import DatagramPacker
from udprouter.fastpath.fast_io import address_key
from udprouter.sent_frames import SentFrames

MAX_DATAGRAM = MAX_DATAGRAM_SIZE
MAX_MESSAGES = MAX_MESSAGES_PER_DATAGRAM
# Client sequence numbers are uint64 and 2^64 - 1 is NextSeqNo's null value: the expectation never
# passes it (nor does the C fast path's). A gap is answered by one NotApplied, whose Count is a
# uint32. A datagram beyond either is refused whole (SPEC 4.3).
SEQ_LIMIT = 2**64 - 1
MAX_GAP = 2**32 - 1
SEQ_OUT_OF_RANGE = -1
_PACKER = DatagramPacker(MAX_DATAGRAM, MAX_MESSAGES)


def _fast_path_key(addr) -> int:
    """address_key of an (IPv4 host, port) pair, the only kind of source the fast path serves;
    0 (matches no datagram) for anything else."""
    if not isinstance(addr, tuple) or len(addr) != 2:
        return 0
    try:
        return address_key(addr)
    except (OSError, TypeError, ValueError, struct.error):
        return 0


def sequence_frame(next_seq_no: int) -> bytes:
    return encode_sequence(Sequence(next_seq_no))


def not_applied_frame(from_seq_no: int, count: int) -> bytes:
    return encode_not_applied(NotApplied(from_seq_no, count))


def pack_datagrams(frames: list[bytes], first_seq: int) -> list[bytes]:
    """Frames numbered from first_seq, packed into datagrams of at most MAX_DATAGRAM bytes and
    MAX_MESSAGES messages, each starting with a Sequence naming its first frame's number (in C).
    A frame is one SOFH frame, or a DropCopy frame and its report (one message)."""
    datagrams = _PACKER.pack(frames, first_seq)
    return datagrams if datagrams is not None else pack_datagrams_reference(frames, first_seq)


def pack_datagrams_reference(frames: list[bytes], first_seq: int) -> list[bytes]:
    """pack_datagrams in Python: the specification the C packer is tested against."""
    datagrams = []
    i, n = 0, len(frames)
    while i < n:
        parts = [sequence_frame(first_seq + i)]
        size = len(parts[0])
        j = i
        while j < n and j - i < MAX_MESSAGES - 1 and size + len(frames[j]) <= MAX_DATAGRAM:
            parts.append(frames[j])
            size += len(frames[j])
            j += 1
        if j == i:  # no schema message exceeds a datagram; this only guarantees progress
            parts.append(frames[i])
            j = i + 1
        datagrams.append(b"".join(parts))
        i = j
    return datagrams



def _stored_in_fp(name: str, doc: str) -> property:
    """A session field whose storage is its C twin (fp, read and written by the fast path): read
    and written there, never copied."""

    def store(self, value) -> None:
        setattr(self.fp, name, value)

    return property(attrgetter(f"fp.{name}"), store, doc=doc)

class TokenBucket:
    """take(amount, rate, now): a bucket refilled at rate per second up to a burst of one second's
    worth (at least amount 1); starts full."""

    __slots__ = ("tokens", "refill_ns")

    def __init__(self) -> None:
        self.tokens = -1.0  # full on first use
        self.refill_ns = 0

    def take(self, amount: float, rate_per_s: float, now_ns: int) -> bool:
        if not self.has(amount, rate_per_s, now_ns):
            return False
        self.tokens -= amount
        return True

    def has(self, amount: float, rate_per_s: float, now_ns: int) -> bool:
        """Refills, then whether amount is there (taking nothing)."""
        burst = max(1.0, rate_per_s)
        if self.tokens < 0:
            self.tokens, self.refill_ns = burst, now_ns
        elif now_ns > self.refill_ns:
            self.tokens = min(burst, self.tokens + (now_ns - self.refill_ns) * rate_per_s / 1e9)
            self.refill_ns = now_ns
        return self.tokens >= amount


class SessionState(enum.IntEnum):
    NEGOTIATED = 1
    ESTABLISHED = 2
    TERMINATED = 3


assert SessionState.ESTABLISHED == lib.UDR_FP_ESTABLISHED  # the C fast path's test of the state
_STATES = (None, *SessionState)  # by the value udr_fp_session.state holds


class SessionContext:
    """The order-entry part of a session, shared by the UDP and gRPC paths (one per durable
    session_id): its fields are the cffi-allocated udr_fp_session fp's, read and written in place."""

    __slots__ = ("key_id", "fp", "session_id", "account")

    def __init__(self, session_id: int, account: int, key_id: str = "") -> None:
        self.key_id = key_id
        # Fixed for the session's life: plain attributes here, and copied once into fp for C.
        self.session_id, self.account = session_id, account
        fp = self.fp = ffi.new("udr_fp_session *")
        fp.session_id, fp.account = session_id, account
        fp.next_inbound = 1  # the client sequence number expected next (ServerSession.next_inbound)
        fp.tokens = -1.0  # throttle bucket; negative = not yet started

    # Kept in fp, where the C fast path reads and writes them.
    cl_ord_hwm = _stored_in_fp("cl_ord_hwm", "Highest ClOrdID the session sent (strictly increasing).")
    open_orders = _stored_in_fp("open_orders", "Orders sent to the engine and not yet known done (events).")
    tokens = _stored_in_fp("tokens", "The throttle bucket's tokens (negative: not yet started).")
    refill_ns = _stored_in_fp("refill_ns", "When the throttle bucket was last refilled (monotonic ns).")
    last_recv_ns = _stored_in_fp("last_recv_ns", "When its last datagram was accepted (monotonic ns).")
    next_inbound = _stored_in_fp("next_inbound", "The client sequence number expected next.")


class RetransmitOutcome(enum.IntEnum):
    OK = 0
    OUT_OF_RANGE = 1
    REQUEST_LIMIT_EXCEEDED = 2


class ServerSession(SessionContext):
    __slots__ = (
        "uuid", "key", "_addr", "negotiate_ts", "establish_ts", "keepalive_ms",
        "pending", "_sent",
        "journal", "reject_budget", "retransmit_budget", "ended_ns",
        "cod_type", "cod_window_ms", "cod_due_ns",
        "first_outbound",
    )

    def __init__(self, uuid: bytes, session_id: int, key: KeyConfig, addr, retransmit_capacity: int,
                 first_outbound: int = 1) -> None:
        self.uuid = bytes(uuid)
        self.key = key
        super().__init__(session_id, key.account, key.key_id)
        self.ended_ns = 0
        self.addr = addr
        self.state = SessionState.NEGOTIATED
        self.negotiate_ts = 0
        self.establish_ts = 0
        self.keepalive_ms = 0
        # A reused session_id continues its previous occupant's server numbering (SessionStore), so
        # ExecID = session_id << 40 | number stays unique; nothing below first_outbound is this session's.
        self.first_outbound = first_outbound
        self.next_outbound = first_outbound  # the server sequence number the next pending frame takes
        self.last_recv_ns = 0
        self.last_send_ns = 0
        self.pending: list[bytes] = []
        # The newest frames sequenced, up to next_outbound - 1 (it drops the oldest itself).
        self._sent = SentFrames(retransmit_capacity)
        self.journal = None  # RouterLog: told of inbound progress and of every frame sequenced
        # ended_ns: when SessionLayer.sweep first saw it TERMINATED (0: not ended)
        self.reject_budget = TokenBucket()  # rejects naming no sequence number (allow_unnumbered)
        self.retransmit_budget = TokenBucket()  # bytes of retransmission (SessionLayer)
        # Cancel on disconnect, as the last Establish asked (CancelOnDisconnectType bits: 1 silence,
        # 2 Terminate) and when it is due (0 = not armed; SessionLayer arms and disarms it).
        self.cod_type = 0
        self.cod_window_ms = 0
        self.cod_due_ns = 0

    # The C fast path numbers and sends a pass's replies itself (answer_pass.h): kept in fp.
    next_outbound = _stored_in_fp("next_outbound", "The server sequence number the next pending frame takes.")
    last_send_ns = _stored_in_fp("last_send_ns", "When it last sent a sequenced frame (monotonic ns).")

    # The C fast path checks that a datagram's source is bound to an established session
    # (fast_ingest.h, udr_fp_addr_find): the state is kept in fp, and the address by its key there.
    @property
    def state(self) -> SessionState:
        return _STATES[self.fp.state]

    @state.setter
    def state(self, value: SessionState) -> None:
        self.fp.state = value
        if value is not SessionState.TERMINATED:
            self.ended_ns = 0

    @property
    def addr(self):
        """The source address the session is bound to (None: none); fp holds its key for C."""
        return self._addr

    @addr.setter
    def addr(self, value) -> None:
        self._addr = value
        self.fp.addr_key = _fast_path_key(value)

    def set_datagram_key(self, key: bytes, required: bool) -> None:
        """The key of an accepted Establish (SPEC.md 4.9). fp.mac_key is its only copy: the C fast
        path and the Python path (authenticate) both check datagrams against it."""
        fp = self.fp
        lib.udr_mac_key_init(ffi.addressof(fp, "mac_key"), key)
        fp.authenticate = 1 if required else 0

    def authenticate(self, data: bytes) -> bytes | None:
        """data before its MAC frame; None when the session requires a MAC and it is missing or
        wrong. With authentication off a MAC frame is stripped unchecked. The C fast path's check
        (fast_ingest.h udr_fp_authenticate), on the same key."""
        n = lib.udr_fp_authenticate(data, len(data), self.fp)
        return None if n < 0 else data[:n]

    def next_pending_seq(self) -> int:
        """The server sequence number the next frame pushed to pending will take (for ExecID)."""
        return self.next_outbound + len(self.pending)

    def accept_inbound(self, first_seq: int, count: int) -> int:
        """Idempotent flow for a datagram carrying count messages numbered from first_seq.

        Returns how many leading messages are duplicates (to be skipped). A gap queues NotApplied.
        SEQ_OUT_OF_RANGE (nothing changed) when its numbers would pass SEQ_LIMIT or leave a gap
        above MAX_GAP.
        """
        expected = self.next_inbound
        if first_seq + count > SEQ_LIMIT or first_seq - expected > MAX_GAP:
            return SEQ_OUT_OF_RANGE
        if self.journal is not None:
            self.journal.inbound(self)
        if first_seq > expected:
            self.pending.append(not_applied_frame(expected, first_seq - expected))
            self.next_inbound = first_seq + count
            return 0
        self.next_inbound = max(expected, first_seq + count)
        return min(count, expected - first_seq)

    def allow_unnumbered(self, rate_per_s: float, now_ns: int) -> bool:
        """Replies that answer no sequence number, so a session's broken datagrams cannot draw an
        answer each without limit (burst = one second's worth)."""
        return self.reject_budget.take(1.0, rate_per_s, now_ns)

    def flush(self) -> list[bytes]:
        """Sequence the pending frames into datagrams (each starts with Sequence) and keep them."""
        frames, self.pending = self.pending, []
        datagrams = pack_datagrams(frames, self.next_outbound)
        self.sequenced(frames)
        return datagrams

    def sequenced(self, frames: list[bytes]) -> None:
        """frames, numbered from next_outbound, are the session's next messages (flush, or the pass's
        replies built in C): the router log hears of them (they leave only after its commit) and
        the retransmission buffer keeps them."""
        if self.journal is not None and frames:
            self.journal.sent(self.session_id, self.next_outbound, frames)
        self.keep(frames)

    def keep(self, frames: list[bytes]) -> None:
        """frames, numbered from next_outbound, are sequenced: the retransmission buffer keeps them
        (the router log has them already, or hears of them through sequenced)."""
        self._sent.extend(frames)
        self.next_outbound += len(frames)

    def keep_packed(self, data: bytes, ends: bytes | None, base: int, n: int) -> None:
        """keep for a pass's n replies built, numbered and logged in C (answer_pass.h, which moved
        next_outbound past them already): SentFrames.extend_packed."""
        self._sent.extend_packed(data, ends, base, n)

    def retransmit(self, from_seq: int, count: int, max_count: int) -> tuple[RetransmitOutcome, list[bytes]]:
        """The kept frames from_seq .. from_seq + count - 1, as datagrams each starting with Sequence."""
        if count > max_count:
            return RetransmitOutcome.REQUEST_LIMIT_EXCEEDED, []
        first = self.next_outbound - self._sent.kept
        if count == 0 or from_seq < first or from_seq + count > self.next_outbound:
            return RetransmitOutcome.OUT_OF_RANGE, []
        frames = self._sent.frames(from_seq - first, count)
        return RetransmitOutcome.OK, pack_datagrams(frames, from_seq)

    def kept_frames(self) -> list[bytes]:
        """The frames kept for retransmission, numbered from kept_range()[0]."""
        return self._sent.frames()

    def renumber_from(self, first_outbound: int) -> None:
        """A session that has sent nothing yet starts its server numbers at first_outbound."""
        self.first_outbound = self.next_outbound = first_outbound

    def restore(self, next_inbound: int, next_outbound: int, kept: list[bytes], cl_ord_hwm: int,
                open_orders: int) -> None:
        """State rebuilt from the router log after a restart (the peer must negotiate again). Frames
        numbered below first_outbound (a previous occupant's of the id) are never kept."""
        self.state = SessionState.TERMINATED
        self.next_inbound = next_inbound
        next_outbound = max(next_outbound, self.first_outbound)
        self.next_outbound = next_outbound
        owned = next_outbound - self.first_outbound  # SentFrames keeps the newest capacity of them
        self._sent = SentFrames(self._sent.capacity, list(kept)[-owned:] if owned > 0 else [])
        self.cl_ord_hwm = cl_ord_hwm
        self.open_orders = open_orders

    def kept_range(self) -> tuple[int, int]:
        """(first, last + 1) server sequence numbers available for retransmission."""
        return self.next_outbound - self._sent.kept, self.next_outbound
