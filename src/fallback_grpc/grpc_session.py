"""GrpcSession: one key's gRPC flow, a durable router session like a UDP FIXP session.

The session_id comes from the router's SessionStore under a SessionId derived from the key id, so
it is the same after a restart and the engine's ClOrdID backstop applies across restarts. Its flow
is a ServerSession (server_session.py), which is the SessionContext OrderEntry, Risk and the C
batch path take: the order-entry marks are its udr_fp_session, as a UDP session's. Reports
are sequenced and kept by that ServerSession (the UDP Recoverable flow's numbering and
bounded retransmit buffer): StreamExecutions reads that buffer, live or after a reconnect, so the
numbering, ExecID = (session_id << 40) | seq_no and the replay are UDP's.
The flow is journaled in the router log as a UDP session is (SessionStore.adopt): after a router
restart RouterRecovery rebuilds it (numbers, kept reports, ClOrdID mark, open orders) and the router
wraps it here (restored_sessions) before its first drain, so no ExecID is ever given twice.

The session is OrderEntry's sink for its session_id. A call that submitted commands registers an
Answer for each command_seq; the first event of that command addressed to this session (the
engine's ACCEPTED/REJECTED, CANCELED/REPLACED/CANCEL_REJECTED) fills the call's result. A
SubmitOrdersPacked call (PackedCall) registers itself once: its commands are consecutive
command_seqs, and its answers are the report frames themselves. With OrderEntry.fast_route the
session is a raw sink: its reports are encoded in C (fast_egress.h) and copied into packed answers
in C (packed_batch.h), as a UDP session's are.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from udprouter._ring_cffi import ffi, lib

from udprouter._generated.messages import ExecutionReportReject
from udprouter.codec import encode_message
from udprouter.config import KeyConfig
from udprouter.durability.session_store import grpc_session_uuid
from udprouter.order_entry import DRAIN_CAPACITY
from udprouter.reports import EXEC_ID_SEQ_BITS, encode_event
from udprouter.ring import EV_COMMAND_SEQ, EV_KIND, EVENT_LAYOUT
from udprouter.server_session import ServerSession, SessionState

from .call_order import CallOrders
from .convert import FILL_FROM_EVENT
from .packed import PackedCall


class Answer:
    """The results of one call, filled as the engine answers; done once every command answered."""

    __slots__ = ("results", "remaining", "done")

    def __init__(self, results, loop: asyncio.AbstractEventLoop) -> None:
        self.results = results  # sequence of OrderResult / CancelResult / ReplaceResult, by index
        self.remaining = 0
        self.done: asyncio.Future[None] = loop.create_future()

    def expect(self) -> None:
        self.remaining += 1

    def fill(self, index: int, ev: tuple, exec_id: int, now_ns: int) -> None:
        FILL_FROM_EVENT[ev[EV_KIND]](self.results[index], ev, exec_id, now_ns)
        self.remaining -= 1
        if self.remaining == 0 and not self.done.done():
            self.done.set_result(None)


class GrpcSession:
    def __init__(self, key: KeyConfig, session_id: int, retransmit_capacity: int,
                 clock: Callable[[], int] = time.time_ns, first_outbound: int = 1,
                 flow: ServerSession | None = None) -> None:
        # flow: the one RouterRecovery rebuilt from the router log (numbers, kept reports, marks)
        self.flow = flow if flow is not None else ServerSession(
            grpc_session_uuid(key.key_id), session_id, key, None, retransmit_capacity, first_outbound)
        self.flow.state = SessionState.ESTABLISHED
        self.streams_open = 0  # StreamExecutions calls open now (cancel on disconnect watches it)
        self.clock = clock
        self._waiting: dict[int, tuple[Answer, int]] = {}
        self._packed: list[PackedCall] = []
        self._reports = self._report_ends = None  # the raw sink's C buffers, made on first use
        self._changed: asyncio.Future[None] | None = None
        self.call_orders = CallOrders()
        # Drop copy (SPEC 4.12): the router's Dispatcher.copy_reports, given each batch of frames
        # before they are sequenced, as a UDP session's are when it flushes.
        self.copy_reports: Callable[[ServerSession, list[bytes]], None] | None = None

    @property
    def session_id(self) -> int:
        return self.flow.session_id

    def note_marks(self) -> None:
        """Before a call's orders are offered: its ClOrdID mark and open orders go into the router
        log's write-ahead record with them (a UDP session's do so as its datagrams are accepted)."""
        if self.flow.journal is not None:
            self.flow.journal.inbound(self.flow)

    # -- answers --------------------------------------------------------------------------------

    def expect(self, command_seq: int, answer: Answer, index: int) -> None:
        self._waiting[command_seq] = (answer, index)
        answer.expect()

    def forget(self, command_seqs) -> None:
        """Drops answers nobody waits for any more (call cancelled or timed out)."""
        for seq in command_seqs:
            self._waiting.pop(seq, None)

    def expect_packed(self, call: PackedCall) -> None:
        call.expect(asyncio.get_running_loop())
        self._packed.append(call)

    def forget_packed(self, call: PackedCall) -> None:
        if call in self._packed:
            self._packed.remove(call)

    def sink(self) -> Callable[[list[tuple]], None]:
        """The OrderEntry sink: on_events, with on_raw_events as its raw form."""
        def sink(events: list[tuple]) -> None:
            self.on_events(events)

        sink.raw = self.on_raw_events
        return sink

    def on_events(self, events: list[tuple]) -> None:
        """OrderEntry sink: sequence and keep every report, answer the calls waiting for them."""
        now = self.clock()
        flow, waiting, packed = self.flow, self._waiting, self._packed
        base = flow.session_id << EXEC_ID_SEQ_BITS
        for ev in events:
            seq = flow.next_pending_seq()
            frame = encode_event(ev, seq, now)
            flow.pending.append(frame)
            if waiting:
                entry = waiting.pop(ev[EV_COMMAND_SEQ], None)
                if entry is not None:
                    entry[0].fill(entry[1], ev, base | seq, now)
            for call in packed:
                call.answer_frame(ev[EV_COMMAND_SEQ], frame)
        if packed:
            self._packed = [call for call in packed if call.remaining]
        self._commit()

    def on_raw_events(self, events, order, count: int) -> None:
        """on_events for OrderEntry.fast_route: the same frames, encoded in C; packed calls answered in C."""
        if self._reports is None:
            self._reports = ffi.new("char[]", DRAIN_CAPACITY * lib.UDR_FP_MAX_REPORT_FRAME)
            self._report_ends = ffi.new("uint32_t[]", DRAIN_CAPACITY)
        now = self.clock()
        flow = self.flow
        first = flow.next_pending_seq()
        size = lib.udr_fp_encode_reports(events, order, count, first, now, self._reports, self._report_ends)
        data = ffi.buffer(self._reports, size)[:]
        ends = ffi.unpack(self._report_ends, count)
        pending, start = flow.pending, 0
        for end in ends:
            pending.append(data[start:end])
            start = end
        if self._packed:
            for call in self._packed:
                answered = lib.udr_pk_answer(call.c, events, order, count, self._reports, self._report_ends)
                call.answered(answered)
            self._packed = [call for call in self._packed if call.remaining]
        if self._waiting:
            self._answer_waiting(events, order, count, first, now)
        self._commit()

    def _answer_waiting(self, events, order, count: int, first: int, now: int) -> None:
        waiting, unpack = self._waiting, EVENT_LAYOUT.unpack_from
        data = ffi.buffer(events, DRAIN_CAPACITY * EVENT_LAYOUT.size)
        base = self.flow.session_id << EXEC_ID_SEQ_BITS
        for k, index in enumerate(ffi.unpack(order, count)):
            ev = unpack(data, index * EVENT_LAYOUT.size)
            entry = waiting.pop(ev[EV_COMMAND_SEQ], None)
            if entry is not None:
                entry[0].fill(entry[1], ev, base | (first + k), now)

    def record_frames(self, frames: list[bytes]) -> None:
        """Router-side rejects already encoded with their ExecIDs (packed calls), kept in order."""
        self.flow.pending.extend(frames)
        self._commit()

    def record_reject(self, msg) -> None:
        """A router-side reject (risk) takes the next sequence number, like on UDP; sets its ExecID."""
        if msg.__class__ is ExecutionReportReject:
            msg.exec_id = (self.flow.session_id << EXEC_ID_SEQ_BITS) | self.flow.next_pending_seq()
        self.flow.pending.append(encode_message(msg))
        self._commit()

    def _commit(self) -> None:
        if self.copy_reports is not None:
            self.copy_reports(self.flow, self.flow.pending)
        self.flow.flush()  # keeps the frames for StreamExecutions; the datagrams are not sent anywhere
        changed, self._changed = self._changed, None
        if changed is not None and not changed.done():
            changed.set_result(None)

    # -- stream ---------------------------------------------------------------------------------

    def kept_range(self) -> tuple[int, int]:
        """(first kept, next) server sequence numbers."""
        return self.flow.kept_range()

    async def wait_for_reports(self) -> None:
        """Returns once the session has sequenced a report after this call."""
        if self._changed is None:
            self._changed = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._changed)


def restored_sessions(flows: dict[str, ServerSession], order_entry, copy_reports) -> dict[str, GrpcSession]:
    """GrpcSessions around the flows RouterRecovery rebuilt (key_id -> flow), each registered as
    OrderEntry's sink for its session_id at once: the router makes them before its first drain, so
    the events the engine re-emits after a restart are sequenced into them, not undeliverable."""
    sessions = {}
    for key_id, flow in flows.items():
        session = GrpcSession(flow.key, flow.session_id, 0, order_entry.clock, flow=flow)
        session.copy_reports = copy_reports
        order_entry.register_sink(flow.session_id, session.sink(), flow)
        sessions[key_id] = session
    return sessions
