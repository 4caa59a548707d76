"""udr_fp_route + udr_fp_encode_reports (OrderEntry.fast_route) against the Python routing and
reports.encode_event: the same seeded event streams, drained from real ring segments, must leave
identical report frames in every session, identical tuples in a tuple-only sink, and identical
routing marks (done_through, the partial command, the restart skip, open orders, counters)."""

from __future__ import annotations

import os
import random

import pytest

from udprouter.codec import decode_frames
from udprouter.config import KeyConfig, SessionConfig
from udprouter.dispatcher import Dispatcher
from udprouter.order_entry import OrderEntry
from udprouter.ring import RingSegment
from udprouter.risk import Risk
from udprouter.server_session import ServerSession, SessionContext
from udprouter.session import SessionLayer

NOW = 1_767_225_600_123_456_789
UDP_SESSIONS = (1, 2, 3)
TUPLE_SESSION = 4  # a gRPC-style sink: gets event tuples on both paths


def publish(ring: RingSegment, events: list[dict]) -> None:
    """The events (udr_event fields by name) into the outbound ring, as the engine publishes them."""
    array = ring.new_events(len(events))
    for i, fields in enumerate(events):
        for name, value in fields.items():
            setattr(array[i], name, value)
    assert ring.offer_events(array, len(events)) == len(events)


class Router:
    def __init__(self, name: str, fast: bool) -> None:
        self.ring = RingSegment.create(name, 8, 256)
        self.oe = OrderEntry(Risk({}, 10, 10), clock=lambda: NOW)
        self.oe.ring = self.ring
        self.oe.fast_route = fast
        self.dispatcher = Dispatcher(SessionLayer(SessionConfig(), None, None), self.oe, clock=lambda: NOW)
        self.sessions = {}
        for sid in UDP_SESSIONS:
            session = ServerSession(bytes([sid]) * 16, sid, KeyConfig(key_id="k", secret="s", account=sid),
                                    ("127.0.0.1", 1000 + sid), 100)
            session.open_orders = 50
            session.next_outbound = 10 * sid
            self.sessions[sid] = session
            self.dispatcher.attach(session)
        self.tuples: list[tuple] = []
        self.tuple_ctx = SessionContext(TUPLE_SESSION, 9)
        self.tuple_ctx.open_orders = 50
        self.oe.register_sink(TUPLE_SESSION, self.tuples.extend, self.tuple_ctx)

    def publish(self, events: list[dict]) -> None:
        publish(self.ring, events)

    def marks(self) -> tuple:
        oe, st = self.oe, self.oe.route_state  # the skip after an engine restart too
        return (oe.done_through, oe.partial, (st.skip_seq, st.skip_left), oe.events_routed, oe.undeliverable,
                [s.open_orders for s in self.sessions.values()], self.tuple_ctx.open_orders,
                {sid: list(s.pending) for sid, s in self.sessions.items()}, list(self.tuples))

    def close(self) -> None:
        self.ring.unlink()
        self.ring.close()


@pytest.fixture
def routers():
    made = [Router(f"udprouter-fpe-{os.getpid()}-{kind}", kind == "c") for kind in ("py", "c")]
    try:
        yield made
    finally:
        for router in made:
            router.close()


def random_events(rng: random.Random, seq: int) -> tuple[list[dict], int]:
    events = []
    for _ in range(rng.randrange(1, 120)):
        if rng.random() < 0.5:
            seq += 1
        command_seq = seq - rng.choice((0,) * 20 + (3,))  # now and then an event already routed
        events.append({
            "command_seq": max(command_seq, 1), "cl_ord_id": rng.getrandbits(64),
            "orig_cl_ord_id": rng.getrandbits(64), "order_id": rng.getrandbits(64),
            "price": rng.getrandbits(64) - 2**63, "session_id": rng.choice((1, 2, 3, 4, 5)),
            "security_id": rng.getrandbits(32) - 2**31, "qty": rng.getrandbits(32),
            "leaves_qty": rng.choice((0, 0, 7, rng.getrandbits(32))), "cum_qty": rng.getrandbits(32),
            "kind": rng.choice((1, 2, 2, 3, 4, 5, 6, 7, 8, 10)), "side": rng.choice((1, 2)),
            "reason": rng.randrange(256), "flags": rng.randrange(16)})
    return events, seq


def test_same_events_give_the_same_reports_tuples_and_marks_on_both_paths(routers):
    py, c = routers
    rng = random.Random(11)
    seq = 0
    for round_no in range(300):
        events, seq = random_events(rng, seq)
        for router in routers:
            router.publish(events)
            router.oe.drain()
            if round_no % 50 == 49:
                router.oe.engine_restarting()  # the restart skip of the partial command
        assert c.marks() == py.marks()
        for router in routers:
            for session in router.sessions.values():
                session.next_outbound += len(session.pending)
                session.pending.clear()
            router.tuples.clear()
    assert c.oe.events_routed > 10_000 and c.oe.undeliverable > 1_000


def test_encoded_reports_decode_with_exec_id_from_session_and_server_seq(routers):
    _, c = routers
    c.publish([{"command_seq": 5, "cl_ord_id": 77, "order_id": 5, "price": 100, "session_id": 2,
                "security_id": 1, "qty": 3, "leaves_qty": 3, "kind": 1, "side": 1, "flags": 1}])
    c.oe.drain()
    (report,) = decode_frames(b"".join(c.sessions[2].pending))
    fields = (report.cl_ord_id, report.order_id, report.exec_id, report.transact_time)
    assert fields == (77, 5, (2 << 40) | 20, NOW)
