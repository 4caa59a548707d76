"""The "plain asyncio + struct" server: what one would write without this project.

Default asyncio event loop (no uvloop), a DatagramProtocol, struct parsing of each SOFH frame and
its SBE header, and for every order an ExecutionReportNew packed with struct, sent back in one
datagram led by a Sequence message: the same answer shape as the router and the C echo server, so
the same load generator measures all three.

    python -m bench.baseline_asyncio [--port 0]     prints "PORT <n>", serves until SIGTERM
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import struct
import time

SOFH = struct.Struct(">IH")
HEADER = struct.Struct("<HHHH")
NEW_ORDER = struct.Struct("<QQqIiBBB")  # NewOrderSingle block
CL_ORD_ID = struct.Struct("<Q")
SCHEMA_ORDERS, SCHEMA_FIXP = 101, 2748
REPORT_BLOCK = 49


def _frame(block_length: int, template_id: int, schema: int) -> bytes:
    return SOFH.pack(14 + block_length, 0xEB50) + HEADER.pack(block_length, template_id, schema, 0)


SEQUENCE_PREFIX = _frame(8, 8, SCHEMA_FIXP)
REPORT_PREFIX = _frame(REPORT_BLOCK, 201, SCHEMA_ORDERS)
REPORT_BODY = struct.Struct("<QQQQqIiB")  # ClOrdID OrderID ExecID TransactTime Price OrderQty SecurityID Side


class BaselineProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.next_seq = 1
        self.order_id = 0

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        reports = []
        pos = 0
        while pos + 14 <= len(data):
            length, _encoding = SOFH.unpack_from(data, pos)
            _block, template_id, schema, _version = HEADER.unpack_from(data, pos + 6)
            if length < 14 or pos + length > len(data):
                break
            if schema == SCHEMA_ORDERS and template_id in (101, 102, 103):
                reports.append(self._report(data, pos + 14, template_id))
            pos += length
        if reports and self.transport is not None:
            head = SEQUENCE_PREFIX + CL_ORD_ID.pack(self.next_seq)
            self.next_seq += len(reports)
            self.transport.sendto(head + b"".join(reports), addr)

    def _report(self, data: bytes, body: int, template_id: int) -> bytes:
        self.order_id += 1
        if template_id == 101:
            cl_ord_id, _tt, price, qty, security_id, side, _ot, _tif = NEW_ORDER.unpack_from(data, body)
        else:
            (cl_ord_id,), price, qty, security_id, side = CL_ORD_ID.unpack_from(data, body), 0, 0, 0, 0
        return REPORT_PREFIX + REPORT_BODY.pack(cl_ord_id, self.order_id, self.order_id, time.time_ns(),
                                                price, qty, security_id, side)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    transport, _ = await loop.create_datagram_endpoint(BaselineProtocol, local_addr=("127.0.0.1", port))
    print(f"PORT {transport.get_extra_info('sockname')[1]}", flush=True)
    try:
        await stop
    finally:
        transport.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="plain asyncio + struct order-ack server (baseline)")
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(serve(parser.parse_args(argv).port))  # the default loop on purpose: no uvloop


if __name__ == "__main__":
    main()
