"""FastIngest.read (fastpath/read_pass.h): a read pass's common case, socket to ring, in one C call.

Real parts around a real ring segment: a DatagramSocket fed by real peer sockets, FastIngest,
OrderEntry, the Dispatcher, a RouterLog on disk and the LoopPass that ends the pass. What it must
keep: the write-ahead record it appends is the one RouterLog.before_offer writes (byte for byte, as
msgspec encodes PassRecord), and it is in the file before any command reaches the ring; anything it
does not take (a datagram off the fast path, no log, a failed write) offers nothing and leaves the
Python path to go on from where it stopped.
"""

from __future__ import annotations

import os
import random
import socket
import time

import pytest
from test_fastpath_ingest import INSTRUMENTS, MAC, PX, TICK
from udprouter._ring_cffi import ffi

from tests.unit.durability.test_router_log import writes_fail
from udprouter._generated.messages import NewOrderSingle, Sequence
from udprouter.codec import encode_message
from udprouter.config import KeyConfig, SessionConfig
from udprouter.dispatcher import Dispatcher
from udprouter.durability.router_log import FILE_NAME, PassRecord, RouterLog, frame_record, replay
from udprouter.fastpath.fast_ingest import NO_ROOM, FastIngest
from udprouter.fastpath.fast_io import MAX_BATCH, DatagramSocket, address_key
from udprouter.loop_pass import LoopPass
from udprouter.order_entry import OrderEntry
from udprouter.ring import RingSegment
from udprouter.risk import Risk
from udprouter.server_session import ServerSession, SessionState
from udprouter.session import SessionLayer

NOW = 5_000_000_000
CAPACITY = 1024
SESSIONS = (11, 12, 13)


class Supervisor:
    def __init__(self, ring: RingSegment) -> None:
        self.ring = ring


class Pass:
    """One router's read side: the socket, its peers (one per session) and what ends a pass."""

    def __init__(self, directory, inbound: int = 1024) -> None:
        self.ring = RingSegment.create(f"udprouter-rp-{os.getpid()}-{time.monotonic_ns()}", inbound, 256)
        risk = Risk(INSTRUMENTS, max_open_orders=5000, throttle_per_s=100_000)
        self.oe = OrderEntry(risk, clock=lambda: NOW)
        self.oe.ring = self.ring
        self.dispatcher = Dispatcher(SessionLayer(SessionConfig(), None, None), self.oe, clock=lambda: NOW)
        self.log = RouterLog(directory, "os", CAPACITY)
        self.loop_pass = LoopPass(self.oe, self.dispatcher, Supervisor(self.ring))
        self.loop_pass.use_log(self.log)
        self.socket = DatagramSocket("127.0.0.1", 0, 1 << 20, lambda callback: None)
        self.fast = FastIngest(self.oe.risk, self.oe)
        self.fast.use_socket(self.socket)
        self.peers: dict[int, socket.socket] = {}
        self.sessions: dict[int, ServerSession] = {}
        self.seq = dict.fromkeys(SESSIONS, 1)
        self.hwm = dict.fromkeys(SESSIONS, 0)
        for sid in SESSIONS:
            peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            peer.bind(("127.0.0.1", 0))
            session = ServerSession(bytes([sid]) * 16, sid, KeyConfig(key_id="k", secret="s", account=sid),
                                    peer.getsockname(), CAPACITY)
            session.state = SessionState.ESTABLISHED
            session.set_datagram_key(MAC.key, True)
            self.log.attach(session)
            self.dispatcher.attach(session)
            self.fast.bind(address_key(peer.getsockname()), session)
            self.peers[sid], self.sessions[sid] = peer, session
        self.log.open()

    def send(self, sid: int, data: bytes) -> None:
        """Loopback delivers into the router socket's queue before sendto returns."""
        self.peers[sid].sendto(data, self.socket.address)

    def order(self, sid: int, rng: random.Random, valid: bool = True) -> bytes:
        """A signed datagram of one valid order from sid (numbered next), or one off the fast path."""
        if valid:  # a limit day order inside every limit
            self.hwm[sid] += 1
            msg = NewOrderSingle(self.hwm[sid], 0, PX + TICK * rng.randrange(-5, 5), rng.randrange(1, 1001),
                                 rng.choice((1, 2, 5)), rng.choice((1, 2)), 2, 0)
            data = encode_message(Sequence(self.seq[sid])) + encode_message(msg)
            self.seq[sid] += 1
        else:  # a Sequence frame alone numbered ahead: a gap, which only the Python path answers
            data = encode_message(Sequence(self.seq[sid] + 5))
        return MAC.sign(data)

    def commands_in_ring(self) -> list[bytes]:
        array, out = self.ring.new_commands(64), []
        while n := self.ring.poll_commands(array, 64):
            out += [bytes(ffi.buffer(array + i, 64)) for i in range(n)]
        return out

    def log_bytes(self) -> bytes:
        return (self.log.directory / FILE_NAME).read_bytes()

    def close(self) -> None:
        self.log.close()
        self.socket.close()
        for peer in self.peers.values():
            peer.close()
        self.ring.unlink()
        self.ring.close()


@pytest.fixture
def router(tmp_path):
    made = Pass(tmp_path)
    try:
        yield made
    finally:
        made.close()


def expected_write_ahead(p: Pass, sids: list[int]) -> bytes:
    """The record RouterLog.before_offer writes for these sessions' progress (in this order)."""
    done, (partial_seq, partial_n) = p.oe.routing_position()
    inbound = [(sid, p.sessions[sid].next_inbound, p.sessions[sid].cl_ord_hwm, p.sessions[sid].open_orders)
               for sid in sids]
    last = p.oe.next_command_seq - 1
    return frame_record(PassRecord(True, last, done, partial_seq, partial_n, inbound, []))


def test_a_read_of_fast_path_datagrams_is_logged_then_offered_in_one_call(router):
    rng = random.Random(1)
    order = [11, 12, 11, 13, 12, 11]
    for sid in order:
        router.send(sid, router.order(sid, rng))
    before = router.log_bytes()
    r = router.fast.read(NOW, router.loop_pass.write_ahead_log(), router.ring)
    assert (r.received, r.next, r.applied) == (len(order), len(order), len(order))
    assert r.offered == r.commands == len(order) and r.written > 0
    # In the file before the engine could read a command: the record is there, byte for byte.
    assert router.log_bytes() == before + expected_write_ahead(router, [11, 12, 13])
    assert router.loop_pass.read_in_c(r, router.fast.record, NOW)
    assert router.loop_pass.offered_in_c == 1 and router.oe.commands_published == len(order)
    assert len(router.commands_in_ring()) == len(order)
    state = replay(router.log.directory, CAPACITY)  # a restart finds the commands in the ring: applied
    assert state.confirm(len(order))
    for sid in SESSIONS:
        assert state.sessions[sid].next_inbound == router.seq[sid]
    assert state.command_through == len(order)
    assert all(router.sessions[sid].last_recv_ns == NOW for sid in SESSIONS)


def test_a_datagram_off_the_fast_path_offers_nothing_and_says_where_it_stopped(router):
    rng = random.Random(2)
    router.send(11, router.order(11, rng))
    router.send(12, router.order(12, rng, valid=False))
    router.send(13, router.order(13, rng))
    before = router.log_bytes()
    r = router.fast.read(NOW, router.loop_pass.write_ahead_log(), router.ring)
    assert (r.received, r.next, r.applied, r.offered, r.written) == (3, 1, 1, 0, 0)
    assert not router.loop_pass.read_in_c(r, router.fast.record, NOW)
    assert router.log_bytes() == before and router.commands_in_ring() == []
    assert router.fast.touched(r) == [address_key(router.peers[11].getsockname())]
    assert router.oe.batch.n == 1  # the applied order waits for the Python path's offer


def test_without_a_log_in_its_common_state_nothing_is_written_or_offered(router):
    rng = random.Random(3)
    router.send(11, router.order(11, rng))
    router.log.inbound(router.sessions[12])  # Python-path progress waits to be logged: not common
    r = router.fast.read(NOW, router.loop_pass.write_ahead_log(), router.ring)
    assert (r.applied, r.offered, r.written) == (1, 0, 0)
    assert router.commands_in_ring() == []


def test_a_failed_write_offers_nothing_until_the_log_is_written(router):
    rng = random.Random(4)
    router.send(11, router.order(11, rng))
    router.send(12, router.order(12, rng))
    with writes_fail(router.log):
        r = router.fast.read(NOW, router.loop_pass.write_ahead_log(), router.ring)
        assert r.written < 0 and r.offered == 0
        assert not router.loop_pass.read_in_c(r, router.fast.record, NOW)
    assert router.log.unavailable and router.oe.journal_unavailable
    assert router.commands_in_ring() == [] and router.oe.batch.n == 2
    assert router.log.retry()  # space is back: the buffered record is written first
    assert expected_write_ahead(router, [11, 12]) in router.log_bytes()
    assert router.oe.flush(NOW) == 2 and len(router.commands_in_ring()) == 2
    state = replay(router.log.directory, CAPACITY)
    assert state.confirm(2)
    assert state.sessions[11].next_inbound == 2 and state.sessions[12].next_inbound == 2


def test_a_burst_past_one_recvmmsg_is_read_again_and_offered_once(router):
    rng = random.Random(5)
    count = MAX_BATCH * 2 + 10  # three reads: two full ones, then the rest
    for k in range(count):
        sid = SESSIONS[k % 3]
        router.send(sid, router.order(sid, rng))
    before = router.log_bytes()
    r = router.fast.read(NOW, router.loop_pass.write_ahead_log(), router.ring)
    assert (r.received, r.reads, r.in_arena, r.next, r.applied) == (count, 3, 10, 10, count)
    assert r.offered == count and router.log_bytes() == before + expected_write_ahead(router, [11, 12, 13])
    assert router.loop_pass.read_in_c(r, router.fast.record, NOW)
    assert len(router.commands_in_ring()) == count


def test_a_stop_in_a_later_read_leaves_that_read_in_the_buffers_for_the_python_path(router):
    rng = random.Random(6)
    for k in range(MAX_BATCH + 6):
        router.send(11, router.order(11, rng, valid=k != MAX_BATCH + 2))
    r = router.fast.read(NOW, router.loop_pass.write_ahead_log(), router.ring)
    assert (r.received, r.reads, r.in_arena, r.next, r.applied) == (MAX_BATCH + 6, 2, 6, 2, MAX_BATCH + 2)
    assert (r.offered, r.written) == (0, 0) and router.oe.batch.n == MAX_BATCH + 2
    data, addr = router.socket.received(r.next)  # the datagram C stopped at, for the Python path
    assert addr == router.peers[11].getsockname() and len(data) < 60  # the lone Sequence frame


def test_a_full_batch_stops_the_read_and_the_python_path_offers_it(tmp_path):
    router = Pass(tmp_path, inbound=16)  # the batch takes what the ring has room for
    try:
        rng = random.Random(7)
        for _ in range(20):
            router.send(11, router.order(11, rng))
        r = router.fast.read(NOW, router.loop_pass.write_ahead_log(), router.ring)
        assert (r.next, r.stopped, r.applied, r.offered, r.written) == (16, NO_ROOM, 16, 0, 0)
    finally:
        router.close()
