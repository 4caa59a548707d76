"""LowRateSpin: below [udp] low_rate datagrams/s the router waits for its next datagram by spinning.

A datagram that finds the router asleep in epoll pays a wake-up before its pass starts: on this
project's 2-vCPU machines about 20 us of the 1k/s p50 (bench_udp; README "The router's adaptive
wait"). With [udp] wait = "adaptive" (the default) the router counts its datagrams in 10 ms
windows; while the rate is below low_rate it keeps looking at its socket and at the engine's
outbound ring for up to low_rate_spin_us after each pass, yielding the CPU every few looks (one C
call per step: Ring.await_events). Every step returns to the event loop, so timers, gRPC and
metrics are served between steps (a step is at most STEP_NS). A window that reaches its share of
low_rate, or a spin that sees no datagram for low_rate_spin_us, ends it: the router announces its
sleep again and waits in epoll as before. The engine's own adaptive wait ([engine] wait) is the
same idea on the other side of the ring.

The cost is one vCPU while orders trickle in (udprouter_router_low_rate_spin_seconds_total counts
it); wait = "sleep" never spins.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from udprouter.ring import INPUT_ARRIVED

WINDOW_NS = 10_000_000  # the rate is counted over windows this long
STEP_NS = 200_000  # one look-and-yield step, then the event loop turns


class RateWindow:
    """Counts events (datagrams, commands) over WINDOW_NS windows against a rate per second. A
    window that reaches its share says so at once (a rising rate needs the CPU back within a
    fraction of a millisecond); one that runs out below it, with any quiet time after it, ends it.
    The engine's adaptive wait counts its commands the same way."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.at_rate = False
        self._start = 0
        self._count = 0

    def add(self, n: int, now: int) -> bool:
        """Counts n events at now (monotonic ns); returns at_rate."""
        elapsed = now - self._start
        if elapsed >= WINDOW_NS:
            self.at_rate = self._count * 1_000_000_000 >= self.rate * elapsed
            self._start, self._count = now, 0
        self._count += n
        if self._count * 1_000_000_000 >= self.rate * WINDOW_NS:
            self.at_rate = True
        return self.at_rate


class LowRateSpin:
    def __init__(self, low_rate: int, spin_us: int) -> None:
        self.low_rate = low_rate  # datagrams/s; 0: never spin
        self.spin_ns = spin_us * 1000
        self.spun_ns = 0  # time spent in spin steps (the metric)
        self._rate = RateWindow(low_rate)
        self._low = False  # the rate is below low_rate: spin between passes
        self._last_datagram_ns = 0
        self._spinning = False  # a step is scheduled
        self._stopped = False
        self._ring_of: Callable = lambda: None
        self._fd = -1
        self._read_pass: Callable[[], None] = lambda: None
        self._events_pass: Callable[[], object] = lambda: None
        self._schedule: Callable[[Callable[[], None]], object] = lambda callback: None

    def start(self, ring_of: Callable, fd: int, read_pass: Callable[[], None],
              events_pass: Callable[[], object], schedule: Callable) -> None:
        """At router start: the ring (read through its owner: a restarted engine brings a new one),
        the socket's fd, the two passes a step may run, and the loop's call_soon."""
        self._ring_of, self._fd = ring_of, fd
        self._read_pass, self._events_pass, self._schedule = read_pass, events_pass, schedule

    def after_read(self, datagrams: int) -> None:
        """After a pass that read datagrams: counts them and starts spinning if the rate is low."""
        if not self.low_rate or not datagrams or self._stopped:
            return
        now = time.monotonic_ns()
        self._low = not self._rate.add(datagrams, now)
        self._last_datagram_ns = now
        if self._low and not self._spinning:
            self._spinning = True
            self._schedule(self._step)

    def stop(self) -> None:
        """The router stops reading: a step still scheduled does nothing (no pass, no ring)."""
        self._stopped, self._low = True, False

    def _step(self) -> None:
        if self._stopped:
            self._spinning = False
            return
        ring = self._ring_of()
        if ring is not None and self._low:
            start = time.monotonic_ns()
            seen = ring.await_events(STEP_NS, self._fd)  # the router's sleep is withdrawn meanwhile
            self.spun_ns += time.monotonic_ns() - start
            if seen == INPUT_ARRIVED:
                self._read_pass()
            elif seen:
                self._events_pass()
            if self._low and time.monotonic_ns() - self._last_datagram_ns < self.spin_ns:
                self._schedule(self._step)
                return
        self._spinning = False
        # Back to epoll: announce the sleep again, and drain what came before the announcement.
        if ring is not None and ring.set_router_sleeping(True) != 0:
            self._events_pass()
