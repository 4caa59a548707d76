"""TrivialOrderEntryServicer: the same proto with no router work, the ceiling the real service is
measured against (bench/bench_grpc.py) and the server the client's unit tests talk to.

It builds each order's result from the order alone: an ExecutionReportNew echoing the order, or an
ExecutionReportReject (IncorrectQuantity) for a zero quantity so that callers can tell results apart.
No auth, no engine, no state beyond an order-id counter. SubmitOrdersPacked does the same on SBE
frames: one struct unpack per order frame, one struct pack per result frame (the cheapest Python
that reads the orders and writes the answers; it checks only that the frames are whole).

    python -m bench.trivial_grpc_server [--port N]   # prints "PORT <n>" once serving
"""

from __future__ import annotations

import argparse
import sys

import grpc

from fallback_grpc._generated import order_entry_pb2 as pb
from fallback_grpc._generated import order_entry_pb2_grpc as pb_grpc
from fallback_grpc.packed import FRAME, NEW_ORDER
from udprouter._generated import messages as sbe
from udprouter.reports import frame_struct

_ACCEPTED, _ACCEPTED_PREFIX = frame_struct(sbe.ExecutionReportNew)
_REJECTED, _REJECTED_PREFIX = frame_struct(sbe.ExecutionReportReject)
_INCORRECT_QUANTITY = int(sbe.OrdRejReason.IncorrectQuantity)


class TrivialOrderEntryServicer(pb_grpc.OrderEntryServicer):
    def __init__(self) -> None:
        self._next_order_id = 1

    def fill_result(self, result: pb.OrderResult, order: pb.NewOrderSingle) -> None:
        # Fields are set in place on a repeated field's element: about 2x cheaper than keyword
        # construction with upb, and the real service builds its results the same way.
        if order.order_qty == 0:
            rej = result.rejected
            rej.cl_ord_id, rej.price, rej.order_qty = order.cl_ord_id, order.price, order.order_qty
            rej.security_id, rej.side = order.security_id, order.side
            rej.ord_rej_reason = pb.ORD_REJ_REASON_INCORRECT_QUANTITY
            return
        order_id = self._next_order_id
        self._next_order_id += 1
        acc = result.accepted
        acc.cl_ord_id, acc.order_id, acc.exec_id, acc.price = order.cl_ord_id, order_id, order_id, order.price
        acc.order_qty, acc.security_id, acc.side = order.order_qty, order.security_id, order.side

    async def SubmitOrder(self, request, context):
        response = pb.SubmitOrderResponse()
        self.fill_result(response.result, request.order)
        return response

    async def SubmitOrdersBatch(self, request, context):
        response = pb.SubmitOrdersBatchResponse()
        add = response.results.add
        for order in request.orders:
            self.fill_result(add(), order)
        return response

    async def SubmitOrdersPacked(self, request, context):
        data = request.orders
        if not data or len(data) % FRAME:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"orders: not whole {FRAME}-byte frames")
        out = bytearray(len(data) // FRAME * _ACCEPTED.size)
        at = 0
        for _, cl_ord_id, _, price, qty, security_id, side, _, _ in NEW_ORDER.iter_unpack(data):
            if qty == 0:
                _REJECTED.pack_into(out, at, _REJECTED_PREFIX, cl_ord_id, 0, 0, price, qty, security_id, side,
                                    _INCORRECT_QUANTITY)
                at += _REJECTED.size
                continue
            order_id = self._next_order_id
            self._next_order_id += 1
            _ACCEPTED.pack_into(out, at, _ACCEPTED_PREFIX, cl_ord_id, order_id, order_id, 0, price, qty,
                                security_id, side)
            at += _ACCEPTED.size
        return pb.SubmitOrdersPackedResponse(results=bytes(out[:at]))


async def serve(port: int) -> None:
    server = grpc.aio.server()
    pb_grpc.add_OrderEntryServicer_to_server(TrivialOrderEntryServicer(), server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(f"PORT {bound}", flush=True)
    try:
        await server.wait_for_termination()
    finally:
        await server.stop(None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="trivial gRPC OrderEntry server (benchmark ceiling)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    import uvloop

    try:
        uvloop.run(serve(args.port))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
