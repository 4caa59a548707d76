"""LossyProxy: a fault-injecting UDP proxy on loopback for exactly-once tests (asyncio or uvloop).

Clients send to proxy.address instead of the router. Each client address gets an upstream socket
of its own, so the router sees one stable source address per client (sessions are bound to it).
Every datagram, in each direction, goes through a FaultLane that decides with a seeded RNG:

    drop       the datagram vanishes
    duplicate  it is sent twice (the copy right after the original)
    reorder    it is held back and released right after the next datagram of its lane (or after
               hold_s if no next one comes), so the two swap places
    delay      it is sent after delay_s instead of now (later datagrams overtake it)

Decisions are drawn in a fixed order per datagram (drop, then duplicate, reorder, delay), so a
seed and an arrival order give the same faults every time. Counters say what was done.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field

Send = Callable[[bytes], None]


@dataclass(frozen=True)
class FaultRates:
    """Probabilities per datagram; reorder holds for at most hold_s, delay waits delay_s."""

    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay: float = 0.0
    delay_s: float = 0.005
    hold_s: float = 0.005


@dataclass
class LaneCounters:
    received: int = 0
    forwarded: int = 0  # datagrams sent on, copies included
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    delayed: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class FaultLane:
    """One direction's fault decisions. feed() returns nothing: it calls send now or later."""

    rates: FaultRates
    rng: random.Random
    loop: asyncio.AbstractEventLoop
    counters: LaneCounters = field(default_factory=LaneCounters)
    closed: bool = False
    _held: tuple[bytes, Send, int] | None = None
    _hold_timer: asyncio.TimerHandle | None = None

    def feed(self, payload: bytes, send: Send) -> None:
        c, r, rng = self.counters, self.rates, self.rng
        c.received += 1
        drop, dup, reorder, delay = rng.random(), rng.random(), rng.random(), rng.random()
        if drop < r.drop:
            c.dropped += 1
            return
        copies = 2 if dup < r.duplicate else 1
        c.duplicated += copies - 1
        if self._held is None and reorder < r.reorder:
            c.reordered += 1
            self._held = (payload, send, copies)
            self._hold_timer = self.loop.call_later(r.hold_s, self.release)
            return
        if delay < r.delay:
            c.delayed += 1
            self.loop.call_later(r.delay_s, self._emit, payload, send, copies)
        else:
            self._emit(payload, send, copies)
        self.release()

    def release(self) -> None:
        """Sends the held datagram (after the one that overtook it, or when its hold expires)."""
        if self._held is None:
            return
        payload, send, copies = self._held
        self._held = None
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
        self._emit(payload, send, copies)

    def _emit(self, payload: bytes, send: Send, copies: int) -> None:
        if self.closed:
            return  # a delayed datagram due after close() goes nowhere
        for _ in range(copies):
            self.counters.forwarded += 1
            send(payload)


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, proxy: LossyProxy) -> None:
        self.proxy = proxy

    def datagram_received(self, data: bytes, addr) -> None:
        self.proxy._from_client(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.proxy.socket_errors += 1


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, proxy: LossyProxy, client_addr) -> None:
        self.proxy = proxy
        self.client_addr = client_addr

    def datagram_received(self, data: bytes, addr) -> None:
        self.proxy._from_server(data, self.client_addr)

    def error_received(self, exc: Exception) -> None:
        self.proxy.socket_errors += 1


class LossyProxy:
    """proxy = await LossyProxy(target, up, down, seed).start(); ...; proxy.close()."""

    def __init__(self, target: tuple[str, int], up: FaultRates, down: FaultRates, seed: int) -> None:
        self.target = target
        self.up_rates, self.down_rates, self.seed = up, down, seed
        self.address: tuple[str, int] = ("127.0.0.1", 0)
        self.socket_errors = 0
        self._listener: asyncio.DatagramTransport | None = None
        self._upstream: dict[object, asyncio.DatagramTransport] = {}
        self._pending: dict[object, list[bytes]] = {}
        self.up: FaultLane | None = None
        self.down: FaultLane | None = None

    async def start(self) -> LossyProxy:
        loop = asyncio.get_running_loop()
        # Two independent streams: the faults of one direction do not depend on the other's traffic.
        self.up = FaultLane(self.up_rates, random.Random(f"{self.seed}:up"), loop)
        self.down = FaultLane(self.down_rates, random.Random(f"{self.seed}:down"), loop)
        self._listener, _ = await loop.create_datagram_endpoint(lambda: _Listener(self),
                                                                local_addr=("127.0.0.1", 0))
        self.address = self._listener.get_extra_info("sockname")[:2]
        return self

    def counters(self) -> dict[str, dict[str, int]]:
        return {"up": self.up.counters.as_dict(), "down": self.down.counters.as_dict()}

    def _from_client(self, data: bytes, addr) -> None:
        upstream = self._upstream.get(addr)
        if upstream is None:
            pending = self._pending.get(addr)
            if pending is None:
                self._pending[addr] = [data]
                asyncio.get_running_loop().create_task(self._open_upstream(addr))
            else:
                pending.append(data)
            return
        self.up.feed(data, upstream.sendto)

    async def _open_upstream(self, addr) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Upstream(self, addr),
                                                           remote_addr=self.target)
        self._upstream[addr] = transport
        for data in self._pending.pop(addr):
            self.up.feed(data, transport.sendto)

    def _from_server(self, data: bytes, client_addr) -> None:
        listener = self._listener
        if listener is not None:
            self.down.feed(data, lambda payload: listener.sendto(payload, client_addr))

    def close(self) -> None:
        for lane in (self.up, self.down):
            if lane is not None:
                lane.closed = True
                if lane._hold_timer is not None:
                    lane._hold_timer.cancel()
        for transport in self._upstream.values():
            transport.close()
        self._upstream.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
