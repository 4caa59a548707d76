"""OrderEntryClient batching against a real grpc.aio server (the trivial servicer) on an ephemeral port."""

import asyncio
import time

import grpc

from bench.trivial_grpc_server import TrivialOrderEntryServicer
from fallback_grpc._generated import order_entry_pb2 as pb
from fallback_grpc._generated import order_entry_pb2_grpc as pb_grpc
from fallback_grpc.batcher import BatchResultCountError
from fallback_grpc.client import OrderEntryClient
from fallback_grpc.packed import FRAME


class RecordingServicer(TrivialOrderEntryServicer):
    """Records batch sizes, concurrency and metadata; optionally slow, failing or short-answering."""

    def __init__(self, delay_s=0.0, abort_code=None, drop_one=False):
        super().__init__()
        self.batch_sizes, self.authorization, self.methods = [], [], []
        self.active = self.max_active = 0
        self.delay_s, self.abort_code, self.drop_one = delay_s, abort_code, drop_one

    async def _recorded(self, size, request, context, answer):
        self.batch_sizes.append(size)
        self.methods.append(answer.__name__)
        self.authorization.append(dict(context.invocation_metadata()).get("authorization"))
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            await asyncio.sleep(self.delay_s)
            if self.abort_code is not None:
                await context.abort(self.abort_code, "refused by test servicer")
            return await answer(request, context)
        finally:
            self.active -= 1

    async def SubmitOrdersBatch(self, request, context):
        response = await self._recorded(len(request.orders), request, context, super().SubmitOrdersBatch)
        if self.drop_one:
            del response.results[-1]
        return response

    async def SubmitOrdersPacked(self, request, context):
        response = await self._recorded(len(request.orders) // FRAME, request, context,
                                        super().SubmitOrdersPacked)
        if self.drop_one:
            response.results = without_last_frame(response.results)
        return response


def without_last_frame(data: bytes) -> bytes:
    pos = last = 0
    while pos < len(data):
        last, pos = pos, pos + int.from_bytes(data[pos:pos + 4], "big")  # SOFH length, big-endian
    return data[:last]


async def start_server(servicer):
    server = grpc.aio.server()
    pb_grpc.add_OrderEntryServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


def order(cl_ord_id, qty=10):
    return pb.NewOrderSingle(cl_ord_id=cl_ord_id, security_id=1, side=pb.SIDE_BUY, ord_type=pb.ORD_TYPE_LIMIT,
                             time_in_force=pb.TIME_IN_FORCE_DAY,
                             price=100_000_000_000, order_qty=qty)


async def run_with(servicer, body, **client_kwargs):
    server, target = await start_server(servicer)
    try:
        async with OrderEntryClient(target, "demo", "demo-secret", **client_kwargs) as client:
            return await asyncio.wait_for(body(client), timeout=10)
    finally:
        await server.stop(None)


async def test_concurrent_submits_leave_in_full_batches_then_a_lingering_remainder():
    servicer = RecordingServicer()

    async def body(client):
        return await asyncio.gather(*(client.submit(order(i)) for i in range(1, 26)))

    results = await run_with(servicer, body, max_batch=10, linger_ms=5)
    # Calls in flight together may reach the server in any order: the sizes are what was formed.
    assert sorted(servicer.batch_sizes) == [5, 10, 10]
    assert [r.accepted.cl_ord_id for r in results] == list(range(1, 26))


async def test_each_caller_gets_its_own_orders_result_when_some_orders_are_rejected():
    servicer = RecordingServicer()
    zero_qty = {3, 7, 8, 15}

    async def body(client):
        orders = [order(i, 0 if i in zero_qty else 5) for i in range(1, 21)]
        return await asyncio.gather(*(client.submit(o) for o in orders))

    results = await run_with(servicer, body, max_batch=8, linger_ms=1)
    for cl_ord_id, result in enumerate(results, start=1):
        kind = result.WhichOneof("result")
        assert kind == ("rejected" if cl_ord_id in zero_qty else "accepted")
        assert getattr(result, kind).cl_ord_id == cl_ord_id


async def test_a_single_order_waits_for_the_linger_time_then_goes_alone():
    servicer = RecordingServicer()

    async def body(client):
        start = time.perf_counter()
        result = await client.submit(order(1))
        return result, time.perf_counter() - start

    result, elapsed = await run_with(servicer, body, max_batch=100, linger_ms=40)
    assert servicer.batch_sizes == [1]
    assert result.accepted.cl_ord_id == 1
    assert elapsed >= 0.035


async def test_orders_collect_while_the_in_flight_window_is_full():
    servicer = RecordingServicer(delay_s=0.02)

    async def body(client):
        first = [asyncio.ensure_future(client.submit(order(i))) for i in range(1, 4)]  # leaves after linger
        await asyncio.sleep(0.008)
        rest = [asyncio.ensure_future(client.submit(order(i))) for i in range(4, 16)]  # collect meanwhile
        return await asyncio.gather(*first, *rest)

    results = await run_with(servicer, body, max_batch=100, linger_ms=1, max_in_flight=1)
    assert servicer.max_active == 1
    assert servicer.batch_sizes == [3, 12]
    assert len(results) == 15


async def test_batches_go_out_in_parallel_up_to_max_in_flight():
    servicer = RecordingServicer(delay_s=0.05)

    async def body(client):
        return await asyncio.gather(*(client.submit(order(i)) for i in range(1, 61)))

    await run_with(servicer, body, max_batch=10, linger_ms=1, max_in_flight=3)
    assert servicer.max_active == 3
    assert sorted(servicer.batch_sizes) == [10] * 6


async def test_an_rpc_error_reaches_every_order_of_the_batch():
    servicer = RecordingServicer(abort_code=grpc.StatusCode.RESOURCE_EXHAUSTED)

    async def body(client):
        return await asyncio.gather(*(client.submit(order(i)) for i in range(1, 6)), return_exceptions=True)

    outcomes = await run_with(servicer, body, max_batch=5)
    assert len(outcomes) == 5
    for outcome in outcomes:
        assert isinstance(outcome, grpc.aio.AioRpcError)
        assert outcome.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_a_short_answer_fails_the_batch_instead_of_misattributing_results():
    servicer = RecordingServicer(drop_one=True)

    async def body(client):
        return await asyncio.gather(*(client.submit(order(i)) for i in range(1, 4)), return_exceptions=True)

    outcomes = await run_with(servicer, body, max_batch=3)
    assert all(isinstance(o, BatchResultCountError) for o in outcomes)


async def test_close_sends_queued_orders_and_resolves_them():
    servicer = RecordingServicer()
    server, target = await start_server(servicer)
    try:
        client = OrderEntryClient(target, "demo", "demo-secret", max_batch=100, linger_ms=10_000)
        futures = [asyncio.ensure_future(client.submit(order(i))) for i in range(1, 4)]
        await asyncio.sleep(0)
        await asyncio.wait_for(client.close(), timeout=10)
        assert [f.result().accepted.cl_ord_id for f in futures] == [1, 2, 3]
    finally:
        await server.stop(None)


async def test_calls_carry_the_bearer_key_and_secret():
    servicer = RecordingServicer()

    async def body(client):
        return await client.submit(order(1))

    await run_with(servicer, body, linger_ms=0)
    assert servicer.authorization == ["Bearer demo:demo-secret"]


async def test_unary_submit_is_one_call_per_order():
    servicer = RecordingServicer()

    async def body(client):
        return await client.submit_unary(order(9, qty=0))

    result = await run_with(servicer, body)
    assert result.rejected.ord_rej_reason == pb.ORD_REJ_REASON_INCORRECT_QUANTITY
    assert servicer.batch_sizes == []


async def test_batches_go_packed_by_default_and_repeated_on_request_with_the_same_results():
    results = {}
    for packed in (True, False):
        servicer = RecordingServicer()

        async def body(client):
            return await client.submit_batch([order(1), order(2, qty=0), order(3)])

        got = await run_with(servicer, body, packed=packed)
        results[packed] = [r.SerializeToString() for r in got]
        assert servicer.methods == ["SubmitOrdersPacked" if packed else "SubmitOrdersBatch"]
    assert results[True] == results[False]
    assert len(results[True]) == 3
