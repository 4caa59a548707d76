"""A pass's replies built in C (fastpath/fast_reply.h, LoopPass._reply_in_c) against the sinks' way:
the router log record byte for byte as msgspec makes it, and the same seeded event streams, drained
from real ring segments by two routers (one building replies in C, one through the sinks), must
send the same datagrams to the same sockets, leave the same router log file and the same sessions.
A failed log write sends nothing and holds the datagrams until a write succeeds."""

from __future__ import annotations

import os
import random
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fastpath_egress import NOW, publish, random_events
from udprouter._ring_cffi import ffi, lib

from tests.unit.durability.test_router_log import writes_fail
from udprouter.config import KeyConfig, SessionConfig
from udprouter.dispatcher import Dispatcher
from udprouter.durability.router_log import FILE_NAME, PassRecord, RouterLog, frame_record, replay
from udprouter.fastpath.fast_io import DatagramSocket, address_key
from udprouter.loop_pass import LoopPass
from udprouter.order_entry import OrderEntry
from udprouter.ring import RingSegment
from udprouter.risk import Risk
from udprouter.server_session import ServerSession, SessionContext, SessionState
from udprouter.session import SessionLayer

U64 = st.one_of(st.sampled_from([0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1]),
                st.integers(0, 2**64 - 1))
FRAME = st.binary(min_size=0, max_size=300)  # across MessagePack's bin8 / bin16 boundary
GROUP = st.tuples(st.integers(0, 2**32 - 1), U64, st.lists(FRAME, min_size=1, max_size=20))
CAPACITY = 4096
UDP_SESSIONS = (1, 2, 3)
TUPLE_SESSION = 4


def c_record(command_through: int, done_through: int, partial: tuple[int, int],
             sent: list[tuple[int, int, list[bytes]]]) -> bytes:
    groups = ffi.new("udr_fp_group[]", max(1, len(sent)))
    targets = ffi.new("udr_fr_target[]", max(1, len(sent)))
    blob = b"".join(f for _, _, frames in sent for f in frames)
    ends = ffi.new("uint32_t[]", max(1, sum(len(frames) for _, _, frames in sent)))
    at = k = 0
    for g, (session_id, first, frames) in enumerate(sent):
        groups[g].session_id, groups[g].count = session_id, len(frames)
        targets[g].first_seq = first
        for frame in frames:
            at += len(frame)
            ends[k] = at
            k += 1
    out = ffi.new("unsigned char[]", lib.UDR_FR_RECORD_FIXED + len(sent) * lib.UDR_FR_RECORD_GROUP
                  + k * lib.UDR_FR_RECORD_BIN + len(blob))
    length = lib.udr_fr_record(out, command_through, done_through, *partial, groups, len(sent), targets,
                               ffi.from_buffer(blob), ends)
    return bytes(ffi.buffer(out, length))


@settings(max_examples=300, deadline=None)
@given(U64, U64, st.tuples(U64, U64), st.lists(GROUP, max_size=20))
def test_c_record_is_msgspecs_record_byte_for_byte(command_through, done_through, partial, sent):
    expected = frame_record(PassRecord(False, command_through, done_through, *partial, [], sent))
    assert c_record(command_through, done_through, partial, sent) == expected


class Supervisor:
    """What LoopPass reads of the engine supervisor: its ring."""

    def __init__(self, ring: RingSegment) -> None:
        self.ring = ring


class Router:
    """The real order entry, dispatcher, router log, socket and loop pass around one ring segment;
    UDP sessions whose peers are real sockets, and a tuple sink (a gRPC-like session)."""

    def __init__(self, name: str, directory, build_replies: bool, durability: str = "os") -> None:
        self.ring = RingSegment.create(name, 8, 256)
        self.oe = OrderEntry(Risk({}, 10, 10), clock=lambda: NOW)
        self.oe.ring = self.ring
        self.oe.fast_route = True
        self.dispatcher = Dispatcher(SessionLayer(SessionConfig(), None, None), self.oe, clock=lambda: NOW)
        self.log = RouterLog(directory, durability, CAPACITY) if durability != "none" else None
        self.socket = DatagramSocket("127.0.0.1", 0, 1 << 20, lambda callback: None)
        self.loop_pass = LoopPass(self.oe, self.dispatcher, Supervisor(self.ring))
        self.loop_pass.use_log(self.log)
        self.loop_pass.start(self.socket.send, self.socket, lambda callback: None,
                             build_replies=build_replies)
        self.peers: dict[int, socket.socket] = {}
        self.sessions: dict[int, ServerSession] = {}
        for sid in UDP_SESSIONS:
            peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            peer.bind(("127.0.0.1", 0))
            peer.setblocking(False)
            session = ServerSession(bytes([sid]) * 16, sid, KeyConfig(key_id="k", secret="s", account=sid),
                                    peer.getsockname(), CAPACITY)
            session.state = SessionState.ESTABLISHED
            session.open_orders = 50
            session.renumber_from(10 * sid)
            if self.log is not None:
                self.log.attach(session)
            self.dispatcher.attach(session)
            self.peers[sid], self.sessions[sid] = peer, session
        self.tuples: list[tuple] = []
        self.tuple_ctx = SessionContext(TUPLE_SESSION, 9)
        self.oe.register_sink(TUPLE_SESSION, self.tuples.extend, self.tuple_ctx)
        if self.log is not None:
            self.log.open()

    def publish(self, events: list[dict]) -> None:
        publish(self.ring, events)

    def received(self) -> dict[int, list[bytes]]:
        got = {}
        for sid, peer in self.peers.items():
            got[sid] = []
            for _ in range(10_000):
                try:
                    got[sid].append(peer.recv(2048))
                except BlockingIOError:
                    break
        return got

    def state(self) -> tuple:
        d, oe = self.dispatcher, self.oe
        sessions = {sid: (s.next_outbound, s.kept_range(), s.kept_frames(), s.open_orders, s.last_send_ns)
                    for sid, s in self.sessions.items()}
        return (oe.done_through, oe.partial, oe.events_routed, oe.undeliverable, d.messages_out,
                d.datagrams_out, sessions, list(self.tuples), self.log.records if self.log else None)

    def close(self) -> None:
        self.loop_pass.close()
        self.socket.close()
        for peer in self.peers.values():
            peer.close()
        self.ring.unlink()
        self.ring.close()


@pytest.fixture
def routers(tmp_path):
    made = []
    try:
        for kind in ("sinks", "c"):
            made.append(Router(f"udprouter-fr-{os.getpid()}-{kind}", tmp_path / kind, kind == "c"))
        yield made
    finally:
        for router in made:
            router.close()


def same_both_ways(sinks: Router, c: Router, seed: int, rounds: int) -> None:
    """The same seeded event batches drained by both routers: the same datagrams and state after each."""
    rng = random.Random(seed)
    seq = 0
    for round_no in range(rounds):
        events, seq = random_events(rng, seq)
        if round_no % 3:  # most batches all for UDP sessions: the C way; the others fall back
            events = [dict(e, session_id=rng.choice(UDP_SESSIONS)) for e in events]
        for router in (sinks, c):
            router.publish(events)
            router.loop_pass.on_engine_events()
        assert c.received() == sinks.received()
        assert c.state() == sinks.state()


def test_same_events_give_the_same_datagrams_log_and_sessions_both_ways(routers, tmp_path):
    sinks, c = routers
    same_both_ways(sinks, c, seed=7, rounds=200)
    assert c.loop_pass.replies_built_in_c > 100 and sinks.loop_pass.replies_built_in_c == 0
    assert c.oe.undeliverable > 0  # the fallback batches went through the sinks
    for router in routers:
        router.loop_pass.close()
    c_log, sinks_log = ((tmp_path / kind / FILE_NAME).read_bytes() for kind in ("c", "sinks"))
    assert c_log == sinks_log
    recovered = replay(tmp_path / "c", CAPACITY)
    for sid, session in c.sessions.items():
        assert recovered.sessions[sid].next_outbound == session.next_outbound
        assert list(recovered.sessions[sid].kept) == session.kept_frames()


@pytest.mark.parametrize("durability", ["none", "fsync"])
def test_without_the_log_in_its_common_state_the_replies_are_the_same_both_ways(tmp_path, durability):
    """durability none: drain_step answers in C with no record; fsync: the log is not in the state C
    writes records in, so _reply_in_c builds the replies in C and the log commits them."""
    routers = [Router(f"udprouter-frn-{os.getpid()}-{kind}", tmp_path / kind, kind == "c", durability)
               for kind in ("sinks", "c")]
    try:
        sinks, c = routers
        same_both_ways(sinks, c, seed=11, rounds=100)
        assert c.loop_pass.replies_built_in_c > 50 and sinks.loop_pass.replies_built_in_c == 0
    finally:
        for router in routers:
            router.close()


def event(command_seq: int, session_id: int) -> dict:
    return {"command_seq": command_seq, "cl_ord_id": command_seq, "order_id": command_seq, "price": 100,
            "session_id": session_id, "security_id": 1, "qty": 3, "leaves_qty": 3, "kind": 1, "side": 1,
            "flags": 1}


def test_a_failed_record_write_sends_nothing_and_holds_the_datagrams_until_a_write_succeeds(routers):
    _, c = routers
    log = c.log
    with writes_fail(log):
        c.publish([event(1, 1), event(2, 2)])
        c.loop_pass.on_engine_events()
        assert c.loop_pass.replies_built_in_c == 1
        assert c.received() == {1: [], 2: [], 3: []}
        assert log.unavailable and log.unavailable_episodes == 1 and log.write_failures >= 1
        assert c.sessions[1].next_outbound == 11 and c.sessions[2].next_outbound == 21  # sequenced, kept
        c.publish([event(3, 1)])
        c.loop_pass.on_engine_events()  # the log is waiting: the sinks' way, held behind the first
        assert c.loop_pass.replies_built_in_c == 1
        assert c.received() == {1: [], 2: [], 3: []}
    c.loop_pass.retry_log()
    got = c.received()
    assert [len(got[1]), len(got[2]), len(got[3])] == [2, 1, 0]
    c.loop_pass.close()
    recovered = replay(log.directory, CAPACITY)
    assert recovered.sessions[1].next_outbound == 12 and recovered.sessions[2].next_outbound == 21
    assert list(recovered.sessions[1].kept) == c.sessions[1].kept_frames()


def test_a_batch_the_c_way_cannot_take_goes_through_the_sinks(routers):
    _, c = routers
    c.sessions[3].state = SessionState.TERMINATED  # sequenced and kept, not sent
    c.publish([event(1, 1), event(2, 3)])
    c.loop_pass.on_engine_events()
    assert c.loop_pass.replies_built_in_c == 0
    assert [len(v) for v in c.received().values()] == [1, 0, 0]
    assert c.sessions[3].next_outbound == 31
    c.sessions[2].pending.append(c.sessions[1].kept_frames()[0])  # a reply waiting in another session
    c.dispatcher._dirty[2] = c.sessions[2]
    c.publish([event(3, 1)])
    c.loop_pass.on_engine_events()
    assert c.loop_pass.replies_built_in_c == 0
    c.publish([event(4, 1)])
    c.loop_pass.on_engine_events()  # nothing waits any more: the C way
    assert c.loop_pass.replies_built_in_c == 1
    # A gRPC flow is a ServerSession too, established, with a raw sink of its own: its events are its.
    flow = ServerSession(b"\x05" * 16, 5, KeyConfig(key_id="g", secret="s", account=5), None, CAPACITY)
    flow.state = SessionState.ESTABLISHED
    raw_events = []

    def flow_sink(events):
        raise AssertionError("the raw sink takes the fast route's events")

    flow_sink.raw = lambda events, order, count: raw_events.append(count)
    c.oe.register_sink(5, flow_sink, flow)
    c.publish([event(5, 5)])
    c.loop_pass.on_engine_events()
    assert c.loop_pass.replies_built_in_c == 1 and raw_events == [1]
    assert address_key(c.sessions[1].addr) == c.socket.key_of(c.sessions[1].addr)
