"""SubmitOrdersPacked: a batch of orders in their SBE wire form, both ends of it.

Server: PackedCall.decode checks the request's NewOrderSingle frames in C (packed_batch.h,
udr_pk_decode: fast_ingest.h's frame reader), FastIngest.apply_packed takes each order as
OrderEntry.submit would (room, risk.py's checks, a udr_command in OrderEntry's batch), and the
session copies each command's first report, which it encodes for its stream anyway, into the call's
answer (udr_pk_answer). No Python runs per accepted order on that path.
Client: pack_orders / unpack_results turn the protobuf messages the client API speaks into frames
and back (OrderEntryClient.submit_batch). SubmitOrdersBatch takes the same path on the server:
its repeated orders are packed into frames (pack_orders) and its results filled from the answer
frames (fill_results), so both forms share one C path and give the same answers.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence

from udprouter._ring_cffi import ffi, lib

from udprouter._generated import messages as sbe
from udprouter.reports import frame_struct

from ._generated import order_entry_pb2 as pb
from .convert import FIX_ZERO, from_fix

MAX_BATCH_ORDERS = 10_000
SLOT = lib.UDR_PK_SLOT
NEW_ORDER, NEW_ORDER_PREFIX = frame_struct(sbe.NewOrderSingle)
FRAME = NEW_ORDER.size  # every request frame has this size
_ACCEPTED, _ACCEPTED_PREFIX = frame_struct(sbe.ExecutionReportNew)
_REJECTED, _REJECTED_PREFIX = frame_struct(sbe.ExecutionReportReject)
_BUSINESS, _BUSINESS_PREFIX = frame_struct(sbe.BusinessMessageReject)
_TEMPLATE = struct.Struct("<H")
_ENUMS = ((32, "side", sbe.Side), (33, "ord_type", sbe.OrdType), (34, "time_in_force", sbe.TimeInForce))


def _enum_error(frame: bytes) -> str:
    for offset, name, enum_cls in _ENUMS:
        value = frame[14 + offset]
        if value not in enum_cls._value2member_map_:
            valid = ", ".join(f"{int(m)} {m.name}" for m in enum_cls)
            return f".{name}: {value} is not a {enum_cls.__name__} ({valid})"
    return ": invalid enum value"


def describe(data: bytes, index: int, code: int) -> str:
    """The INVALID_ARGUMENT text for udr_pk_decode's refusal of frame index ("<field>: <why>")."""
    pos = index * FRAME  # every frame before it had exactly FRAME bytes
    where = f"orders[{index}]"
    if code == lib.UDR_PK_TOO_MANY:
        return f"orders: more than {MAX_BATCH_ORDERS} NewOrderSingle frames"
    if code == lib.UDR_PK_BAD_ENUM:
        return where + _enum_error(data[pos:pos + FRAME])
    if code == lib.UDR_PK_ZERO_CL_ORD_ID:
        return f"{where}.cl_ord_id: must be > 0 (and above every ClOrdID the session sent before)"
    why = {
        lib.UDR_PK_TRUNCATED: f"frame at byte {pos} is truncated (the request has {len(data)} bytes)",
        lib.UDR_PK_BAD_ENCODING: f"frame at byte {pos}: SOFH encoding type is not 0xEB50 (SBE 1.0 LE)",
        lib.UDR_PK_NOT_NEW_ORDER: f"frame at byte {pos} is not a NewOrderSingle (template 101, schema 101, "
                                  f"version {sbe.NewOrderSingle.VERSION})",
        lib.UDR_PK_BAD_LENGTH: f"frame at byte {pos}: NewOrderSingle is {FRAME} bytes with block length "
                               f"{sbe.NewOrderSingle.BLOCK_LENGTH}",
    }.get(code, "malformed frame")
    return f"{where}: {why}"


class PackedCall:
    """One call's decoded orders and their answers (udr_pk_call), done once every command answered."""

    __slots__ = ("c", "msgs", "_arrays", "done")

    def __init__(self, msgs, count: int) -> None:
        self.msgs = msgs
        c = self.c = ffi.new("udr_pk_call *")
        self._arrays = (ffi.new("unsigned char[]", count * SLOT), ffi.new("uint8_t[]", count),
                        ffi.new("uint32_t[]", count), ffi.new("uint32_t[]", count),
                        ffi.new("uint8_t[]", count))
        c.slots, c.lens, c.cmd_index, c.reject_index, c.outcome = self._arrays
        c.count = count
        self.done: asyncio.Future[None] | None = None

    @classmethod
    def decode(cls, data: bytes) -> tuple[PackedCall | None, str | None]:
        """The call, or None and "field: why" for INVALID_ARGUMENT (nothing applied)."""
        room = min(len(data) // FRAME, MAX_BATCH_ORDERS) + 1
        msgs = ffi.new("udr_fp_message[]", room)
        bad = ffi.new("uint32_t *")
        n = lib.udr_pk_decode(data, len(data), msgs, MAX_BATCH_ORDERS, bad)
        if n < 0:
            return None, describe(data, bad[0], -n)
        if n == 0:
            return None, f"orders: expected 1..{MAX_BATCH_ORDERS} NewOrderSingle frames, got none"
        return cls(msgs, n), None

    @property
    def count(self) -> int:
        return self.c.count

    @property
    def remaining(self) -> int:
        return self.c.commands - self.c.answered

    def expect(self, loop: asyncio.AbstractEventLoop) -> None:
        self.done = loop.create_future()

    def answered(self, n: int) -> None:
        if n and self.c.answered == self.c.commands and not self.done.done():
            self.done.set_result(None)

    def answer_frame(self, command_seq: int, frame: bytes) -> None:
        """udr_pk_answer for one report already encoded in Python (the tuple sink)."""
        c = self.c
        j = command_seq - c.first_command_seq
        if 0 <= j < c.commands:
            i = c.cmd_index[j]
            if c.lens[i] == 0 and len(frame) <= SLOT:
                ffi.memmove(c.slots + i * SLOT, frame, len(frame))
                c.lens[i] = len(frame)
                c.answered += 1
                self.answered(1)

    def frame(self, index: int) -> bytes:
        return ffi.buffer(self.c.slots + index * SLOT, self.c.lens[index])[:]

    def results(self) -> bytes:
        """Every order's answer frame in request order (compacts the slots: call once, at the end)."""
        return ffi.buffer(self.c.slots, lib.udr_pk_gather(self.c))[:]


# -- client side --------------------------------------------------------------------------------

def _to_fix(value: int) -> int:
    """A proto enum number as its FIX uint8; UNSPECIFIED (0) and anything else unknown as 255, which
    no schema enum uses, so the server refuses it naming the order (never a silent Day)."""
    if value == FIX_ZERO:
        return 0
    return value if 0 < value < 255 else 255


def pack_orders(orders: Sequence[pb.NewOrderSingle]) -> bytes:
    """NewOrderSingle frames back to back (SubmitOrdersPackedRequest.orders)."""
    out = bytearray(FRAME * len(orders))
    pack, prefix = NEW_ORDER.pack_into, NEW_ORDER_PREFIX
    for k, o in enumerate(orders):
        pack(out, k * FRAME, prefix, o.cl_ord_id, o.transact_time, o.price, o.order_qty, o.security_id,
             _to_fix(o.side), _to_fix(o.ord_type), _to_fix(o.time_in_force))
    return bytes(out)


def unpack_results(data: bytes):
    """SubmitOrdersPackedResponse.results as the OrderResult messages SubmitOrdersBatch returns."""
    return fill_results(pb.SubmitOrdersBatchResponse().results, data)


def fill_results(results, data: bytes):
    """Appends one OrderResult per answer frame in data to results (a repeated OrderResult field),
    set in place (cheaper than building each message); returns results."""
    add, pos, end = results.add, 0, len(data)
    while pos < end:
        size = int.from_bytes(data[pos:pos + 4], "big")
        template = _TEMPLATE.unpack_from(data, pos + 8)[0]
        result = add()
        if template == sbe.ExecutionReportNew.TEMPLATE_ID:
            r = result.accepted
            (_, r.cl_ord_id, r.order_id, r.exec_id, r.transact_time, r.price, r.order_qty, r.security_id,
             r.side) = _ACCEPTED.unpack_from(data, pos)
        elif template == sbe.ExecutionReportReject.TEMPLATE_ID:
            r = result.rejected
            (_, r.cl_ord_id, r.exec_id, r.transact_time, r.price, r.order_qty, r.security_id, r.side,
             r.ord_rej_reason) = _REJECTED.unpack_from(data, pos)
        elif template == sbe.BusinessMessageReject.TEMPLATE_ID:
            r = result.business_reject
            _, r.ref_seq_num, r.transact_time, r.ref_template_id, reason = _BUSINESS.unpack_from(data, pos)
            r.business_reject_reason = from_fix(reason)
        else:
            raise ValueError(f"SubmitOrdersPacked result at byte {pos}: unexpected template {template}")
        pos += size
    return results
