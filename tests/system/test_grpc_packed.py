"""SubmitOrdersPacked against the real router and engine: the same answers as SubmitOrdersBatch for
the same orders, EngineBusy for what does not fit, and a malformed batch refused whole."""

import asyncio
import struct

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_router import KEYS, PRICE, TICK, GrpcRouter
from grpc_status import rpc_status

from fallback_grpc._generated import order_entry_pb2 as pb
from fallback_grpc._generated import order_entry_pb2_grpc as pb_grpc
from fallback_grpc.client import OrderEntryClient, bearer_metadata
from fallback_grpc.packed import FRAME, pack_orders, unpack_results

CALL_TIMEOUT_S = 10
SEQ_MASK = (1 << 40) - 1


@pytest.fixture(scope="module")
def router():
    r = GrpcRouter().start()
    try:
        yield r
    finally:
        r.stop()


def order(cl_ord_id, security_id, qty=10, **fields):
    values = dict(side=pb.SIDE_BUY, ord_type=pb.ORD_TYPE_LIMIT, time_in_force=pb.TIME_IN_FORCE_DAY,
                  price=PRICE)
    values.update(fields)
    return pb.NewOrderSingle(cl_ord_id=cl_ord_id, security_id=security_id, order_qty=qty, **values)


async def submit(router, n, method, request):
    key_id, secret, _ = KEYS[n - 1]
    async with grpc.aio.insecure_channel(router.target) as channel:
        stub = pb_grpc.OrderEntryStub(channel)
        return await getattr(stub, method)(request, timeout=CALL_TIMEOUT_S,
                                           metadata=bearer_metadata(key_id, secret))


async def packed(router, n, data: bytes) -> list[pb.OrderResult]:
    response = await submit(router, n, "SubmitOrdersPacked", pb.SubmitOrdersPackedRequest(orders=data))
    return unpack_results(response.results)


async def stream(router, n, count):
    key_id, secret, _ = KEYS[n - 1]
    async with grpc.aio.insecure_channel(router.target) as channel:
        call = pb_grpc.OrderEntryStub(channel).StreamExecutions(
            pb.StreamExecutionsRequest(from_seq_no=1), metadata=bearer_metadata(key_id, secret))
        reports = []
        async for response in call:
            reports.extend(response.reports)
            if len(reports) >= count:
                call.cancel()
                break
        return reports[:count]


def comparable(result: pb.OrderResult):
    """A result without what differs between two sessions: order ids, times, the session part of ExecID."""
    kind = result.WhichOneof("result")
    r = getattr(result, kind)
    fields = {f.name: v for f, v in r.ListFields() if f.name not in ("order_id", "transact_time")}
    if "exec_id" in fields:
        fields["exec_id"] &= SEQ_MASK
    return kind, fields


def mixed_orders(s):
    """Accepted, every risk reject, a duplicate, a market IOC, and a sell that trades with the first."""
    return [order(10, s), order(11, 99), order(12, s, qty=0), order(13, s, price=PRICE + TICK // 2),
            order(14, s, price=PRICE * 2), order(12, s), order(15, s, qty=2_000_000),
            order(16, s, ord_type=pb.ORD_TYPE_MARKET, time_in_force=pb.TIME_IN_FORCE_DAY, price=0),
            order(17, s, side=pb.SIDE_SELL, ord_type=pb.ORD_TYPE_MARKET,
                  time_in_force=pb.TIME_IN_FORCE_IMMEDIATE_OR_CANCEL, price=0, qty=3),
            order(18, s, side=pb.SIDE_SELL, price=PRICE + TICK)]


async def test_packed_results_equal_the_repeated_forms_and_the_python_paths_for_the_same_orders(router):
    """Key 1 sends the orders one SubmitOrder at a time (the Python reference path: convert.py,
    OrderEntry.submit, risk.py), key 6 as SubmitOrdersBatch, key 2 as SubmitOrdersPacked (both in C)."""
    reference = [(await submit(router, 1, "SubmitOrder", pb.SubmitOrderRequest(order=o))).result
                 for o in mixed_orders(1)]
    repeated = await submit(router, 6, "SubmitOrdersBatch",
                            pb.SubmitOrdersBatchRequest(orders=mixed_orders(6)))
    got = await packed(router, 2, pack_orders(mixed_orders(2)))

    def on(security_id, results, exec_ids=True):
        out = [comparable(r) for r in results]
        for _, fields in out:  # each key trades on its own instrument: the only field that differs
            if fields.get("security_id") == security_id:
                fields["security_id"] = 0
            if not exec_ids:  # one call at a time numbers reports in another order than a batch
                fields.pop("exec_id", None)
        return out

    expected = on(1, reference, exec_ids=False)
    assert [kind for kind, _ in expected] == ["accepted"] + ["rejected"] * 7 + ["accepted"] * 2
    assert on(6, repeated.results, exec_ids=False) == expected
    assert on(2, got) == on(6, repeated.results)
    # Each answer is its report on the session's stream (rejects included): same ExecID, same kind.
    # Router-side rejects are sequenced at once, the engine's answers when they come, then trades.
    reports = await asyncio.wait_for(stream(router, 2, 12), CALL_TIMEOUT_S)
    on_stream = {getattr(r, r.WhichOneof("report")).exec_id: r.WhichOneof("report") for r in reports}
    answers = {getattr(r, r.WhichOneof("result")).exec_id: r.WhichOneof("result") for r in got}
    assert {xid: on_stream.get(xid) for xid in answers} == \
        {xid: {"rejected": "reject"}.get(kind, kind) for xid, kind in answers.items()}


async def test_the_client_batches_through_the_packed_form_and_gets_every_order_its_own_result(router):
    key_id, secret, s = KEYS[2]
    async with OrderEntryClient(router.target, key_id, secret, max_batch=40, linger_ms=2) as client:
        orders = [order(i, s, side=pb.SIDE_BUY if i % 2 else pb.SIDE_SELL) for i in range(1, 201)]
        orders[7].order_qty = 0
        results = await asyncio.wait_for(asyncio.gather(*(client.submit(o) for o in orders)), CALL_TIMEOUT_S)
        single = await client.submit_batch([order(500, s)])
    assert [r.WhichOneof("result") for r in results] == ["accepted"] * 7 + ["rejected"] + ["accepted"] * 192
    assert [r.accepted.cl_ord_id or r.rejected.cl_ord_id for r in results] == list(range(1, 201))
    assert results[7].rejected.ord_rej_reason == pb.ORD_REJ_REASON_INCORRECT_QUANTITY
    assert single[0].accepted.cl_ord_id == 500


def corrupt(data: bytes, index: int, offset: int, value: bytes) -> bytes:
    pos = index * FRAME + offset
    return data[:pos] + value + data[pos + len(value):]


def good(base):
    return pack_orders([order(base + i, 4) for i in range(1, 5)])


MALFORMED = [  # (request bytes for ClOrdIDs base + 1.., the violation's field, words in its description)
    (lambda b: corrupt(good(b), 2, 14 + 32, b"\x09"), "orders[2].side", "9 is not a Side"),
    (lambda b: corrupt(good(b), 1, 14 + 34, b"\x07"), "orders[1].time_in_force", "7 is not a TimeInForce"),
    (lambda b: corrupt(good(b), 3, 0, struct.pack(">I", 1000)), "orders[3]", "truncated"),
    (lambda b: good(b)[:-1], "orders[3]", "truncated"),
    (lambda b: corrupt(good(b), 2, 8, struct.pack("<H", 102)), "orders[2]", "not a NewOrderSingle"),
    (lambda b: corrupt(good(b), 1, 4, b"\x00\x00"), "orders[1]", "encoding"),
    (lambda b: corrupt(good(b), 2, 6, struct.pack("<H", 36)), "orders[2]", "block length"),
    (lambda b: corrupt(good(b), 3, 14, bytes(8)), "orders[3].cl_ord_id", "must be > 0"),
    (lambda b: pack_orders([order(b + 1, 4), order(b + 2, 4, time_in_force=pb.TIME_IN_FORCE_UNSPECIFIED)]),
     "orders[1].time_in_force", "is not a TimeInForce"),
    (lambda b: b"", "orders", "got none"),
]


@pytest.mark.parametrize(("case", "make", "field", "words"), [(k, *m) for k, m in enumerate(MALFORMED)])
async def test_a_malformed_packed_batch_is_invalid_argument_naming_the_order_and_applies_nothing(
        router, case, make, field, words):
    base = 100 * (case + 1)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await packed(router, 4, make(base))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(refused.value)
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert [v.field for v in bad_request.field_violations] == [field]
    assert words in bad_request.field_violations[0].description
    # Nothing applied: the batch's first ClOrdID is still unused (a duplicate would be rejected).
    probe = await packed(router, 4, pack_orders([order(base + 1, 4)]))
    assert probe[0].WhichOneof("result") == "accepted"


async def test_a_refused_packed_batch_puts_nothing_on_the_stream(router):
    with pytest.raises(grpc.aio.AioRpcError):
        await packed(router, 5, pack_orders([order(1, 5), order(2, 5, qty=0), order(3, 5, side=7)]))
    got = await packed(router, 5, pack_orders([order(1, 5)]))
    assert got[0].accepted.cl_ord_id == 1
    reports = await asyncio.wait_for(stream(router, 5, 1), CALL_TIMEOUT_S)
    assert reports[0].seq_no == 1 and reports[0].accepted.cl_ord_id == 1  # not the refused batch's reject
