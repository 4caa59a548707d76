"""The gRPC fallback against the real router and engine (`udprouter serve`), over loopback."""

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_router import KEYS, PRICE, TICK, GrpcRouter
from grpc_status import rpc_status

from fallback_grpc._generated import order_entry_pb2 as pb
from fallback_grpc._generated import order_entry_pb2_grpc as pb_grpc
from fallback_grpc.client import OrderEntryClient, bearer_metadata
from fallback_grpc.service import STREAM_START_HEADER

CALL_TIMEOUT_S = 10


@pytest.fixture(scope="module")
def router():
    r = GrpcRouter().start()
    try:
        yield r
    finally:
        r.stop()


def key(n):
    """Key n (k1..k12, account n) and its instrument n: each test trades only with itself."""
    return KEYS[n - 1][0], KEYS[n - 1][1], n


def order(cl_ord_id, security_id, qty=10, **fields):
    """A limit Day buy of qty at 100.00 unless fields say otherwise."""
    values = dict(side=pb.SIDE_BUY, ord_type=pb.ORD_TYPE_LIMIT, time_in_force=pb.TIME_IN_FORCE_DAY,
                  price=PRICE)
    values.update(fields)
    return pb.NewOrderSingle(cl_ord_id=cl_ord_id, security_id=security_id, order_qty=qty, **values)


def batch(*orders):
    return pb.SubmitOrdersBatchRequest(orders=orders)


# Unary methods take <Method>Request wrapping the FIX message and answer <Method>Response.result.
WRAPPERS = {"SubmitOrder": (pb.SubmitOrderRequest, "order"), "CancelOrder": (pb.CancelOrderRequest, "cancel"),
            "ReplaceOrder": (pb.ReplaceOrderRequest, "replace")}


def wrapped(method, request):
    wrapper, field = WRAPPERS.get(method, (None, None))
    return request if wrapper is None else wrapper(**{field: request})


async def call(router, n, method, request):
    key_id, secret, _ = key(n)
    async with grpc.aio.insecure_channel(router.target) as channel:
        stub = pb_grpc.OrderEntryStub(channel)
        response = await getattr(stub, method)(wrapped(method, request), timeout=CALL_TIMEOUT_S,
                                               metadata=bearer_metadata(key_id, secret))
        return response.result if method in WRAPPERS else response


async def read_stream(router, n, from_seq_no, count):
    key_id, secret, _ = key(n)
    async with grpc.aio.insecure_channel(router.target) as channel:
        stream = pb_grpc.OrderEntryStub(channel).StreamExecutions(
            pb.StreamExecutionsRequest(from_seq_no=from_seq_no), metadata=bearer_metadata(key_id, secret))
        reports = []
        async for response in stream:
            reports.extend(response.reports)
            if len(reports) >= count:
                stream.cancel()
                break
        return reports[:count]


async def test_a_batch_with_invalid_orders_returns_one_result_per_order_in_order(router):
    s = 1
    orders = [order(10, s), order(11, 99), order(12, s, qty=0), order(13, s, price=PRICE + TICK // 2),
              order(14, s, price=PRICE * 2), order(12, s),
              order(15, s, side=pb.SIDE_SELL, price=PRICE + TICK)]
    response = await call(router, 1, "SubmitOrdersBatch", pb.SubmitOrdersBatchRequest(orders=orders))
    got = [(r.WhichOneof("result"), r.accepted.cl_ord_id or r.rejected.cl_ord_id, r.rejected.ord_rej_reason)
           for r in response.results]
    assert got == [("accepted", 10, 0),
                   ("rejected", 11, pb.ORD_REJ_REASON_UNKNOWN_SYMBOL),
                   ("rejected", 12, pb.ORD_REJ_REASON_INCORRECT_QUANTITY),
                   ("rejected", 13, pb.ORD_REJ_REASON_INVALID_PRICE_INCREMENT),
                   ("rejected", 14, pb.ORD_REJ_REASON_PRICE_EXCEEDS_CURRENT_PRICE_BAND),
                   ("rejected", 12, pb.ORD_REJ_REASON_DUPLICATE_ORDER),
                   ("accepted", 15, 0)]
    accepted = response.results[0].accepted
    assert accepted.order_id > 0 and accepted.exec_id >> 40 > 0  # ExecID = (session_id << 40) | seq


async def test_a_grpc_order_trades_with_a_udp_order_and_both_sides_get_reports(router):
    from udprouter.client import Client

    s = 2
    udp_key, udp_secret, _ = key(2)
    udp = await Client.connect("127.0.0.1", router.udp_port, udp_key, udp_secret)
    try:
        sell = await udp.send_order(security_id=s, side=pb.SIDE_SELL, price=PRICE, qty=7)
        ack = await asyncio.wait_for(udp.first_ack(sell), CALL_TIMEOUT_S)
        assert type(ack).__name__ == "ExecutionReportNew"
        result = await call(router, 3, "SubmitOrder", order(1, s, qty=7, price=PRICE + 5 * TICK))
        assert result.accepted.cl_ord_id == 1
        udp_reports = [await udp.next_report(CALL_TIMEOUT_S) for _ in range(2)]
    finally:
        await udp.close()
    assert [type(r).__name__ for r in udp_reports] == ["ExecutionReportNew", "ExecutionReportTrade"]
    udp_trade = udp_reports[1]
    assert (udp_trade.cl_ord_id, udp_trade.last_qty, udp_trade.last_px, int(udp_trade.aggressor_indicator)) \
        == (sell, 7, PRICE, 0)
    grpc_reports = await asyncio.wait_for(read_stream(router, 3, 1, 2), CALL_TIMEOUT_S)
    assert [r.WhichOneof("report") for r in grpc_reports] == ["accepted", "trade"]
    trade = grpc_reports[1].trade
    assert (trade.cl_ord_id, trade.last_qty, trade.last_px, trade.leaves_qty, trade.aggressor_indicator) \
        == (1, 7, PRICE, 0, True)


async def test_stream_executions_delivers_reports_and_resumes_from_the_last_seen_sequence(router):
    s, n = 4, 4
    first = await call(router, n, "SubmitOrdersBatch", pb.SubmitOrdersBatchRequest(
        orders=[order(1, s, qty=5), order(2, s, side=pb.SIDE_SELL, qty=3)]))
    assert [r.WhichOneof("result") for r in first.results] == ["accepted", "accepted"]
    seen = await asyncio.wait_for(read_stream(router, n, 1, 3), CALL_TIMEOUT_S)  # cut after 3 of 4
    assert [r.seq_no for r in seen] == [1, 2, 3]
    # The answers of the calls and the stream are the same reports (built from the event vs decoded).
    assert seen[0].accepted == first.results[0].accepted
    assert seen[1].accepted == first.results[1].accepted
    await call(router, n, "SubmitOrder", order(3, s, side=pb.SIDE_SELL, qty=2))
    resumed = await asyncio.wait_for(read_stream(router, n, seen[-1].seq_no + 1, 4), CALL_TIMEOUT_S)
    assert [r.seq_no for r in resumed] == [4, 5, 6, 7]
    kinds = [r.WhichOneof("report") for r in seen + resumed]
    assert kinds == ["accepted", "accepted", "trade", "trade", "accepted", "trade", "trade"]
    fills = sorted((r.trade.cl_ord_id, r.trade.cum_qty) for r in seen + resumed if r.HasField("trade"))
    assert fills == [(1, 3), (1, 5), (2, 3), (3, 2)]


async def test_stream_executions_from_zero_delivers_only_new_reports(router):
    s, n = 5, 5
    await call(router, n, "SubmitOrder", order(1, s))
    key_id, secret, _ = key(n)
    async with grpc.aio.insecure_channel(router.target) as channel:
        stream = pb_grpc.OrderEntryStub(channel).StreamExecutions(
            pb.StreamExecutionsRequest(from_seq_no=0), metadata=bearer_metadata(key_id, secret))
        # The headers arrive once the stream is open server-side: every later report reaches it.
        headers = await asyncio.wait_for(stream.initial_metadata(), CALL_TIMEOUT_S)
        await call(router, n, "SubmitOrder", order(2, s))
        response = await asyncio.wait_for(stream.read(), CALL_TIMEOUT_S)
        stream.cancel()
    assert dict(headers)[STREAM_START_HEADER] == "2"
    report = response.reports[0]
    assert (report.seq_no, report.accepted.cl_ord_id) == (2, 2)


async def test_cancel_and_replace_answer_with_the_engine_reports(router):
    s, n = 6, 6
    await call(router, n, "SubmitOrder", order(1, s, qty=10))
    replaced = await call(router, n, "ReplaceOrder", pb.OrderCancelReplaceRequest(
        cl_ord_id=2, orig_cl_ord_id=1, security_id=s, side=pb.SIDE_BUY, price=PRICE - TICK, order_qty=8))
    assert (replaced.replaced.cl_ord_id, replaced.replaced.order_qty) == (2, 8)
    assert replaced.replaced.price == PRICE - TICK
    canceled = await call(router, n, "CancelOrder", pb.OrderCancelRequest(
        cl_ord_id=3, orig_cl_ord_id=2, security_id=s, side=pb.SIDE_BUY))
    assert canceled.WhichOneof("result") == "canceled"
    assert canceled.canceled.cancel_reason == pb.CANCEL_REASON_CLIENT_REQUEST
    again = await call(router, n, "CancelOrder", pb.OrderCancelRequest(
        cl_ord_id=4, orig_cl_ord_id=2, security_id=s, side=pb.SIDE_BUY))
    assert again.WhichOneof("result") == "cancel_rejected"
    assert again.cancel_rejected.cxl_rej_response_to == pb.CXL_REJ_RESPONSE_TO_ORDER_CANCEL_REQUEST


async def test_health_reports_serving_for_the_server_and_the_service(router):
    async with grpc.aio.insecure_channel(router.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "udprouter.v1.OrderEntry"):
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=CALL_TIMEOUT_S)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_service_and_serves_its_descriptor(router):
    async with grpc.aio.insecure_channel(router.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        stream = stub.ServerReflectionInfo(timeout=CALL_TIMEOUT_S)
        await stream.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        listed = await stream.read()
        await stream.write(reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="udprouter.v1.OrderEntry"))
        described = await stream.read()
        await stream.done_writing()
    names = {s.name for s in listed.list_services_response.service}
    assert {"udprouter.v1.OrderEntry", "grpc.health.v1.Health"} <= names
    assert described.file_descriptor_response.file_descriptor_proto  # serialized trading_engine.proto


@pytest.mark.parametrize("metadata, cl_ord_id", [((), 1), ((("authorization", "Bearer k7:wrong"),), 2),
                                                  ((("authorization", "Bearer nobody:k7-secret"),), 3)])
async def test_unauthenticated_calls_are_refused_and_apply_nothing(router, metadata, cl_ord_id):
    async with grpc.aio.insecure_channel(router.target) as channel:
        stub = pb_grpc.OrderEntryStub(channel)
        for method, request in (("SubmitOrder", pb.SubmitOrderRequest(order=order(cl_ord_id, 7))),
                                ("SubmitOrdersBatch", batch(order(cl_ord_id, 7)))):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await getattr(stub, method)(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.StreamExecutions(pb.StreamExecutionsRequest(), metadata=metadata).read()
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # The refused calls consumed nothing: the key's real order with the same ClOrdID is accepted.
    result = await call(router, 7, "SubmitOrder", order(cl_ord_id, 7))
    assert result.accepted.cl_ord_id == cl_ord_id


@pytest.mark.parametrize("method, request_, field", [
    ("SubmitOrdersBatch", batch(order(5, 8), order(6, 8), order(7, 8, side=9)), "orders[2].side"),
    ("SubmitOrdersBatch", batch(order(5, 8, ord_type=0)), "orders[0].ord_type"),
    ("SubmitOrdersBatch", batch(), "orders"),
    ("SubmitOrder", order(0, 8), "order.cl_ord_id"),
    ("SubmitOrder", order(5, 8, time_in_force=7), "order.time_in_force"),
    ("SubmitOrder", order(5, 8, time_in_force=pb.TIME_IN_FORCE_UNSPECIFIED), "order.time_in_force"),
    ("CancelOrder", pb.OrderCancelRequest(cl_ord_id=5, security_id=8, side=1), "cancel.orig_cl_ord_id"),
    ("ReplaceOrder", pb.OrderCancelReplaceRequest(cl_ord_id=5, orig_cl_ord_id=1, security_id=8),
     "replace.side"),
])
async def test_malformed_requests_are_invalid_argument_naming_the_field(router, method, request_, field):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call(router, 8, method, request_)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details().startswith(field + ":")
    # The same, machine-readable: a google.rpc.Status whose BadRequest names the field.
    status = rpc_status.from_call(refused.value)
    assert status is not None and status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert [v.field for v in bad_request.field_violations] == [field]


async def test_an_unset_time_in_force_is_refused_not_taken_for_day(router):
    """An unset enum is *_UNSPECIFIED (0), never a meaningful value: proto3 cannot tell it apart."""
    unset = pb.NewOrderSingle(cl_ord_id=5, security_id=8, order_qty=1, side=pb.SIDE_BUY,
                              ord_type=pb.ORD_TYPE_LIMIT, price=PRICE)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call(router, 8, "SubmitOrder", unset)
    assert "order.time_in_force: unset" in refused.value.details()


async def test_a_refused_batch_applies_none_of_its_orders(router):
    with pytest.raises(grpc.aio.AioRpcError):
        await call(router, 9, "SubmitOrdersBatch", pb.SubmitOrdersBatchRequest(
            orders=[order(1, 9), order(2, 9, side=0)]))
    result = await call(router, 9, "SubmitOrder", order(1, 9))
    assert result.accepted.cl_ord_id == 1  # ClOrdID 1 was not consumed by the refused batch


async def test_the_auto_batching_client_gets_every_order_its_own_result(router):
    key_id, secret, s = key(10)
    async with OrderEntryClient(router.target, key_id, secret, max_batch=50, linger_ms=2) as client:
        orders = [order(i, s, side=pb.SIDE_BUY if i % 2 else pb.SIDE_SELL) for i in range(1, 301)]
        results = await asyncio.wait_for(asyncio.gather(*(client.submit(o) for o in orders)), CALL_TIMEOUT_S)
        batches = client.batches_sent
    assert [r.accepted.cl_ord_id for r in results] == list(range(1, 301))
    assert batches <= 300 // 50 + 2
