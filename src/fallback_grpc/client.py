"""OrderEntryClient: the Python client of the gRPC fallback, batching for its caller.

    async with OrderEntryClient("127.0.0.1:50051", "demo", "demo-secret") as client:
        result = await client.submit(pb.NewOrderSingle(...))   # batched with other callers' orders
        if result.WhichOneof("result") == "accepted": ...

submit() collects orders until max_batch orders or linger_ms milliseconds, whichever comes first,
sends them with one batch call (up to max_in_flight calls outstanding) and hands each caller its
own order's result. Batches go as SubmitOrdersPacked (the orders as SBE NewOrderSingle frames, the
results as SBE frames, turned back into OrderResult here: fallback_grpc.packed), which costs the
router far less per order than SubmitOrdersBatch's repeated messages; packed=False uses
SubmitOrdersBatch. The other methods are thin wrappers over one RPC each. Every
order-entry call carries metadata udprouter-call-seq (a random flow id and a call number) so that
the server applies this client's calls in the order they were issued, even with several in flight
(gRPC itself does not order concurrent calls; see fallback_grpc.call_order). RPC failures
surface as grpc.aio.AioRpcError (UNAUTHENTICATED, INVALID_ARGUMENT, RESOURCE_EXHAUSTED, ...): for
submit(), every order of the failed batch gets the error.

Defaults (max_batch 200, linger 1 ms, 4 batches in flight) were chosen by measurement against the
real router (bench/bench_grpc.py and the sweep in the README section "gRPC fallback"): larger
batches amortise the per-call cost, more than 4 in flight only adds queueing on 2 cores.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence

import grpc

from ._generated import order_entry_pb2 as pb
from ._generated import order_entry_pb2_grpc as pb_grpc
from .batcher import OrderBatcher
from .call_order import CALL_SEQ_METADATA
from .packed import pack_orders, unpack_results

DEFAULT_MAX_BATCH = 200
DEFAULT_LINGER_MS = 1.0
DEFAULT_MAX_IN_FLIGHT = 4


def bearer_metadata(key_id: str, secret: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key_id}:{secret}"),)


class OrderEntryClient:
    def __init__(self, target: str, key_id: str, secret: str, *, max_batch: int = DEFAULT_MAX_BATCH,
                 linger_ms: float = DEFAULT_LINGER_MS, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
                 root_certificates: bytes | None = None, timeout_s: float | None = 30.0,
                 packed: bool = True) -> None:
        """root_certificates: PEM bundle to verify the server with TLS (required off loopback);
        packed: batches as SubmitOrdersPacked (default) or SubmitOrdersBatch."""
        if root_certificates is None:
            self._channel = grpc.aio.insecure_channel(target)
        else:
            creds = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.aio.secure_channel(target, creds)
        self._stub = pb_grpc.OrderEntryStub(self._channel)
        self._metadata = bearer_metadata(key_id, secret)
        self._flow = os.urandom(8).hex()
        self._calls = 0
        self._timeout_s = timeout_s
        self._packed = packed
        self._batcher: OrderBatcher[pb.NewOrderSingle, pb.OrderResult] = OrderBatcher(
            self.submit_batch, max_batch=max_batch, linger_s=linger_ms / 1000.0,
            max_in_flight=max_in_flight)

    def _ordered(self) -> tuple[tuple[str, str], ...]:
        """Metadata for the next order-entry call, numbered in the order calls are issued."""
        self._calls += 1
        return (*self._metadata, (CALL_SEQ_METADATA, f"{self._flow}:{self._calls}"))

    async def __aenter__(self) -> OrderEntryClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Send what is queued, wait for its answers, then close the channel."""
        await self._batcher.flush()
        await self._channel.close()

    @property
    def batches_sent(self) -> int:
        return self._batcher.batches_sent

    async def submit(self, order: pb.NewOrderSingle) -> pb.OrderResult:
        """One order, batched with concurrent callers' orders; returns this order's result."""
        return await self._batcher.submit(order)

    async def submit_batch(self, orders: Sequence[pb.NewOrderSingle]) -> Sequence[pb.OrderResult]:
        """One batch call: one result per order, in order."""
        if self._packed:
            response = await self._stub.SubmitOrdersPacked(
                pb.SubmitOrdersPackedRequest(orders=pack_orders(orders)), metadata=self._ordered(),
                timeout=self._timeout_s)
            return unpack_results(response.results)
        response = await self._stub.SubmitOrdersBatch(
            pb.SubmitOrdersBatchRequest(orders=orders), metadata=self._ordered(), timeout=self._timeout_s)
        return response.results

    async def submit_unary(self, order: pb.NewOrderSingle) -> pb.OrderResult:
        """One SubmitOrder call, unbatched."""
        response = await self._stub.SubmitOrder(pb.SubmitOrderRequest(order=order), metadata=self._ordered(),
                                                timeout=self._timeout_s)
        return response.result

    async def cancel(self, cancel: pb.OrderCancelRequest) -> pb.CancelResult:
        response = await self._stub.CancelOrder(pb.CancelOrderRequest(cancel=cancel),
                                                metadata=self._ordered(), timeout=self._timeout_s)
        return response.result

    async def replace(self, replace: pb.OrderCancelReplaceRequest) -> pb.ReplaceResult:
        response = await self._stub.ReplaceOrder(pb.ReplaceOrderRequest(replace=replace),
                                                 metadata=self._ordered(), timeout=self._timeout_s)
        return response.result

    async def stream_executions(self, from_seq_no: int = 0) -> AsyncIterator[pb.ExecutionReport]:
        """This key's execution reports from from_seq_no on (0: from now on), one at a time (the
        server sends them several to a message); runs until cancelled."""
        call = self._stub.StreamExecutions(pb.StreamExecutionsRequest(from_seq_no=from_seq_no),
                                           metadata=self._metadata)
        try:
            async for response in call:
                for report in response.reports:
                    yield report
        finally:
            call.cancel()
