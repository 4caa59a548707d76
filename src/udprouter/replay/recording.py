"""extract_recording: the client sessions in a capture, their application datagrams and recorded answers.

Client and server datagrams are told apart by content (client-only vs server-only templates), so
captures taken anywhere (router --capture, tcpdump on either host) work alike. A client is known
by its source address; the SessionId of its latest Negotiate/Establish names its session. The
recorded Negotiate/Establish/Sequence framing is dropped: replay opens fresh sessions and numbers
the application messages itself.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field

from udprouter._generated.messages import Establish, Negotiate, NotApplied, OrderStatusRequest, Sequence
from udprouter.codec import DecodeError, decode_frames
from udprouter.replay.outcome import (
    CLIENT_APP_MESSAGES,
    NOT_APPLIED,
    AppMessage,
    Outcome,
    answer_by_cl_ord_id,
    answer_by_seq_no,
)
from udprouter.replay.reader import CapturedDatagram

_CLIENT_ONLY = (*CLIENT_APP_MESSAGES, Negotiate, Establish)


@dataclass(frozen=True)
class PacketFilter:
    dst_port: int | None = None
    src_port: int | None = None
    session: str | None = None  # SessionId as 32 hex digits (dashes allowed), None = all

    def ports_match(self, datagram: CapturedDatagram, client_side: bool) -> bool:
        """Port filters apply to client datagrams as written and to answers mirrored."""
        src, dst = (datagram.src, datagram.dst) if client_side else (datagram.dst, datagram.src)
        return (self.dst_port is None or dst[1] == self.dst_port) and (
            self.src_port is None or src[1] == self.src_port
        )

    def session_hex(self) -> str | None:
        if self.session is None or self.session.lower() == "all":
            return None
        return uuid.UUID(self.session).hex


@dataclass(frozen=True, slots=True)
class RecordedDatagram:
    index: int  # frame number in the capture
    ts_ns: int
    session_key: str
    seq_no: int  # the recorded Sequence.NextSeqNo (number of the first message)
    messages: tuple[AppMessage, ...]


@dataclass
class RecordedSession:
    key: str  # SessionId as 32 hex digits, or "ip:port" when the capture missed its Negotiate/Establish
    client_addr: tuple[str, int]
    datagrams: list[RecordedDatagram] = field(default_factory=list)
    # First recorded answer per recorded ClOrdID (what the recorded router said).
    answers: dict[int, Outcome] = field(default_factory=dict)
    seq_to_cl_ord_id: dict[int, int] = field(default_factory=dict)


@dataclass
class Recording:
    sessions: dict[str, RecordedSession] = field(default_factory=dict)
    datagrams: list[RecordedDatagram] = field(default_factory=list)  # every session, capture order
    skipped: Counter = field(default_factory=Counter)  # reason -> datagrams or frames


class _Extractor:
    def __init__(self, flt: PacketFilter) -> None:
        self.flt = flt
        self.want_session = flt.session_hex()
        self.recording = Recording()
        self.session_of_addr: dict[tuple[str, int], str] = {}
        self.seen_seq: set[tuple[str, int]] = set()
        self.pending_answers: list[tuple[CapturedDatagram, list]] = []

    def add(self, datagram: CapturedDatagram) -> None:
        frames = decode_frames(datagram.payload)
        errors = sum(1 for m in frames if m.__class__ is DecodeError)
        if errors:
            self.recording.skipped["undecodable frames"] += errors
        messages = [m for m in frames if m.__class__ is not DecodeError]
        if any(m.__class__ in _CLIENT_ONLY for m in messages):
            if self.flt.ports_match(datagram, client_side=True):
                self._client(datagram, messages)
        elif messages and self.flt.ports_match(datagram, client_side=False):
            self.pending_answers.append((datagram, messages))

    def _client(self, datagram: CapturedDatagram, messages: list) -> None:
        for msg in messages:
            if msg.__class__ in (Negotiate, Establish):
                self.session_of_addr[datagram.src] = msg.session_id.hex()
        apps = tuple(m for m in messages if m.__class__ in CLIENT_APP_MESSAGES)
        queries = sum(1 for m in messages if m.__class__ is OrderStatusRequest)
        if queries:
            self.recording.skipped["OrderStatusRequest (a query about an earlier order)"] += queries
        if not apps:
            return
        key = self.session_of_addr.get(datagram.src, f"{datagram.src[0]}:{datagram.src[1]}")
        if self.want_session is not None and key != self.want_session:
            self.recording.skipped["other session"] += 1
            return
        if messages[0].__class__ is not Sequence:
            self.recording.skipped["application messages without a leading Sequence"] += 1
            return
        seq_no = messages[0].next_seq_no
        if (key, seq_no) in self.seen_seq:
            # The recorded client resent this datagram; the recorded router dropped the copy.
            self.recording.skipped["resent datagram (duplicate sequence number)"] += 1
            return
        self.seen_seq.add((key, seq_no))
        session = self.recording.sessions.get(key)
        if session is None:
            session = self.recording.sessions[key] = RecordedSession(key, datagram.src)
        recorded = RecordedDatagram(datagram.index, datagram.ts_ns, key, seq_no, apps)
        for i, msg in enumerate(apps):
            session.seq_to_cl_ord_id[seq_no + i] = msg.cl_ord_id
        session.datagrams.append(recorded)
        self.recording.datagrams.append(recorded)

    def finish(self) -> Recording:
        """Attach recorded answers once every client session is known."""
        by_addr = {s.client_addr: s for s in self.recording.sessions.values()}
        for datagram, messages in self.pending_answers:
            session = by_addr.get(datagram.dst)
            if session is not None:
                for msg in messages:
                    _record_answer(session, msg)
        return self.recording


def _record_answer(session: RecordedSession, msg: object) -> None:
    answer = answer_by_cl_ord_id(msg)
    if answer is None:
        by_seq = answer_by_seq_no(msg)
        if by_seq is not None and by_seq[0] in session.seq_to_cl_ord_id:
            answer = (session.seq_to_cl_ord_id[by_seq[0]], by_seq[1])
    if answer is not None:
        session.answers.setdefault(*answer)
    elif msg.__class__ is NotApplied:
        for seq in range(msg.from_seq_no, msg.from_seq_no + msg.count):
            if seq in session.seq_to_cl_ord_id:
                session.answers.setdefault(session.seq_to_cl_ord_id[seq], NOT_APPLIED)


def extract_recording(datagrams: list[CapturedDatagram], flt: PacketFilter | None = None) -> Recording:
    """The client sessions of a capture, after the port and session filters."""
    extractor = _Extractor(flt or PacketFilter())
    for datagram in datagrams:
        extractor.add(datagram)
    return extractor.finish()
