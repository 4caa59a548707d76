"""GrpcSession: one key's gRPC flow, a durable router session like a UDP FIXP session.

The session_id comes from the router's SessionStore under a SessionId derived from the key id, so
it is the same after a restart and the engine's ClOrdID backstop applies across restarts. Reports
are sequenced and kept by the router's own ServerSession (the UDP Recoverable flow's numbering and
bounded retransmit buffer): StreamExecutions reads that buffer, live or after a reconnect, so the
numbering, ExecID = (session_id << 40) | seq_no and the replay are UDP's.

The session is OrderEntry's sink for its session_id. A call that submitted commands registers an
Answer for each command_seq; the first event of that command addressed to this session (the
engine's ACCEPTED/REJECTED, CANCELED/REPLACED/CANCEL_REJECTED) fills the call's result.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from udprouter._generated.messages import ExecutionReportReject
from udprouter.codec import encode_message
from udprouter.config import KeyConfig
from udprouter.reports import EV_COMMAND_SEQ, EV_KIND, EXEC_ID_SEQ_BITS, encode_event
from udprouter.server_session import ServerSession, SessionState

from .call_order import CallOrders
from .convert import FILL_FROM_EVENT

# Fixed namespace: the SessionId of a key's gRPC flow is uuid5(namespace, "grpc:" + key_id).
GRPC_SESSION_NAMESPACE = uuid.UUID("6f0c39e4-5a43-4c1c-9b8e-2b1f6d1d7a10")


def grpc_session_uuid(key_id: str) -> bytes:
    return uuid.uuid5(GRPC_SESSION_NAMESPACE, f"grpc:{key_id}").bytes


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
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.flow = ServerSession(grpc_session_uuid(key.key_id), session_id, key, None, retransmit_capacity)
        self.flow.state = SessionState.ESTABLISHED
        self.streams_open = 0  # StreamExecutions calls open now (cancel on disconnect watches it)
        self.ctx = self.flow.ctx
        self.clock = clock
        self._waiting: dict[int, tuple[Answer, int]] = {}
        self._changed: asyncio.Future[None] | None = None
        self.call_orders = CallOrders()

    @property
    def session_id(self) -> int:
        return self.ctx.session_id

    # -- answers --------------------------------------------------------------------------------

    def expect(self, command_seq: int, answer: Answer, index: int) -> None:
        self._waiting[command_seq] = (answer, index)
        answer.expect()

    def forget(self, command_seqs) -> None:
        """Drops answers nobody waits for any more (call cancelled or timed out)."""
        for seq in command_seqs:
            self._waiting.pop(seq, None)

    def on_events(self, events: list[tuple]) -> None:
        """OrderEntry sink: sequence and keep every report, answer the calls waiting for them."""
        now = self.clock()
        flow, waiting = self.flow, self._waiting
        base = flow.session_id << EXEC_ID_SEQ_BITS
        for ev in events:
            seq = flow.next_pending_seq()
            flow.pending.append(encode_event(ev, seq, now))
            if waiting:
                entry = waiting.pop(ev[EV_COMMAND_SEQ], None)
                if entry is not None:
                    entry[0].fill(entry[1], ev, base | seq, now)
        self._commit()

    def record_reject(self, msg) -> None:
        """A router-side reject (risk) takes the next sequence number, like on UDP; sets its ExecID."""
        if msg.__class__ is ExecutionReportReject:
            msg.exec_id = (self.flow.session_id << EXEC_ID_SEQ_BITS) | self.flow.next_pending_seq()
        self.flow.pending.append(encode_message(msg))
        self._commit()

    def _commit(self) -> None:
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
