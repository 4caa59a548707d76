"""OrderEntryService: the gRPC fallback's servicer, on the router's OrderEntry path and event loop.

Every call is authenticated (BearerAuthenticator), validated as a whole (a malformed request is
INVALID_ARGUMENT naming the field, with a google.rpc.BadRequest in its status details, and nothing
of it is applied), then each order goes through
OrderEntry.submit - the same ClOrdID, risk and ring path as a UDP order - and the call waits for
the engine's answer to each of its commands. Risk rejects are results, not RPC errors; a full ring
is RESOURCE_EXHAUSTED (the whole call) or a BusinessMessageReject result (the orders of a batch
that did not fit); an engine that is down is UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from udprouter._ring_cffi import ffi

from udprouter._generated.messages import BusinessMessageReject, BusinessRejectReason, OrdRejReason
from udprouter.durability.session_store import SessionStore, grpc_session_uuid
from udprouter.fastpath.fast_ingest import FastIngest
from udprouter.order_entry import OrderEntry
from udprouter.server_session import ServerSession
from udprouter.session import COD_ON_SILENCE, SessionLayer

from . import convert
from ._generated import order_entry_pb2 as pb
from ._generated import order_entry_pb2_grpc as pb_grpc
from .bearer_auth import BearerAuthenticator
from .call_order import CallOrder, parse_call_seq
from .grpc_session import Answer, GrpcSession
from .packed import MAX_BATCH_ORDERS, PackedCall, fill_results, pack_orders

log = logging.getLogger("udprouter.grpc")
ANSWER_TIMEOUT_S = 10.0
STREAM_CHUNK = 256
STREAM_START_HEADER = "x-udprouter-stream-start-seq-no"  # StreamExecutions initial metadata
STATUS_DETAILS_KEY = "grpc-status-details-bin"  # google.rpc.Status, as grpcio-status reads it
_NEW_ORDER_TEMPLATE = 101
_ENGINE_BUSY = int(BusinessRejectReason.EngineBusy)
_NOT_AVAILABLE = int(BusinessRejectReason.ApplicationNotAvailable)
_JOURNAL_UNAVAILABLE = int(BusinessRejectReason.JournalUnavailable)


class OrderEntryService(pb_grpc.OrderEntryServicer):
    def __init__(self, order_entry: OrderEntry, auth: BearerAuthenticator, store: SessionStore,
                 retransmit_capacity: int, retransmit_max_count: int,
                 cod_window_max_ms: int = 60_000, fast: FastIngest | None = None,
                 copy_reports: Callable[[ServerSession, list[bytes]], None] | None = None,
                 sessions: dict[str, GrpcSession] | None = None,
                 durable: Callable[[], asyncio.Future | None] | None = None,
                 cod: SessionLayer | None = None) -> None:
        self.order_entry = order_entry
        self.copy_reports = copy_reports  # drop copy (GrpcSession.copy_reports)
        self.cod_window_max_ms = cod_window_max_ms
        self.cod = cod  # the router's SessionLayer: arms, logs and (its timer) carries out the cancels
        self.fast = fast if fast is not None else FastIngest(order_entry.risk, order_entry)  # packed batches
        self.auth = auth
        self.store = store
        self.retransmit_capacity = retransmit_capacity
        self.retransmit_max_count = retransmit_max_count
        # key_id -> its flow; those RouterRecovery rebuilt after a restart are already here
        self.sessions: dict[str, GrpcSession] = sessions if sessions is not None else {}
        # LoopPass.durable: a future until everything sequenced is in the router log (None: it is)
        self.durable = durable if durable is not None else _always_durable

    # -- sessions -------------------------------------------------------------------------------

    async def _session(self, context: grpc.aio.ServicerContext, metadata) -> GrpcSession:
        key = self.auth.authenticate(metadata)
        if key is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                                "authorization metadata 'Bearer <key_id>:<secret>' missing or wrong")
        if key.drop_copy is not None:  # read-only (SPEC 4.12): it places nothing, on either path
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "a drop-copy key is read-only")
        session = self.sessions.get(key.key_id)
        if session is None:
            flow_id = grpc_session_uuid(key.key_id)
            known = self.store.lookup(flow_id)
            if known is not None and known[1] != key.key_id:  # taken before UDP refused it (SPEC 6.2)
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                    f"this key's gRPC SessionId is recorded for key {known[1]!r}: "
                                    "its session is not this key's to take over")
            session_id = self.store.assign(flow_id, key.key_id)
            session = GrpcSession(key, session_id, self.retransmit_capacity, self.order_entry.clock,
                                  self.store.first_outbound(session_id))  # above 1: a reused id
            self.store.adopt(session.flow)  # journaled in the router log, as a UDP session is
            session.copy_reports = self.copy_reports
            self.sessions[key.key_id] = session
            self.order_entry.register_sink(session_id, session.sink(), session.flow)
        return session

    async def _enter(self, context) -> tuple[GrpcSession, CallOrder | None, int]:
        """Authenticates, then waits for the call's turn in its flow (udprouter-call-seq), if any."""
        metadata = context.invocation_metadata()
        session = await self._session(context, metadata)
        call_seq = parse_call_seq(metadata)
        if call_seq is None:
            return session, None, 0
        if call_seq.__class__ is str:
            await abort_invalid_argument(context, call_seq)
        flow, n = call_seq
        order = session.call_orders.get(flow)
        await order.turn(n)
        return session, order, n

    # -- orders ---------------------------------------------------------------------------------

    async def SubmitOrder(self, request, context):
        response = pb.SubmitOrderResponse()
        validated = self._one(request, "order", convert.new_order_from_proto)
        await self._handle(context, validated, [response.result])
        return response

    async def SubmitOrdersBatch(self, request, context):
        """SubmitOrdersPacked's path: the orders packed into NewOrderSingle frames, the results filled
        from the answer frames; a refused batch is worded by the reference conversion (convert.py)."""
        orders, call, error = request.orders, None, None
        if 0 < len(orders) <= MAX_BATCH_ORDERS:
            call, error = PackedCall.decode(pack_orders(orders))
        if call is None:
            error = self._batch(request)[1] or error
        response = pb.SubmitOrdersBatchResponse()
        fill_results(response.results, await self._submit_packed(context, call, error))
        return response

    async def SubmitOrdersPacked(self, request, context):
        call, error = PackedCall.decode(request.orders)
        return pb.SubmitOrdersPackedResponse(results=await self._submit_packed(context, call, error))

    async def _submit_packed(self, context, call: PackedCall | None, error: str | None) -> bytes:
        """_handle for a packed call: the answer frames, in request order."""
        session, order, n = await self._enter(context)
        try:
            if error is not None:
                await abort_invalid_argument(context, error)
            self._apply_packed(session, call)
        finally:
            if order is not None:
                order.release(n)
        c = call.c
        if c.busy == c.count:
            await self._abort_refused(context, c.busy_reason)
        if call.remaining:
            await self._wait(call, context, lambda: session.forget_packed(call))
        await self._logged(context)
        return call.results()

    async def CancelOrder(self, request, context):
        response = pb.CancelOrderResponse()
        validated = self._one(request, "cancel", convert.cancel_from_proto)
        await self._handle(context, validated, [response.result])
        return response

    async def ReplaceOrder(self, request, context):
        response = pb.ReplaceOrderResponse()
        validated = self._one(request, "replace", convert.replace_from_proto)
        await self._handle(context, validated, [response.result])
        return response

    async def MassCancel(self, request, context):
        """OrderMassActionRequest on the session's own orders: the report is the result; each
        order's ExecutionReportCancel (CancelReason MassCancel) follows on StreamExecutions."""
        response = pb.MassCancelResponse()
        validated = self._one(request, "request", convert.mass_action_from_proto)
        await self._handle(context, validated, [response.result])
        return response

    async def OrderStatus(self, request, context):
        """OrderStatusRequest is the FIX message itself (the method's request type by name)."""
        response = pb.OrderStatusResponse()
        msg, error = convert.status_from_proto(request)
        await self._handle(context, ([msg], None) if error is None else (None, error), [response.result])
        return response

    @staticmethod
    def _one(request, field: str, converter):
        if not request.HasField(field):
            return None, f"{field}: required"
        msg, error = converter(getattr(request, field))
        return ([msg], None) if error is None else (None, f"{field}.{error}")

    @staticmethod
    def _batch(request):
        orders = request.orders
        if not 0 < len(orders) <= MAX_BATCH_ORDERS:
            return None, f"orders: expected 1..{MAX_BATCH_ORDERS} orders, got {len(orders)}"
        msgs = []
        for index, order in enumerate(orders):
            msg, error = convert.new_order_from_proto(order)
            if error is not None:
                return None, f"orders[{index}].{error}"
            msgs.append(msg)
        return msgs, None

    async def _handle(self, context, validated, results) -> None:
        """The shape of every unary order-entry call: auth, turn, refuse a malformed request whole,
        apply, release the turn, then wait for the engine's answer. results gets one answer per message."""
        msgs, error = validated
        session, order, n = await self._enter(context)
        try:
            if error is not None:
                await abort_invalid_argument(context, error)
            answer, seqs, busy, refused = self._apply(session, msgs, results)
        finally:
            if order is not None:
                order.release(n)
        if busy == len(msgs):
            await self._abort_refused(context, refused)
        if answer.remaining:
            await self._wait(answer, context, lambda: session.forget(seqs))
        await self._logged(context)

    def _apply(self, session: GrpcSession, msgs, results):
        """Submits msgs in order (synchronously: nothing else runs in between) and flushes them to the
        ring in one offer. Router-side rejects are filled in at once; the rest await the engine."""
        entry = self.order_entry
        now = time.time_ns()
        answer = Answer(results, asyncio.get_running_loop())
        session.note_marks()
        seqs, refused, busy = [], 0, 0
        for index, msg in enumerate(msgs):
            out = results[index]
            outcome = entry.submit(session.flow, msg, now)
            if outcome.__class__ is int:
                session.expect(outcome, answer, index)
                seqs.append(outcome)
            elif outcome.__class__ is BusinessMessageReject:
                refused = outcome.business_reject_reason
                busy += 1
                outcome.ref_seq_num = 0  # a unary call's; a batch's orders are answered in C
                convert.fill_from_reject(out, outcome)
            else:
                session.record_reject(outcome)
                convert.fill_from_reject(out, outcome)
        if seqs:
            entry.flush(now)
        return answer, seqs, busy, refused

    def _apply_packed(self, session: GrpcSession, call: PackedCall) -> None:
        """_apply for a packed call, in C (FastIngest.apply_packed); Python only for its rejects."""
        entry, c = self.order_entry, call.c
        c.next_server_seq = session.flow.next_pending_seq()
        session.note_marks()
        # OrderEntry._busy's reason (FastIngest.begin makes the C batch unavailable for both)
        c.busy_reason = _NOT_AVAILABLE if not entry.available else \
            _JOURNAL_UNAVAILABLE if entry.journal_unavailable else _ENGINE_BUSY
        self.fast.apply_packed(call, session.flow.fp, entry.clock())  # OrderEntry stamps its rejects so
        if c.commands:
            session.expect_packed(call)
        if c.rejects:  # risk rejects: on the session's stream and in the metrics, as _apply's are
            counts = entry.risk.rejects
            for i in ffi.unpack(c.reject_index, c.rejects):
                counts[OrdRejReason(c.outcome[i]).name] += 1
            session.record_frames([call.frame(i) for i in ffi.unpack(c.reject_index, c.rejects)])
        if c.busy:
            if c.busy_reason != _JOURNAL_UNAVAILABLE:
                entry.engine_busy += c.busy
            entry.risk.rejects[BusinessRejectReason(c.busy_reason).name] += c.busy

    async def _abort_refused(self, context, reason: int) -> None:
        if reason == _ENGINE_BUSY:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                "engine busy: inbound ring full, nothing applied")
        if reason == _JOURNAL_UNAVAILABLE:
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                "journal cannot be written (disk full or I/O error), nothing applied")
        await context.abort(grpc.StatusCode.UNAVAILABLE, "engine not available, nothing applied")

    async def _wait(self, answer: Answer | PackedCall, context, forget) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(answer.done), ANSWER_TIMEOUT_S)
        except TimeoutError:
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                f"engine did not answer within {ANSWER_TIMEOUT_S} s; orders may have been"
                                " applied: see StreamExecutions")
        finally:
            if answer.remaining:
                forget()

    async def _logged(self, context) -> None:
        """A result leaves only once the reports it names are in the router log, as a UDP reply
        waits for its pass's commit: a sequence number seen by a client is never given again after a
        crash. (A result filled by a drain is committed by that pass before this runs: no wait.)"""
        pending = self.durable()
        if pending is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(pending), ANSWER_TIMEOUT_S)
        except TimeoutError:
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                "journal cannot be written (disk full or I/O error); the orders' reports"
                                " follow on StreamExecutions once it can")

    # -- executions -----------------------------------------------------------------------------

    async def StreamExecutions(self, request, context):
        """The session's reports from request.from_seq_no (0: from now on), kept open; the initial
        metadata carries STREAM_START_HEADER, the seq_no of the first report the stream delivers."""
        session = await self._session(context, context.invocation_metadata())
        first, end = session.kept_range()
        next_seq = request.from_seq_no or end
        if next_seq > end:
            await abort_invalid_argument(
                context, f"from_seq_no: {next_seq} is beyond the next sequence number {end}")
        self._stream_opened(session, request)
        # On the RPC's end, however it ends: a client that went away leaves this generator suspended
        # (its finally would run only when the garbage collector gets to it). Registered before the
        # first await: a client that cancels as soon as it has the headers ends the RPC there, and
        # this method never resumes.
        context.add_done_callback(lambda _: self._stream_closed(session))
        pending = self.durable()  # its cancel on disconnect is in router.log before the stream starts
        if pending is not None:
            await asyncio.shield(pending)
        # The headers say where the stream starts: a client asking for "from now on" (0) learns the
        # first seq_no it will see, and that every later report will reach it.
        await context.send_initial_metadata(((STREAM_START_HEADER, str(next_seq)),))
        async for report in self._stream(session, context, next_seq):
            yield report

    # -- cancel on disconnect: the UDP session's (SessionLayer, CodRecord in router.log) ---------

    def _stream_opened(self, session: GrpcSession, request) -> None:
        """A StreamExecutions is the session's link, as an Establish is a UDP session's: it disarms an
        armed cancel on disconnect. A stream asking for it (bit 1, CancelOnDisconnect) has the cancel
        armed when the session's last open stream ends; the first stream of a new link (none open)
        starts afresh, asking only what its own request asks."""
        flow = session.flow
        if session.streams_open == 0:
            flow.cod_type = 0
        session.streams_open += 1
        if request.cancel_on_disconnect_type & COD_ON_SILENCE:
            flow.cod_type = COD_ON_SILENCE
            flow.cod_window_ms = min(request.cod_timeout_window, self.cod_window_max_ms)
        flow.keepalive_ms = 0  # no keepalive lapse: after a crash the window runs from the restart
        if self.cod is not None:
            self.cod.disarm_cod(flow)
            if flow.journal is not None:
                flow.journal.note_cod(flow)

    def _stream_closed(self, session: GrpcSession) -> None:
        session.streams_open -= 1
        flow = session.flow
        if session.streams_open or not flow.cod_type & COD_ON_SILENCE or self.cod is None:
            return
        log.info("grpc session %d: stream closed, cancel on disconnect in %d ms", flow.session_id,
                 flow.cod_window_ms)
        # Armed, logged, and carried out by the router's timer (Dispatcher), as a silent UDP session's.
        self.cod.arm_cod(flow, self.order_entry.clock())
        self.durable()  # the armed cancel reaches router.log without waiting for other traffic

    async def _stream(self, session: GrpcSession, context, next_seq: int):
        logged_end = 0  # the reports below it are in the router log
        while True:
            first, end = session.kept_range()
            if next_seq < first:
                await context.abort(grpc.StatusCode.OUT_OF_RANGE,
                                    f"from_seq_no: {next_seq} is no longer kept; the first kept is {first}")
            if next_seq == end:
                await session.wait_for_reports()
                continue
            if next_seq >= logged_end:  # a report is streamed only once it is in the router log
                pending, logged_end = self.durable(), end
                if pending is not None:
                    await asyncio.shield(pending)  # those sequenced up to end are logged now
                    continue
            count = min(logged_end - next_seq, STREAM_CHUNK, self.retransmit_max_count)
            yield pb.StreamExecutionsResponse(reports=stream_reports(session, next_seq, count))
            next_seq += count


def _always_durable() -> None:
    """No router log (durability none, or a service outside a router): nothing to wait for."""


async def abort_invalid_argument(context, error: str) -> None:
    """INVALID_ARGUMENT with the message, and a google.rpc.Status carrying a BadRequest whose field
    violation names the field (error is "<field path>: <why>", as convert.py words it)."""
    field, _, why = error.partition(": ")
    detail = error_details_pb2.BadRequest(
        field_violations=[error_details_pb2.BadRequest.FieldViolation(field=field, description=why or error)])
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=error)
    status.details.add().Pack(detail)
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, error,
                        trailing_metadata=((STATUS_DETAILS_KEY, status.SerializeToString()),))


def stream_reports(session: GrpcSession, from_seq: int, count: int) -> list[pb.ExecutionReport]:
    """Kept reports from_seq .. from_seq + count - 1, decoded from the session's buffer."""
    from udprouter.codec import decode_datagram

    _, datagrams = session.flow.retransmit(from_seq, count, count)
    out = []
    for datagram in datagrams:
        entries = decode_datagram(datagram)
        seq = entries[0].next_seq_no
        for msg in entries[1:]:
            if msg.__class__ in convert.STREAMED:
                out.append(convert.execution_report(seq, msg))
            seq += 1
    return out
