"""Mass cancel, order status and cancel on disconnect over the gRPC OrderEntry service, against the
real router and engine: the same engine commands and reports as over UDP."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from grpc_router import KEYS, PRICE, TICK, GrpcRouter

from fallback_grpc._generated import order_entry_pb2 as pb
from fallback_grpc._generated import order_entry_pb2_grpc as pb_grpc
from fallback_grpc.client import bearer_metadata

CALL_TIMEOUT_S = 10
DEADLINE_S = 20.0


@pytest.fixture(scope="module")
def router():
    r = GrpcRouter().start()
    try:
        yield r
    finally:
        r.stop()


class Caller:
    """Key n (account n) on its own instrument n."""

    def __init__(self, router, n: int) -> None:
        self.key_id, self.secret, _ = KEYS[n - 1]
        self.security_id = n
        self.channel = grpc.aio.insecure_channel(router.target)
        self.stub = pb_grpc.OrderEntryStub(self.channel)
        self.metadata = bearer_metadata(self.key_id, self.secret)
        self.cl = time.time_ns() // 1000

    def next_cl(self) -> int:
        self.cl += 1
        return self.cl

    # <Method>Request wraps the FIX message where the method's request is not the message itself.
    WRAPPERS = {"SubmitOrder": (pb.SubmitOrderRequest, "order"),
                "CancelOrder": (pb.CancelOrderRequest, "cancel"),
                "MassCancel": (pb.MassCancelRequest, "request")}

    async def call(self, method: str, request):
        """The method's result: the FIX message in, <Method>Response.result out."""
        wrapper, field = self.WRAPPERS.get(method, (None, None))
        if wrapper is not None:
            request = wrapper(**{field: request})
        response = await getattr(self.stub, method)(request, metadata=self.metadata, timeout=CALL_TIMEOUT_S)
        return response.result

    async def rest(self, side=pb.SIDE_SELL, price=PRICE + TICK, qty=10) -> int:
        cl = self.next_cl()
        result = await self.call("SubmitOrder", pb.NewOrderSingle(
            cl_ord_id=cl, security_id=self.security_id, side=side, ord_type=pb.ORD_TYPE_LIMIT,
            time_in_force=pb.TIME_IN_FORCE_DAY, price=price, order_qty=qty))
        assert result.WhichOneof("result") == "accepted"
        return cl

    async def status(self, cl: int) -> pb.ExecutionReportStatus:
        request = pb.OrderStatusRequest(cl_ord_id=cl, security_id=self.security_id)
        result = await self.call("OrderStatus", request)
        return result.status

    async def stream(self, from_seq_no: int, until) -> list[pb.ExecutionReport]:
        call = self.stub.StreamExecutions(pb.StreamExecutionsRequest(from_seq_no=from_seq_no),
                                          metadata=self.metadata)
        reports = []
        async with asyncio.timeout(DEADLINE_S):
            async for response in call:
                for report in response.reports:
                    reports.append(report)
                    if until(report):
                        break
                else:
                    continue
                break
        call.cancel()
        return reports

    async def close(self) -> None:
        await self.channel.close()


async def test_mass_cancel_answers_with_the_report_and_streams_a_cancel_per_order(router):
    c = Caller(router, 9)
    try:
        orders = [await c.rest(side=pb.SIDE_SELL), await c.rest(side=pb.SIDE_BUY, price=PRICE - TICK)]
        cl = c.next_cl()
        result = await c.call("MassCancel", pb.OrderMassActionRequest(
            cl_ord_id=cl, security_id=c.security_id, mass_action_type=pb.MASS_ACTION_TYPE_CANCEL_ORDERS,
            mass_action_scope=pb.MASS_ACTION_SCOPE_ALL_ORDERS_FOR_A_SECURITY, side=pb.SIDE_SELL))
        report = result.report
        assert (report.cl_ord_id, report.mass_action_response, report.total_affected_orders) == (
            cl, pb.MASS_ACTION_RESPONSE_ACCEPTED, 1)
        reports = await c.stream(1, lambda r: r.WhichOneof("report") == "cancel")
        (cancel,) = [r.cancel for r in reports if r.WhichOneof("report") == "cancel"]
        assert (cancel.cl_ord_id, cancel.cancel_reason) == (orders[0], pb.CANCEL_REASON_MASS_CANCEL)
        assert (await c.status(orders[1])).ord_status == pb.ORD_STATUS_NEW
        assert (await c.status(orders[0])).ord_status == pb.ORD_STATUS_CANCELED
    finally:
        await c.close()


async def test_mass_cancel_by_security_without_one_is_rejected(router):
    c = Caller(router, 10)
    try:
        result = await c.call("MassCancel", pb.OrderMassActionRequest(
            cl_ord_id=c.next_cl(), security_id=99, mass_action_type=pb.MASS_ACTION_TYPE_CANCEL_ORDERS,
            mass_action_scope=pb.MASS_ACTION_SCOPE_ALL_ORDERS_FOR_A_SECURITY))
        assert result.report.mass_action_response == pb.MASS_ACTION_RESPONSE_REJECTED
        reason = pb.MASS_ACTION_REJECT_REASON_INVALID_OR_UNKNOWN_SECURITY
        assert result.report.mass_action_reject_reason == reason
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await c.call("MassCancel", pb.OrderMassActionRequest(cl_ord_id=c.next_cl()))
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        await c.close()


async def test_order_status_of_a_partly_filled_order(router):
    c = Caller(router, 11)
    try:
        cl = await c.rest(side=pb.SIDE_SELL, price=PRICE, qty=10)
        await c.call("SubmitOrder", pb.NewOrderSingle(
            cl_ord_id=c.next_cl(), security_id=c.security_id, side=pb.SIDE_BUY, ord_type=pb.ORD_TYPE_LIMIT,
            time_in_force=pb.TIME_IN_FORCE_IMMEDIATE_OR_CANCEL, price=PRICE, order_qty=4))
        status = await c.status(cl)  # (this router runs without self-match prevention)
        assert (status.ord_status, status.leaves_qty, status.cum_qty, status.price) == (
            pb.ORD_STATUS_PARTIALLY_FILLED, 6, 4, PRICE)
    finally:
        await c.close()


async def test_order_status_of_filled_canceled_and_unknown_orders(router):
    """The same answers as over UDP (test_safety_controls): Filled or Canceled with LeavesQty 0 and
    the order's CumQty, OrderID, Side and Price; Rejected for an order the session does not have."""
    c = Caller(router, 8)
    try:
        resting = await c.rest(side=pb.SIDE_SELL, price=PRICE, qty=10)
        aggressor = c.next_cl()
        result = await c.call("SubmitOrder", pb.NewOrderSingle(
            cl_ord_id=aggressor, security_id=c.security_id, side=pb.SIDE_BUY, ord_type=pb.ORD_TYPE_LIMIT,
            time_in_force=pb.TIME_IN_FORCE_IMMEDIATE_OR_CANCEL, price=PRICE, order_qty=10))
        aggressor_id = result.accepted.order_id
        canceled = await c.rest(side=pb.SIDE_SELL, price=PRICE + TICK, qty=7)
        result = await c.call("CancelOrder", pb.OrderCancelRequest(
            cl_ord_id=c.next_cl(), orig_cl_ord_id=canceled, security_id=c.security_id, side=pb.SIDE_SELL))
        assert result.WhichOneof("result") == "canceled"

        fields = ("ord_status", "side", "price", "leaves_qty", "cum_qty")
        filled = await c.status(resting)
        assert tuple(getattr(filled, f) for f in fields) == (pb.ORD_STATUS_FILLED, pb.SIDE_SELL, PRICE, 0, 10)
        status = await c.status(aggressor)
        assert tuple(getattr(status, f) for f in fields) == (pb.ORD_STATUS_FILLED, pb.SIDE_BUY, PRICE, 0, 10)
        assert status.order_id == aggressor_id
        status = await c.status(canceled)
        assert tuple(getattr(status, f) for f in fields) == (
            pb.ORD_STATUS_CANCELED, pb.SIDE_SELL, PRICE + TICK, 0, 0)
        assert (await c.status(canceled + 1000)).ord_status == pb.ORD_STATUS_REJECTED
    finally:
        await c.close()


async def test_a_dropped_execution_stream_cancels_the_sessions_orders(router):
    c = Caller(router, 12)
    try:
        cl = await c.rest()
        on_disconnect = pb.CANCEL_ON_DISCONNECT_TYPE_CANCEL_ON_DISCONNECT_ONLY
        request = pb.StreamExecutionsRequest(cancel_on_disconnect_type=on_disconnect, cod_timeout_window=0)
        call = c.stub.StreamExecutions(request, metadata=c.metadata)
        await call.initial_metadata()
        call.cancel()  # the client goes away
        deadline = time.monotonic() + DEADLINE_S
        while (await c.status(cl)).ord_status != pb.ORD_STATUS_CANCELED:
            assert time.monotonic() < deadline, "the order was never canceled"
            await asyncio.sleep(0.05)
        reports = await c.stream(1, lambda r: r.WhichOneof("report") == "cancel")
        assert reports[-1].cancel.cancel_reason == pb.CANCEL_REASON_CANCEL_ON_DISCONNECT
    finally:
        await c.close()


async def test_a_plain_stream_beside_the_cancel_on_disconnect_one_does_not_drop_it(router):
    """The cancel is armed when the session's last stream ends, if a stream of that link asked for
    it: a second stream without it (a replay, say) does not take it away."""
    c = Caller(router, 7)
    try:
        cl = await c.rest()
        on_disconnect = pb.CANCEL_ON_DISCONNECT_TYPE_CANCEL_ON_DISCONNECT_ONLY
        guarded = c.stub.StreamExecutions(
            pb.StreamExecutionsRequest(cancel_on_disconnect_type=on_disconnect, cod_timeout_window=0),
            metadata=c.metadata)
        await guarded.initial_metadata()
        plain = c.stub.StreamExecutions(pb.StreamExecutionsRequest(from_seq_no=1), metadata=c.metadata)
        await plain.initial_metadata()
        plain.cancel()
        guarded.cancel()  # the session's last stream: the client is gone
        deadline = time.monotonic() + DEADLINE_S
        while (await c.status(cl)).ord_status != pb.ORD_STATUS_CANCELED:
            assert time.monotonic() < deadline, "the order was never canceled"
            await asyncio.sleep(0.05)
    finally:
        await c.close()
