"""The fault-injecting proxy of the lossy-network tests: its rates, its ordering effects, its sockets."""

from __future__ import annotations

import asyncio
import math
import random
import socket

from tests.system.lossy_proxy import FaultLane, FaultRates, LossyProxy

RUN = 20_000


def lane(rates: FaultRates, seed: int = 7) -> FaultLane:
    return FaultLane(rates, random.Random(seed), asyncio.get_running_loop())


def feed_numbers(fault_lane: FaultLane, count: int) -> list[int]:
    out: list[bytes] = []
    for i in range(count):
        fault_lane.feed(i.to_bytes(4, "big"), out.append)
    return [int.from_bytes(p, "big") for p in out]


def within(observed: int, p: float, n: int, sigmas: float = 4.0) -> bool:
    """observed is a Binomial(n, p) draw within `sigmas` standard deviations of n * p."""
    return abs(observed - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1


async def test_seeded_run_hits_each_configured_rate_within_tolerance():
    rates = FaultRates(drop=0.05, duplicate=0.02, reorder=0.05)
    fault_lane = lane(rates)
    out = feed_numbers(fault_lane, RUN)
    fault_lane.release()
    c = fault_lane.counters
    assert c.received == RUN
    assert within(c.dropped, 0.05, RUN)
    assert within(c.duplicated, 0.95 * 0.02, RUN)
    # A datagram is held only when none is held already: among delivered datagrams the chain
    # alternates held -> released, so the held fraction is r / (1 + r).
    assert within(c.reordered, 0.95 * 0.05 / 1.05, RUN)
    assert c.forwarded == len(out) == RUN - c.dropped + c.duplicated


async def test_same_seed_gives_the_same_faults_and_another_seed_does_not():
    rates = FaultRates(drop=0.05, duplicate=0.02, reorder=0.05)
    assert feed_numbers(lane(rates, 1), 2000) == feed_numbers(lane(rates, 1), 2000)
    assert feed_numbers(lane(rates, 1), 2000) != feed_numbers(lane(rates, 2), 2000)


async def test_reorder_swaps_a_held_datagram_with_the_next_one():
    assert feed_numbers(lane(FaultRates(reorder=1.0)), 6) == [1, 0, 3, 2, 5, 4]


async def test_duplicate_sends_the_copy_right_after_the_original():
    assert feed_numbers(lane(FaultRates(duplicate=1.0)), 3) == [0, 0, 1, 1, 2, 2]


async def test_drop_everything_forwards_nothing():
    fault_lane = lane(FaultRates(drop=1.0))
    assert feed_numbers(fault_lane, 100) == []
    assert fault_lane.counters.dropped == 100


async def test_held_datagram_is_released_after_its_hold_time_when_nothing_follows():
    out: list[bytes] = []
    fault_lane = lane(FaultRates(reorder=1.0, hold_s=0.01))
    fault_lane.feed(b"only", out.append)
    assert out == []
    await asyncio.sleep(0.05)
    assert out == [b"only"]


async def test_delayed_datagram_is_overtaken_by_later_ones():
    out: list[bytes] = []
    delayed = lane(FaultRates(delay=1.0, delay_s=0.02))
    prompt = lane(FaultRates())
    delayed.feed(b"late", out.append)
    prompt.feed(b"early", out.append)
    assert out == [b"early"]
    await asyncio.sleep(0.08)
    assert out == [b"early", b"late"] and delayed.counters.delayed == 1


class _Echo(asyncio.DatagramProtocol):
    """Answers every datagram with b"echo:" + the sender's port + the payload."""

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.sources: list[tuple] = []

    def datagram_received(self, data: bytes, addr) -> None:
        self.sources.append(addr)
        self.transport.sendto(b"echo:" + data, addr)


async def test_each_client_gets_its_own_stable_upstream_address_and_its_own_answers():
    loop = asyncio.get_running_loop()
    server, echo = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", 0))
    proxy = await LossyProxy(server.get_extra_info("sockname"), FaultRates(), FaultRates(), seed=3).start()
    clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    try:
        for sock in clients:
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
        for round_no in range(3):
            for i, sock in enumerate(clients):
                sock.sendto(f"{i}:{round_no}".encode(), proxy.address)
                answer = await asyncio.wait_for(loop.sock_recv(sock, 100), 2.0)
                assert answer == f"echo:{i}:{round_no}".encode()
        assert len(set(echo.sources)) == 2  # one upstream source per client, the same every time
        assert proxy.counters()["up"]["forwarded"] == proxy.counters()["down"]["forwarded"] == 6
    finally:
        for sock in clients:
            sock.close()
        proxy.close()
        server.close()
