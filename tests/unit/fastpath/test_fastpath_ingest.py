"""FastIngest.run (udr_fp_ingest_run) against the Python path it stands in for.

Two routers' worth of real parts (Dispatcher, ServerSession, Risk, OrderEntry, each on a real ring
segment) receive the same seeded stream of datagrams from one established session: one through
the Python path only, one through FastIngest first and the Python path for what it hands back.
The commands that reach the ring, every reply frame and the session's marks must be identical,
and the stream makes the C side both apply and hand back (duplicates, gaps, each risk reject,
throttle, a full ring) many times.
"""

from __future__ import annotations

import os
import random

import pytest
from udprouter._ring_cffi import ffi, lib

from udprouter._generated.messages import (
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    Sequence,
)
from udprouter.codec import encode_message
from udprouter.config import Instrument, KeyConfig, SessionConfig
from udprouter.datagram_mac import DatagramMac
from udprouter.dispatcher import Dispatcher
from udprouter.fastpath.fast_ingest import NO_SESSION, OUTCOMES, FastIngest
from udprouter.fastpath.fast_io import address_key
from udprouter.order_entry import OrderEntry
from udprouter.ring import RingSegment
from udprouter.risk import Risk
from udprouter.server_session import ServerSession, SessionState
from udprouter.session import SessionLayer

ADDR = ("127.0.0.1", 40000)
PX = 100_000_000_000
TICK = 10_000_000
INSTRUMENTS = {sid: Instrument(security_id=sid, symbol=f"S{sid}", tick=TICK, reference_price=PX,
                              min_price=PX // 2, max_price=PX * 2, max_qty=1000)
               for sid in (1, 2, 5)}
DATAGRAMS = 3_000
MAC = DatagramMac(bytes(range(32)))  # the session's datagram key on both sides


class Side:
    """One router's inbound half with a test clock; the test drains the ring as the engine would.
    fast: datagrams go the way the server takes a recvmmsg batch (FastIngest.run over the batch, the
    Python path for each datagram it stops at); bound: the session's source is bound from the start
    (else its first datagram binds it, as in the server)."""

    def __init__(self, name: str, fast: bool, clock, bound: bool = True) -> None:
        self.ring = RingSegment.create(name, 16, 64)
        risk = Risk(INSTRUMENTS, max_open_orders=1500, throttle_per_s=300)
        self.oe = OrderEntry(risk, clock=clock)
        self.oe.ring = self.ring
        layer = SessionLayer(SessionConfig(), auth=None, store=None)
        self.dispatcher = Dispatcher(layer, self.oe, clock=clock)
        self.session = ServerSession(b"u" * 16, 7, KeyConfig(key_id="k", secret="s", account=3), ADDR, 1000)
        self.session.state = SessionState.ESTABLISHED
        self.session.set_datagram_key(MAC.key, True)
        layer.by_addr[ADDR] = self.session
        self.fast = FastIngest(risk, self.oe) if fast else None
        if fast and bound:
            self.fast.bind(address_key(ADDR), self.session)
        self.clock = clock
        self.commands: list[bytes] = []
        self.arena = ffi.new("unsigned char[]", lib.UDR_IO_MAX_BATCH * lib.UDR_IO_SLOT_SIZE)
        self.lens = ffi.new("uint32_t[]", lib.UDR_IO_MAX_BATCH)
        self.keys = ffi.new("uint64_t[]", lib.UDR_IO_MAX_BATCH)
        self.touched: list[int] = []
        self.stops: list[int] = []

    def receive(self, data: bytes) -> None:
        self.receive_batch([(data, ADDR)])

    def receive_batch(self, batch: list[tuple[bytes, tuple[str, int]]]) -> None:
        if self.fast is None:
            for data, addr in batch:
                self.dispatcher.receive(data, addr)
            return
        for i, (data, addr) in enumerate(batch):
            ffi.memmove(self.arena + i * lib.UDR_IO_SLOT_SIZE, data, len(data))
            self.lens[i], self.keys[i] = len(data), address_key(addr)
        i, n = 0, len(batch)
        while i < n:
            i, stopped, _ = self.fast.run(self.arena, self.lens, self.keys, i, n, self.clock(),
                                          lambda keys, now: self.touched.extend(keys))
            if i == n:
                break
            self.stops.append(stopped)
            data, addr = batch[i]
            self.dispatcher.receive(data, addr)
            session = self.dispatcher.sessions.by_addr.get(addr)
            if stopped == NO_SESSION and session is not None and session.state is SessionState.ESTABLISHED:
                self.fast.bind(address_key(addr), session)
            i += 1

    def end_of_pass(self) -> None:
        self.oe.flush(self.clock())
        array = self.ring.new_commands(64)
        while n := self.ring.poll_commands(array, 64):
            self.commands += [bytes(ffi.buffer(array + i, 64)) for i in range(n)]

    def marks(self) -> tuple:
        ctx = self.session
        return (self.session.next_inbound, ctx.cl_ord_hwm, ctx.open_orders, ctx.tokens, ctx.refill_ns,
                self.oe.next_command_seq, list(self.session.pending), self.dispatcher.mac_failures)

    def close(self) -> None:
        self.ring.unlink()
        self.ring.close()


@pytest.fixture
def sides():
    now = [1_000_000_000]
    made = [Side(f"udprouter-fp-{os.getpid()}-{kind}", kind == "c", lambda: now[0]) for kind in ("py", "c")]
    try:
        yield made, now
    finally:
        for side in made:
            side.close()


def random_message(rng: random.Random, hwm: int):
    """Mostly a valid message; one time in six it carries exactly one risk fault."""
    fault = rng.choice(("dup", "unknown", "tick", "band", "qty0", "qty", "market_day", "orig")) \
        if rng.random() < 1 / 6 else ""
    cl = hwm - rng.randrange(2) if fault == "dup" else hwm + 1
    sec = 9 if fault == "unknown" else rng.choice((1, 2, 5))
    price = {"tick": PX + 1, "band": PX * 3}.get(fault, PX + TICK * rng.randrange(-5, 5))
    qty = {"qty0": 0, "qty": 1001}.get(fault, rng.randrange(1, 1001))
    orig = hwm + 50 if fault == "orig" else rng.choice((max(hwm - 3, 1), 1))
    kind = rng.randrange(10)
    if kind < 7:
        ord_type, tif = (1, 0) if fault == "market_day" else rng.choice(((2, 0), (2, 3), (1, 3), (1, 4)))
        return NewOrderSingle(cl, 0, price, qty, sec, rng.choice((1, 2)), ord_type, tif)
    if kind < 9:
        return OrderCancelRequest(cl, orig, 0, sec, 1)
    return OrderCancelReplaceRequest(cl, orig, 0, price, qty, sec, 2)


def mac_fault(rng: random.Random, data: bytes) -> bytes:
    """data with its MAC frame wrong in one of the ways a forger or a broken client gets it wrong."""
    signed = MAC.sign(data)
    fault = rng.randrange(6)
    if fault == 0:
        return data  # no MAC frame
    if fault == 1:
        return signed[:-1] + bytes([signed[-1] ^ 1])  # a wrong MAC
    if fault == 2:
        return signed[:20] + bytes([signed[20] ^ 1]) + signed[21:]  # NextSeqNo changed after signing
    if fault == 3:
        return signed[:-1]  # truncated MAC frame
    if fault == 4:
        return signed + encode_message(Sequence(1))  # MAC frame not last
    return DatagramMac(bytes(32)).sign(data)  # another session's key


def datagram_stream(rng: random.Random, count: int):
    """A seeded stream of datagrams from one session: valid, faulty, replayed, gapped, and now and
    then without a right MAC (nothing of those is applied)."""
    seq, hwm = 1, 0
    for _ in range(count):
        msgs = []
        for _ in range(rng.choice((0, 1, 1, 1, 2, 3))):
            msgs.append(random_message(rng, hwm))
            hwm = max(hwm, msgs[-1].cl_ord_id)
        first = seq + rng.choice((0,) * 12 + (-2, 3))  # replays and gaps now and then
        data = encode_message(Sequence(max(first, 1))) + b"".join(encode_message(m) for m in msgs)
        if msgs and rng.random() < 0.03:
            data = data[:-1] + b"\x09"  # last frame's TimeInForce/Side out of range: a decode error
        if rng.random() < 0.05:
            yield mac_fault(rng, data)
            continue  # never applied: the next datagram may reuse its numbers
        seq = max(seq, first + len(msgs))
        yield MAC.sign(data)


def end_step(py: Side, other: Side, rng: random.Random, now: list[int], drain_chance: float) -> None:
    """After a step of a differential run: now and then end the pass on both sides (the ring has
    16 slots: skipped drains make it fill up), move the clock, compare the session marks and drop
    the replies (compared through the marks)."""
    if rng.random() < drain_chance:
        for side in (py, other):
            side.end_of_pass()
    now[0] += rng.choice((0, 0, 1_000_000, 10_000_000))
    assert other.marks() == py.marks()
    py.session.pending.clear()
    other.session.pending.clear()


def finish(py: Side, other: Side) -> None:
    """The last pass on both sides, then the same commands in the same order."""
    for side in (py, other):
        side.end_of_pass()
    assert other.commands == py.commands


def test_same_stream_gives_the_same_commands_replies_and_marks_on_both_paths(sides):
    (py, c), now = sides
    rng = random.Random(5)  # passes and clock; the stream has its own
    for data in datagram_stream(random.Random(4), DATAGRAMS):
        for side in (py, c):
            side.receive(data)
        end_step(py, c, rng, now, drain_chance=0.1)
    finish(py, c)
    outcomes = dict(zip(OUTCOMES, c.fast.outcomes, strict=True))
    assert outcomes["applied"] > 500 and len(c.commands) > 1000, outcomes
    del outcomes["no_session"]  # the session is bound from the start
    assert all(n > 20 for n in outcomes.values()), outcomes  # every hand-back reason was exercised
    assert py.dispatcher.mac_failures == c.dispatcher.mac_failures > 100


def test_applied_datagram_fills_the_batch_and_moves_the_session_marks(sides):
    (_, c), now = sides
    data = encode_message(Sequence(1)) + encode_message(NewOrderSingle(5, 0, PX, 10, 1, 1, 2, 0)) \
        + encode_message(OrderCancelRequest(6, 5, 0, 1, 1))
    c.receive(MAC.sign(data))
    ctx = c.session
    marks = (c.session.next_inbound, ctx.cl_ord_hwm, ctx.open_orders, c.oe.batch.n, c.oe.next_command_seq)
    assert marks == (3, 6, 1, 2, 3)
    assert c.fast.outcomes[0] == 1 and c.session.pending == []
    c.end_of_pass()
    cmd = ffi.from_buffer("udr_command *", c.commands[1])
    assert (cmd.command_seq, cmd.kind, cmd.cl_ord_id, cmd.orig_cl_ord_id, cmd.session_id, cmd.account,
            cmd.recv_time_ns) == (2, 2, 6, 5, 7, 3, now[0])


@pytest.fixture
def run_sides():
    now = [1_000_000_000]
    made = [Side(f"udprouter-fpr-{os.getpid()}-py", False, lambda: now[0]),
            Side(f"udprouter-fpr-{os.getpid()}-run", True, lambda: now[0], bound=False)]
    try:
        yield made, now
    finally:
        for side in made:
            side.close()


def test_batches_through_the_c_run_give_the_same_commands_replies_and_marks(run_sides):
    (py, run), now = run_sides
    rng = random.Random(11)
    stream = datagram_stream(rng, DATAGRAMS)
    done = False
    while not done:
        batch = []
        for _ in range(rng.choice((1, 2, 5, 17, 64))):
            data = next(stream, None)
            if data is None:
                done = True
                break
            batch.append((data, ADDR))
        py.receive_batch(batch)
        run.receive_batch(batch)
        end_step(py, run, rng, now, drain_chance=0.3)  # more drains: a full batch meets no room too
    finish(py, run)
    # The session is bound from the first datagram on (the fixture established it; the first
    # datagram binds it), so every stop is a hand-back reason, and each one happened.
    assert set(run.stops) >= {lib.UDR_FP_NOT_FAST_SHAPE, lib.UDR_FP_SEQUENCE_MISMATCH, lib.UDR_FP_THROTTLED,
                              lib.UDR_FP_RISK_REJECT, lib.UDR_FP_NO_ROOM,
                              lib.UDR_FP_UNAUTHENTICATED}, run.stops
    assert run.touched and set(run.touched) == {address_key(ADDR)}


def test_run_serves_only_a_source_bound_to_an_established_session(run_sides):
    (_, run), now = run_sides
    order = encode_message(NewOrderSingle(5, 0, PX, 10, 1, 1, 2, 0))
    run.receive_batch([(MAC.sign(encode_message(Sequence(1)) + order), ADDR)])  # binds ADDR on the way
    assert run.stops == [NO_SESSION] and run.session.next_inbound == 2
    second = MAC.sign(encode_message(Sequence(2)) + encode_message(NewOrderSingle(6, 0, PX, 10, 1, 1, 2, 0)))
    run.receive_batch([(second, ADDR)])
    assert run.stops == [NO_SESSION] and run.session.next_inbound == 3  # taken in C this time
    run.session.state = SessionState.TERMINATED  # a stale binding: the session's own flag decides
    run.receive_batch([(MAC.sign(encode_message(Sequence(3))), ADDR)])
    assert run.stops == [NO_SESSION, NO_SESSION] and run.session.next_inbound == 3
    run.session.state = SessionState.ESTABLISHED
    run.session.addr = ("127.0.0.1", 40001)  # moved: the old source no longer names it
    run.receive_batch([(MAC.sign(encode_message(Sequence(3))), ADDR)])
    assert run.stops == [NO_SESSION] * 3 and run.session.next_inbound == 3
    run.receive_batch([(MAC.sign(encode_message(Sequence(3))), ("127.0.0.1", 40002))])  # never bound
    assert run.stops == [NO_SESSION] * 4 and run.session.next_inbound == 3
