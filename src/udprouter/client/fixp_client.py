"""udprouter.client: an asyncio FIXP-over-UDP client for order entry (tests, tools, users).

    client = await Client.connect("127.0.0.1", 9000, "demo", "demo-secret")
    cl = await client.send_order(security_id=1, side=Side.Buy, price=100_000_000_000, qty=10)
    report = await client.first_ack(cl)          # ExecutionReportNew / Reject / BusinessMessageReject
    async for report in client.reports(): ...    # every application message, in server order
    await client.close()                         # Terminate

A drop-copy key (SPEC.md 4.12) connects the same way; its reports() are CopiedReport values (the
DropCopy frame's SessionNumber and Account with the copied report), in the drop-copy session's own
sequence order and recovered by RetransmitRequest like any report. Orders sent on it are refused.

Client -> server (Idempotent): each datagram starts with Sequence; orders take consecutive numbers.
A datagram without any answer within resend_timeout is resent with the same numbers (the server
drops duplicates). NotApplied: those orders are resent under new numbers and new ClOrdIDs
(resend_not_applied=True); their first_ack futures follow them. Server -> client (Recoverable): a
gap in the server's numbers triggers a RetransmitRequest; reports are delivered in order.
Every datagram after an accepted Establish ends with a MAC under that Establish's datagram key
(SPEC.md 4.9), added as it leaves: a resend after a re-establish is signed with the new key.
Heartbeat: Sequence after keepalive_ms / 2 idle (the server terminates a session silent for 3
intervals; twice per interval, a few lost heartbeats never come close to that). ClOrdIDs increase
from a time-based start unless given, taken when their datagram is sent (so they rise with the
sequence numbers even when NotApplied resends interleave).
Server restart: when the server stays silent for SILENCE_LAPSE keepalive intervals, or answers
NotAuthorized (it no longer knows our address), or terminates the session with a code other than
Finished (keepalive lapsed), the client negotiates and establishes the same session again (for up
to reconnect_s), with NextSeqNo = its first unanswered number; then it resends every unanswered
datagram (the server drops what it had applied) and asks a RetransmitRequest for the reports
between what it has and the server's next number.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import time

from udprouter._generated.messages import (
    BusinessMessageReject,
    BusinessRejectReason,
    CancelOnDisconnectType,
    DropCopy,
    Establish,
    EstablishmentAck,
    EstablishmentReject,
    FlowType,
    MassActionScope,
    MassActionType,
    Negotiate,
    NegotiationReject,
    NegotiationResponse,
    NewOrderSingle,
    NotApplied,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    OrderMassActionRequest,
    OrderStatusRequest,
    OrdType,
    Retransmission,
    RetransmitReject,
    RetransmitRejectCode,
    RetransmitRequest,
    Sequence,
    Terminate,
    TerminationCode,
    TimeInForce,
)
from udprouter.auth import sign
from udprouter.client.flows import InboundFlow, OutboundFlow
from udprouter.codec import DecodeError, decode_frames, encode_message
from udprouter.datagram_mac import DatagramMac, datagram_key
from udprouter.errors import SessionError

SILENCE_LAPSE = 3
NOT_AUTHORIZED = BusinessRejectReason.NotAuthorized
MAX_ORDERS_PER_DATAGRAM = 20
HEARTBEATS_PER_INTERVAL = 2
WINDOW_DATAGRAMS = 64
SOCKET_BUFFER_BYTES = 4 << 20


@dataclasses.dataclass(frozen=True, slots=True)
class CopiedReport:
    """One drop copy: the session (router session number) and account the report went to, and the
    report itself (ExecutionReport* or OrderCancelReject, as that session got it)."""

    session_number: int
    account: int
    report: object


def fold_copies(msgs: list) -> list:
    """A DropCopy frame and the report after it are one message (one server sequence number)."""
    if not any(m.__class__ is DropCopy for m in msgs):
        return msgs
    out, mark = [], None
    for msg in msgs:
        if msg.__class__ is DropCopy:
            mark = msg
        elif mark is not None:
            out.append(CopiedReport(mark.session_number, mark.account, msg))
            mark = None
        else:
            out.append(msg)
    return out


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, client: Client) -> None:
        self.client = client

    def datagram_received(self, data: bytes, addr) -> None:
        self.client._on_datagram(data)

    def error_received(self, exc: Exception) -> None:
        self.client.errors.append(exc)
        self.client.send_errors += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.client._socket_released.set()


class Client:
    def __init__(self, key_id: str, secret: str, session_id: bytes, *, keepalive_ms: int,
                 resend_timeout: float, resend_not_applied: bool, cancel_on_disconnect: int = 0,
                 cod_window_ms: int = 0) -> None:
        self.key_id = key_id
        self.cod_type = CancelOnDisconnectType(cancel_on_disconnect)
        self.cod_window_ms = cod_window_ms
        self._secret = secret
        self.session_id = session_id
        self.keepalive_ms = keepalive_ms
        self.transport: asyncio.DatagramTransport | None = None
        self.out = OutboundFlow(resend_timeout, resend_not_applied)
        self.inbound = InboundFlow()
        self.errors: list[Exception] = []
        self.bytes_sent = 0  # UDP payload bytes handed to the socket, session messages included
        self.send_errors = 0  # socket errors the transport reported (refused, no buffer space)
        self.terminated: Terminate | None = None
        self._session_waiter: tuple[tuple[type, ...], asyncio.Future] | None = None
        self._next_cl_ord_id = time.time_ns() // 1000
        self._last_send = 0.0
        self._last_recv = time.monotonic()
        self.reconnect_s = 30.0
        self.reestablishing = False
        self.reestablishments = 0
        self.server_terminations = 0
        self._tasks: list[asyncio.Task] = []
        self.window = WINDOW_DATAGRAMS
        self._window_open = asyncio.Event()
        self._socket_released = asyncio.Event()
        self._mac: DatagramMac | None = None  # the datagram key of the accepted Establish
        self._replay_from: int | None = None

    # -- connection -----------------------------------------------------------------------------

    @classmethod
    async def connect(cls, host: str, port: int, key_id: str, secret: str, session_id: bytes | None = None, *,
                      keepalive_ms: int = 1000, timeout: float = 0.5, retries: int = 6,
                      resend_timeout: float = 0.5, resend_not_applied: bool = True,
                      next_seq_no: int = 1, cancel_on_disconnect: int = 0,
                      cod_window_ms: int = 0, replay_from: int | None = None) -> Client:
        """Negotiate + Establish (each retried on timeout); raises SessionError when refused.

        cancel_on_disconnect: CancelOnDisconnectType (1 when the session goes silent past the
        keepalive lapse, 2 on Terminate, 3 both), carried out cod_window_ms after the event unless
        the session is established again by then. replay_from: the server sequence number to
        receive from when taking up a session this process did not hold (the reports sent after it,
        cancels on disconnect included, come by retransmission); None = from now on."""
        client = cls(key_id, secret, session_id or os.urandom(16), keepalive_ms=keepalive_ms,
                     resend_timeout=resend_timeout, resend_not_applied=resend_not_applied,
                     cancel_on_disconnect=cancel_on_disconnect, cod_window_ms=cod_window_ms)
        client.out.next_seq = next_seq_no
        client._replay_from = replay_from
        loop = asyncio.get_running_loop()
        client.transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(client),
                                                                  remote_addr=(host, port))
        sock = client.transport.get_extra_info("socket")
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER_BYTES)
        try:
            await client._handshake(timeout, retries)
        except BaseException:
            client.transport.close()
            raise
        client._tasks.append(loop.create_task(client._housekeeping()))
        return client

    async def _handshake(self, timeout: float, retries: int, resume: bool = False) -> None:
        ts = time.time_ns()
        creds = sign(self._secret, "Negotiate", self.session_id, ts, self.key_id)
        negotiate = encode_message(Negotiate(self.session_id, ts, FlowType.Idempotent, creds))
        reply = await self._request(negotiate, (NegotiationResponse, NegotiationReject), timeout, retries,
                                    sign=False)
        if isinstance(reply, NegotiationReject):
            raise SessionError(f"negotiation rejected: {reply.code.name} {reply.reason}")
        ts = time.time_ns()
        creds = sign(self._secret, "Establish", self.session_id, ts, self.key_id)
        next_seq = self.out.lowest_unanswered() if resume else self.out.next_seq
        msg = Establish(self.session_id, ts, self.keepalive_ms, next_seq, self.cod_type, self.cod_window_ms,
                        creds)
        answers = (EstablishmentAck, EstablishmentReject)
        reply = await self._request(encode_message(msg), answers, timeout, retries, sign=False)
        if isinstance(reply, EstablishmentReject):
            raise SessionError(f"establishment rejected: {reply.code.name} {reply.reason}")
        self._mac = DatagramMac(datagram_key(self._secret, self.session_id, ts, self.key_id))
        if resume:
            self.inbound.announce(reply.next_seq_no or 1)
        elif self._replay_from is not None:
            self.inbound.expected = self.inbound.highest = self._replay_from
            self.inbound.announce(reply.next_seq_no or 1)
        else:
            self.inbound.expected = reply.next_seq_no or 1

    async def _request(self, payload: bytes, answers: tuple[type, ...], timeout: float, retries: int,
                       sign: bool = True):
        """Sends payload and waits for one of answers, resending the same bytes on timeout."""
        for _ in range(retries):
            future = asyncio.get_running_loop().create_future()
            self._session_waiter = (answers, future)
            self._send(payload, sign)
            try:
                return await asyncio.wait_for(future, timeout)
            except TimeoutError:
                continue
            finally:
                self._session_waiter = None
        raise SessionError(f"no answer to {answers[0].__name__}'s request after {retries} tries")

    # -- order entry ----------------------------------------------------------------------------

    def next_cl_ord_id(self) -> int:
        self._next_cl_ord_id += 1
        return self._next_cl_ord_id

    def new_order(self, security_id: int, side: int, price: int, qty: int, ord_type: int = OrdType.Limit,
                  time_in_force: int = TimeInForce.Day, cl_ord_id: int | None = None) -> NewOrderSingle:
        return NewOrderSingle(cl_ord_id or self.next_cl_ord_id(), time.time_ns(), price, qty, security_id,
                              side, ord_type, time_in_force)

    async def send_order(self, security_id: int, side: int, price: int, qty: int, **kw) -> int:
        """Sends one order in its own datagram; returns its ClOrdID."""
        order = dict(security_id=security_id, side=side, price=price, qty=qty, **kw)
        return (await self.send_messages([order]))[0]

    async def send_orders(self, orders: list[NewOrderSingle | dict]) -> list[int]:
        """Sends orders batched into datagrams of up to 20; returns their ClOrdIDs.

        A dict becomes a NewOrderSingle (ClOrdID assigned) only when its datagram is sent, so
        ClOrdIDs rise with sequence numbers even when NotApplied resends interleave.
        """
        return await self.send_messages(orders)

    async def cancel(self, orig_cl_ord_id: int, security_id: int, side: int,
                     cl_ord_id: int | None = None) -> int:
        def msg():
            return OrderCancelRequest(cl_ord_id or self.next_cl_ord_id(), orig_cl_ord_id, time.time_ns(),
                                      security_id, side)
        return (await self.send_messages([msg]))[0]

    async def replace(self, orig_cl_ord_id: int, security_id: int, side: int, price: int, qty: int,
                      cl_ord_id: int | None = None) -> int:
        def msg():
            return OrderCancelReplaceRequest(cl_ord_id or self.next_cl_ord_id(), orig_cl_ord_id,
                                             time.time_ns(), price, qty, security_id, side)
        return (await self.send_messages([msg]))[0]

    async def cancel_all(self, security_id: int | None = None, side: int | None = None,
                         cl_ord_id: int | None = None) -> int:
        """OrderMassActionRequest for this session's orders (one SecurityID's, or all; one side or
        both); returns its ClOrdID. The answer is an OrderMassActionReport (TotalAffectedOrders)
        followed by an ExecutionReportCancel (CancelReason MassCancel) per order."""
        scope = MassActionScope.AllOrders if security_id is None else MassActionScope.AllOrdersForASecurity

        def msg():
            return OrderMassActionRequest(cl_ord_id or self.next_cl_ord_id(), time.time_ns(), security_id,
                                          MassActionType.CancelOrders, scope, side)
        return (await self.send_messages([msg]))[0]

    async def order_status(self, cl_ord_id: int, security_id: int) -> int:
        """OrderStatusRequest for the order sent under cl_ord_id; the answer is an
        ExecutionReportStatus with that ClOrdID (OrdStatus Rejected: the router knows no such order)."""
        await self.send_messages([OrderStatusRequest(cl_ord_id, time.time_ns(), security_id)])
        return cl_ord_id

    async def send_messages(self, msgs: list) -> list[int]:
        """Application messages, numbered and batched (<= 20 per datagram); returns their ClOrdIDs.

        At most `window` datagrams wait for answers at a time: a blast larger than the socket
        buffers would only be lost and come back as NotApplied. Dict entries (new_order keywords)
        and callables (returning a message) are made after the wait, right before their datagram
        is numbered: a ClOrdID taken earlier could be overtaken by a NotApplied resend's new one
        (the server would then reject it as a duplicate ClOrdID).
        """
        loop = asyncio.get_running_loop()
        ids = []
        for start in range(0, len(msgs), MAX_ORDERS_PER_DATAGRAM):
            while self.out.datagrams_in_flight >= self.window and self.terminated is None:
                self._window_open.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._window_open.wait(), self.out.resend_timeout)
            batch = [self._materialize(m) for m in msgs[start:start + MAX_ORDERS_PER_DATAGRAM]]
            self._send(self.out.datagram(batch, loop, time.monotonic()))
            ids += [m.cl_ord_id for m in batch]
        return ids

    def _materialize(self, entry):
        if isinstance(entry, dict):
            return self.new_order(**entry)
        return entry() if callable(entry) else entry

    def send_raw(self, payload: bytes, sign: bool = True) -> None:
        """Sends bytes as they are (tests of malformed input), with the session's MAC unless sign=False."""
        self._send(payload, sign)

    def first_ack(self, cl_ord_id: int) -> asyncio.Future:
        """Resolves with the first answer to cl_ord_id (a report or a BusinessMessageReject)."""
        return self.out.ack_future(cl_ord_id, asyncio.get_running_loop())

    async def reports(self):
        """Every application message from the server, in server sequence order."""
        while True:
            yield await self.inbound.queue.get()

    async def next_report(self, timeout: float = 2.0):
        return await asyncio.wait_for(self.inbound.queue.get(), timeout)

    # -- receive --------------------------------------------------------------------------------

    def _on_datagram(self, data: bytes) -> None:
        self._last_recv = time.monotonic()
        entries = decode_frames(data)
        first = entries[0]
        if first.__class__ is Sequence:
            self._on_sequenced(first.next_seq_no, fold_copies(entries[1:]))
            return
        for entry in entries:
            self._on_session_message(entry)

    def _on_sequenced(self, first_seq: int, msgs: list) -> None:
        self.inbound.receive(first_seq, msgs)
        for msg in self.inbound.drain():
            self._on_application(msg)
        gap = self.inbound.gap(time.monotonic())
        if gap is not None:
            self._request_retransmit(*gap)

    def _on_application(self, msg) -> None:
        cls = msg.__class__
        if cls is NotApplied:
            resend = self.out.not_applied(msg.from_seq_no, msg.count, self.next_cl_ord_id)
            if resend:
                loop = asyncio.get_running_loop()
                for start in range(0, len(resend), MAX_ORDERS_PER_DATAGRAM):
                    self._send(self.out.datagram(resend[start:start + MAX_ORDERS_PER_DATAGRAM], loop,
                                                 time.monotonic()))
        elif cls is BusinessMessageReject:
            self.out.answered_seq(msg.ref_seq_num, msg)
        elif cls is not DecodeError and cls is not CopiedReport:
            self.out.answered(msg.cl_ord_id, msg)
        if self.out.datagrams_in_flight < self.window:
            self._window_open.set()
        self.inbound.queue.put_nowait(msg)

    def _on_session_message(self, msg) -> None:
        waiter = self._session_waiter
        if waiter is not None and isinstance(msg, waiter[0]) and not waiter[1].done():
            if msg.__class__ is EstablishmentAck:
                self.inbound.ack_arrived()
            waiter[1].set_result(msg)
        elif msg.__class__ is RetransmitReject:
            code = msg.code
            if code in (RetransmitRejectCode.BudgetExceeded, RetransmitRejectCode.RequestLimitExceeded) \
                    and self.inbound.refused_for_budget(code == RetransmitRejectCode.RequestLimitExceeded):
                return  # still kept by the server: asked again, for less if it was too large
            self.inbound.give_up_gap()
            for report in self.inbound.drain():
                self._on_application(report)
        elif msg.__class__ is Terminate:
            if msg.code == TerminationCode.Finished:
                self.terminated = msg
            else:
                # The server ended the session (e.g. keepalive lapsed while this process was too
                # busy to heartbeat): the session is durable, so establish it again and recover.
                self.server_terminations += 1
                self._server_lost()
        elif msg.__class__ is Retransmission:
            pass  # the retransmitted messages follow in sequenced datagrams
        elif msg.__class__ is BusinessMessageReject and msg.business_reject_reason == NOT_AUTHORIZED:
            self._server_lost()  # unsequenced NotAuthorized: the server does not know this session

    def _request_retransmit(self, from_seq: int, count: int) -> None:
        self._send(encode_message(RetransmitRequest(self.session_id, time.time_ns(), from_seq, count)))

    # -- housekeeping ---------------------------------------------------------------------------

    def _send(self, payload: bytes, sign: bool = True) -> None:
        self._last_send = time.monotonic()
        self.bytes_sent += len(payload)
        if self.transport is not None:
            self.transport.sendto(self._mac.sign(payload) if sign and self._mac is not None else payload)

    def _server_lost(self) -> None:
        if not self.reestablishing and self.transport is not None and self.terminated is None:
            self.reestablishing = True
            self._tasks.append(asyncio.get_running_loop().create_task(self._reestablish()))

    async def _reestablish(self, timeout: float = 0.5) -> None:
        """Negotiate + Establish the same session again until it works or reconnect_s passes."""
        deadline = time.monotonic() + self.reconnect_s
        try:
            while time.monotonic() < deadline and self.terminated is None:
                try:
                    await self._handshake(timeout, 2, resume=True)
                except SessionError as exc:
                    if "rejected" in str(exc):
                        self.errors.append(exc)
                        return
                    continue
                self.reestablishments += 1
                self._last_recv = time.monotonic()
                for payload in self.out.resend_all(self._last_recv):
                    self._send(payload)
                gap = self.inbound.gap(self._last_recv)
                if gap is not None:
                    self._request_retransmit(*gap)
                return
        finally:
            self.reestablishing = False

    async def _housekeeping(self) -> None:
        interval = self.keepalive_ms / 1000 / HEARTBEATS_PER_INTERVAL
        tick = min(interval / 2, self.out.resend_timeout / 2, 0.1)
        while self.terminated is None:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if self.reestablishing:
                continue
            if now - self._last_recv > SILENCE_LAPSE * self.keepalive_ms / 1000:
                self._server_lost()
                continue
            for payload in self.out.due_resends(now):
                self._send(payload)
            gap = self.inbound.gap(now)
            if gap is not None:
                self._request_retransmit(*gap)
            if now - self._last_send >= interval:
                self._send(encode_message(Sequence(self.out.next_seq)))

    async def close(self, timeout: float = 0.5, terminate: bool = True) -> None:
        """Terminate (Finished), wait briefly for the server's Terminate, release the socket: on
        return its port is free (the transport closes on a later loop pass; this waits for it).
        terminate=False goes silent instead, as a client that crashed or lost its network would."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.transport is None:
            return
        if self.terminated is None and terminate:
            with contextlib.suppress(SessionError):
                await self._request(encode_message(Terminate(self.session_id, TerminationCode.Finished, "")),
                                    (Terminate,), timeout, 1)
        self.transport.close()
        self.transport = None
        await self._socket_released.wait()
