"""Engine busy over gRPC: a full inbound ring (tiny ring, engine paused) refuses, nothing is lost,
in both batch forms."""

import asyncio
import time
from pathlib import Path

import grpc
import pytest
from grpc_router import KEYS, PRICE, GrpcRouter

from fallback_grpc._generated import order_entry_pb2 as pb
from fallback_grpc._generated import order_entry_pb2_grpc as pb_grpc
from fallback_grpc.client import bearer_metadata
from fallback_grpc.packed import pack_orders, unpack_results
from udprouter.engine_link.engine_supervisor import default_shm_name
from udprouter.ring import RingSegment

RING = 4
FILL_TIMEOUT_S = 20


async def ring_filled(router: GrpcRouter) -> None:
    """Waits (bounded) until the router's inbound ring holds RING commands: the paused engine's
    segment is read through a mapping of our own."""
    with RingSegment.attach(default_shm_name(Path(router.tmp.name) / "journal")) as ring:
        deadline = time.monotonic() + FILL_TIMEOUT_S
        while ring.inbound_occupancy < RING:
            assert time.monotonic() < deadline, f"the ring holds {ring.inbound_occupancy} of {RING}"
            await asyncio.sleep(0.01)


@pytest.fixture(scope="module")
def tiny_ring_router():
    r = GrpcRouter(inbound_capacity=RING).start()
    try:
        yield r
    finally:
        r.stop()


def order(cl_ord_id):
    return pb.NewOrderSingle(cl_ord_id=cl_ord_id, security_id=1, side=pb.SIDE_BUY, ord_type=pb.ORD_TYPE_LIMIT,
                             time_in_force=pb.TIME_IN_FORCE_DAY,
                             price=PRICE, order_qty=1)


async def test_full_ring_is_resource_exhausted_and_a_partly_fitting_batch_gets_engine_busy(tiny_ring_router):
    key_id, secret, _ = KEYS[0]
    metadata = bearer_metadata(key_id, secret)
    async with grpc.aio.insecure_channel(tiny_ring_router.target) as channel:
        stub = pb_grpc.OrderEntryStub(channel)
        tiny_ring_router.pause_engine()
        try:
            batch = asyncio.ensure_future(stub.SubmitOrdersBatch(
                pb.SubmitOrdersBatchRequest(orders=[order(i) for i in range(1, RING + 3)]), metadata=metadata,
                timeout=20))
            await ring_filled(tiny_ring_router)  # the batch waits for the paused engine
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.SubmitOrder(pb.SubmitOrderRequest(order=order(100)), metadata=metadata, timeout=10)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        finally:
            tiny_ring_router.resume_engine()
        response = await asyncio.wait_for(batch, 20)
        kinds = [r.WhichOneof("result") for r in response.results]
        assert kinds == ["accepted"] * RING + ["business_reject"] * 2
        busy = response.results[RING].business_reject
        assert (busy.business_reject_reason, busy.ref_seq_num, busy.ref_template_id) == \
            (pb.BUSINESS_REJECT_REASON_ENGINE_BUSY, RING + 1, 101)
        # Refused orders consumed nothing: their ClOrdIDs are still usable once the ring has room.
        again = await stub.SubmitOrder(pb.SubmitOrderRequest(order=order(RING + 1)), metadata=metadata,
                                       timeout=10)
        assert again.result.accepted.cl_ord_id == RING + 1


async def test_a_partly_fitting_packed_batch_gets_engine_busy_and_a_full_ring_refuses_it(tiny_ring_router):
    key_id, secret, _ = KEYS[1]  # a session of its own: ClOrdIDs from 1
    metadata = bearer_metadata(key_id, secret)
    async with grpc.aio.insecure_channel(tiny_ring_router.target) as channel:
        stub = pb_grpc.OrderEntryStub(channel)
        tiny_ring_router.pause_engine()
        try:
            call = asyncio.ensure_future(stub.SubmitOrdersPacked(
                pb.SubmitOrdersPackedRequest(orders=pack_orders([order(i) for i in range(1, RING + 3)])),
                metadata=metadata, timeout=20))
            await ring_filled(tiny_ring_router)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.SubmitOrdersPacked(pb.SubmitOrdersPackedRequest(orders=pack_orders([order(100)])),
                                              metadata=metadata, timeout=10)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        finally:
            tiny_ring_router.resume_engine()
        results = unpack_results((await asyncio.wait_for(call, 20)).results)
        assert [r.WhichOneof("result") for r in results] == ["accepted"] * RING + ["business_reject"] * 2
        busy = results[RING].business_reject
        assert (busy.business_reject_reason, busy.ref_seq_num, busy.ref_template_id) == \
            (pb.BUSINESS_REJECT_REASON_ENGINE_BUSY, RING + 1, 101)
        refill = pb.SubmitOrdersPackedRequest(orders=pack_orders([order(RING + 1)]))
        again = await stub.SubmitOrdersPacked(refill, metadata=metadata, timeout=10)
        assert unpack_results(again.results)[0].accepted.cl_ord_id == RING + 1
