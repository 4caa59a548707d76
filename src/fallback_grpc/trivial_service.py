"""TrivialOrderEntryServicer: the same proto with no router work, the ceiling the real service is
measured against (bench/bench_grpc.py) and the server the client's unit tests talk to.

It builds each order's result from the order alone: an ExecutionReportNew echoing the order, or an
ExecutionReportReject (IncorrectQuantity) for a zero quantity so that callers can tell results apart.
No auth, no engine, no state beyond an order-id counter.

    python -m fallback_grpc.trivial_service [--port N]   # prints "PORT <n>" once serving
"""

from __future__ import annotations

import argparse
import sys

import grpc

from ._generated import trading_engine_pb2 as pb
from ._generated import trading_engine_pb2_grpc as pb_grpc


class TrivialOrderEntryServicer(pb_grpc.OrderEntryServicer):
    def __init__(self) -> None:
        self._next_order_id = 1

    def result_for(self, order: pb.NewOrderSingle) -> pb.OrderResult:
        if order.order_qty == 0:
            return pb.OrderResult(rejected=pb.ExecutionReportReject(
                cl_ord_id=order.cl_ord_id, price=order.price, security_id=order.security_id,
                side=order.side, ord_rej_reason=pb.ORD_REJ_REASON_INCORRECT_QUANTITY))
        order_id = self._next_order_id
        self._next_order_id += 1
        return pb.OrderResult(accepted=pb.ExecutionReportNew(
            cl_ord_id=order.cl_ord_id, order_id=order_id, exec_id=order_id, price=order.price,
            order_qty=order.order_qty, security_id=order.security_id, side=order.side))

    async def SubmitOrder(self, request, context):
        return self.result_for(request)

    async def SubmitOrdersBatch(self, request, context):
        return pb.SubmitOrdersBatchResponse(results=[self.result_for(o) for o in request.orders])


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
