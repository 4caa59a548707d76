"""The packed batch path in C (packed_batch.h through FastIngest.apply_packed) against the Python path
it stands in for (OrderEntry.submit, risk.py, reports.py).

Two OrderEntry instances, each on a real ring segment small enough to fill, take the same seeded
batches of orders from one session: one order at a time through OrderEntry.submit, and as NewOrderSingle
frames through PackedCall. The commands that reach the ring, each order's outcome and reject frame,
and the session's marks must be identical; the stream makes every risk reject, duplicates, the
open-order limit and a full ring (EngineBusy) happen many times.
"""

from __future__ import annotations

import os
import random

import pytest
from udprouter._ring_cffi import ffi, lib

from fallback_grpc.grpc_session import GrpcSession
from fallback_grpc.packed import PackedCall, describe
from fallback_grpc.service import OrderEntryService
from udprouter._generated.messages import (
    BusinessMessageReject,
    ExecutionReportReject,
    NewOrderSingle,
)
from udprouter.codec import encode_message
from udprouter.config import Instrument, KeyConfig
from udprouter.fastpath.fast_ingest import FastIngest, limits_table
from udprouter.order_entry import OrderEntry
from udprouter.reports import EVENT_LAYOUT, business_reject, order_reject
from udprouter.ring import RingSegment
from udprouter.risk import Risk, SessionContext

PX = 100_000_000_000
TICK = 10_000_000
INSTRUMENTS = {sid: Instrument(security_id=sid, symbol=f"S{sid}", tick=TICK, reference_price=PX,
                              min_price=PX // 2, max_price=PX * 2, max_qty=1000)
               for sid in (1, 2, 5)}
RING = 64
NOW = 1_700_000_000_000_000_000
BATCHES = 300


class Side:
    """One OrderEntry on its own ring, and the session it serves: the service's GrpcSession for the
    C side (its calls go through OrderEntryService._apply_packed), a bare SessionContext for Python."""

    def __init__(self, name: str, grpc: bool) -> None:
        self.ring = RingSegment.create(name, RING, 64)
        self.risk = Risk(INSTRUMENTS, max_open_orders=120, throttle_per_s=1000)
        self.oe = OrderEntry(self.risk, clock=lambda: NOW)
        self.oe.ring = self.ring
        self.fast = FastIngest(self.risk, self.oe)
        if grpc:
            self.service = OrderEntryService(self.oe, None, None, 100_000, 100, fast=self.fast)
            self.session = GrpcSession(KeyConfig(key_id="k", secret="s", account=4), 9, 100_000, lambda: NOW)
            self.ctx = self.session.ctx
        else:
            self.ctx = SessionContext(9, 4)
        self.commands: list[bytes] = []
        self.next_server_seq = 1

    def drain(self) -> None:
        array = self.ring.new_commands(RING)
        while n := self.ring.poll_commands(array, RING):
            self.commands += [bytes(ffi.buffer(array + i, 64)) for i in range(n)]

    def marks(self) -> tuple:
        return (self.ctx.cl_ord_hwm, self.ctx.open_orders, self.oe.next_command_seq, dict(self.risk.rejects),
                self.oe.engine_busy)

    def close(self) -> None:
        self.ring.unlink()
        self.ring.close()


@pytest.fixture
def sides():
    made = [Side(f"udprouter-pk-{os.getpid()}-{kind}", kind == "c") for kind in ("py", "c")]
    try:
        yield made
    finally:
        for side in made:
            side.close()


def python_batch(side: Side, msgs: list[NewOrderSingle]) -> list[bytes]:
    """Each order's answer frame as the Python path words it (b"" for an applied order)."""
    out = []
    for index, msg in enumerate(msgs):
        outcome = side.oe.submit(side.ctx, msg, NOW)
        if outcome.__class__ is ExecutionReportReject:
            out.append(order_reject(msg, outcome.ord_rej_reason, 9, side.next_server_seq, NOW))
            side.next_server_seq += 1
        elif outcome.__class__ is BusinessMessageReject:
            out.append(business_reject(index + 1, 101, outcome.business_reject_reason, NOW))
        else:
            out.append(b"")
    side.oe.flush(NOW)
    return out


def c_batch(side: Side, msgs: list[NewOrderSingle]) -> list[bytes]:
    """Each order's answer frame from the packed path (b"" for an applied order); its rejects are
    also on the session's stream."""
    call, error = PackedCall.decode(b"".join(encode_message(m) for m in msgs))
    assert error is None
    kept = len(side.session.flow.kept_frames())
    side.service._apply_packed(side.session, call)
    c = call.c
    rejects = [call.frame(i) for i in ffi.unpack(c.reject_index, c.rejects)]
    assert side.session.flow.kept_frames()[kept:] == rejects
    side.session.forget_packed(call)
    return [call.frame(i) for i in range(c.count)]


def random_order(rng: random.Random, cl_ord_id: int) -> NewOrderSingle:
    fault = rng.randrange(8)
    sid = 9 if fault == 0 else rng.choice((1, 2, 5))
    ord_type = rng.choice((1, 2))
    tif = rng.choice((0, 3, 4)) if ord_type == 2 else rng.choice((0, 3, 4) if fault == 1 else (3, 4))
    qty = 0 if fault == 2 else 1001 if fault == 3 else rng.randrange(1, 1001)
    price = PX + rng.randrange(-5, 6) * TICK
    if fault == 4:
        price += TICK // 2
    elif fault == 5:
        price = PX * 3
    return NewOrderSingle(cl_ord_id, NOW, price, qty, sid, rng.choice((1, 2)), ord_type, tif)


async def test_same_batches_give_the_same_commands_answers_and_marks_on_both_paths(sides):
    py, c = sides
    rng = random.Random(15)
    hwm = 0
    for _ in range(BATCHES):
        msgs = []
        for _ in range(rng.randrange(1, 90)):
            hwm += rng.randrange(1, 3)
            msgs.append(random_order(rng, hwm if rng.randrange(12) else max(1, hwm - rng.randrange(3))))
        assert c_batch(c, msgs) == python_batch(py, msgs)
        assert c.marks() == py.marks()
        if rng.randrange(3):  # the engine takes the ring's commands, not always before the next batch
            py.drain()
            c.drain()
        unavailable = rng.randrange(25) == 0  # the router log cannot be written for a while
        py.oe.journal_unavailable = c.oe.journal_unavailable = unavailable
        if rng.randrange(2):  # orders the engine finished
            done = rng.randrange(0, min(py.ctx.open_orders, 40) + 1)
            py.ctx.open_orders -= done
            c.ctx.open_orders -= done
    py.drain()
    c.drain()
    assert c.commands == py.commands
    reasons = py.risk.rejects
    assert {"DuplicateOrder", "UnknownSymbol", "UnsupportedOrderCharacteristic", "IncorrectQuantity",
            "InvalidPriceIncrement", "PriceExceedsCurrentPriceBand", "OrderExceedsLimit",
            "EngineBusy", "JournalUnavailable"} <= set(reasons), reasons
    assert len(py.commands) > 1000


async def test_a_batch_larger_than_the_batch_array_is_offered_in_parts(sides):
    _, c = sides
    c.ring.unlink()
    c.ring.close()
    c.ring = c.oe.ring = RingSegment.create(f"udprouter-pk-{os.getpid()}-big", 8192, 64)
    c.risk.max_open_orders = 10_000
    c.fast.set_limits(*limits_table(c.risk))  # as a config reload does
    msgs = [NewOrderSingle(i, NOW, PX, 1, 1, 1, 2, 0) for i in range(1, 5001)]
    frames = c_batch(c, msgs)
    assert frames == [b""] * 5000
    c.drain()
    assert [int.from_bytes(cmd[:8], "little") for cmd in c.commands] == list(range(1, 5001))


@pytest.mark.parametrize(("data", "words"), [
    (encode_message(NewOrderSingle(1, 0, PX, 1, 1, 1, 2, 0))[:-1], "orders[0]: frame at byte 0 is truncated"),
    (encode_message(NewOrderSingle(1, 0, PX, 1, 1, 1, 2, 0))
     + encode_message(NewOrderSingle(2, 0, PX, 1, 1, 3, 2, 0)), "orders[1].side: 3 is not a Side"),
    (b"", "got none"),
])
def test_decode_refuses_naming_the_order(data, words):
    call, error = PackedCall.decode(data)
    assert call is None and words in error


def test_describe_names_every_refusal_code():
    frame = encode_message(NewOrderSingle(1, 0, PX, 1, 1, 1, 2, 0))
    texts = {describe(frame * 2, 1, code) for code in range(1, 8)}
    assert len(texts) == 7 and all(t.startswith("orders") for t in texts)
    assert lib.UDR_PK_SLOT >= len(frame)


async def test_the_tuple_sink_and_the_c_sink_answer_a_packed_call_alike(sides):
    """OrderEntry gives a session tuples (udp.fast_path off) or the C event array (on): the call's
    answers and the session's stream are the same either way, trades after an answer included."""
    _, c = sides
    other = GrpcSession(KeyConfig(key_id="k", secret="s", account=4), 9, 100_000, lambda: NOW)
    msgs = [NewOrderSingle(i, NOW, PX, 5, 1, 1, 2, 0) for i in range(1, 6)] + \
        [NewOrderSingle(6, NOW, PX, 0, 1, 1, 2, 0)]  # a risk reject among them
    calls = []
    for session in (c.session, other):
        call, _ = PackedCall.decode(b"".join(encode_message(m) for m in msgs))
        c.service._apply_packed(session, call)
        calls.append(call)
    first = calls[0].c.first_command_seq
    assert calls[1].c.first_command_seq == first + 5
    evs = []  # accepted for each order, a trade for the second; the command_seqs of each call's session
    for k in range(5):
        evs.append((k, lib.UDR_EVT_ACCEPTED, 0, 0))
        if k == 1:
            evs.append((k, lib.UDR_EVT_TRADE, 2, 3))
    events = RingSegment.new_events(len(evs))
    data = ffi.buffer(events)
    for offset, session, call in ((0, c.session, calls[0]), (5, other, calls[1])):
        for n, (k, kind, leaves, cum) in enumerate(evs):
            last = lib.UDR_EVT_FLAG_LAST if kind == lib.UDR_EVT_TRADE or k != 1 else 0
            EVENT_LAYOUT.pack_into(data, n * 64, first + offset + k, k + 1, 0, 100 + k, PX, 9, 1, 5, leaves,
                                   cum, kind, 1, 0, last)
        if session is other:
            session.on_events(list(EVENT_LAYOUT.iter_unpack(data)))
        else:
            order = ffi.new("uint32_t[]", list(range(len(evs))))
            session.on_raw_events(events, order, len(evs))
        assert call.remaining == 0 and call.done.done()
    assert calls[0].results() == calls[1].results()
    assert c.session.flow.kept_frames() == other.flow.kept_frames()
    assert len(c.session.flow.kept_frames()) == 1 + len(evs)
