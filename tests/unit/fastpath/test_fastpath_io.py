"""fast_io.DatagramSocket on real loopback sockets: recvmmsg batches and sendmmsg batches."""

from __future__ import annotations

import socket

import pytest

from udprouter.fastpath.fast_io import MAX_BATCH, DatagramSocket, address_key, key_address


@pytest.fixture
def router_socket():
    scheduled = []
    sock = DatagramSocket("127.0.0.1", 0, 1 << 20, scheduled.append)
    sock.scheduled = scheduled
    try:
        yield sock
    finally:
        sock.close()


@pytest.fixture
def peers():
    made = []
    for _ in range(2):
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(2.0)
        made.append(peer)
    try:
        yield made
    finally:
        for peer in made:
            peer.close()


def receive_all(sock: DatagramSocket, expected: int) -> list:
    got = []
    for _ in range(100):
        got += sock.receive()
        if len(got) >= expected:
            break
    return got


def test_address_key_round_trips_ipv4_and_port():
    addr = ("127.0.0.1", 54321)
    assert address_key(addr) == (0x7F000001 << 16) | 54321
    assert key_address(address_key(addr)) == addr


def test_receive_returns_each_datagram_whole_with_its_source_in_order(router_socket, peers):
    sent = []
    for i in range(MAX_BATCH + 5):
        peer = peers[i % 2]
        payload = bytes([i % 256]) * (1 + i * 7)
        peer.sendto(payload, router_socket.address)
        sent.append((payload, peer.getsockname()))
    first = router_socket.receive()
    assert len(first) == MAX_BATCH  # one call never returns more than a batch
    got = first + receive_all(router_socket, 5)
    assert got == sent


def test_receive_keeps_a_datagram_longer_than_the_router_limit_whole(router_socket, peers):
    payload = bytes(range(256)) * 40  # 10240 bytes: the decoder, not the socket, judges the size
    peers[0].sendto(payload, router_socket.address)
    assert receive_all(router_socket, 1) == [(payload, peers[0].getsockname())]


def test_receive_with_nothing_waiting_is_empty(router_socket):
    assert router_socket.receive() == []


def test_flush_sends_every_queued_datagram_to_its_address_and_schedules_itself_once(router_socket, peers):
    for i in range(MAX_BATCH * 2 + 3):
        router_socket.send(b"x%d" % i, peers[i % 2].getsockname())
    assert router_socket.scheduled == [router_socket.flush]
    assert router_socket.flush() == MAX_BATCH * 2 + 3
    for p, peer in enumerate(peers):
        got = [peer.recvfrom(100) for _ in range(p, MAX_BATCH * 2 + 3, 2)]
        assert [data for data, _ in got] == [b"x%d" % i for i in range(p, MAX_BATCH * 2 + 3, 2)]
        assert {src for _, src in got} == {router_socket.address}
    assert router_socket.flush() == 0


def test_a_refused_datagram_is_counted_and_the_rest_still_leave(router_socket, peers):
    router_socket.send(b"a" * 70000, peers[0].getsockname())  # EMSGSIZE: larger than any UDP payload
    router_socket.send(b"b", peers[1].getsockname())
    assert router_socket.flush() == 1
    assert router_socket.send_errors == 1
    assert peers[1].recvfrom(10)[0] == b"b"
