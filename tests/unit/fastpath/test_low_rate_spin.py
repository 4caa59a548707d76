"""LowRateSpin's decisions on a stand-in ring and clock: when a spin starts, what a step runs, when it
ends and what it hands back to epoll. The real thing, seen from outside a router process:
tests/system/test_router_wait.py."""

from __future__ import annotations

import pytest

from udprouter.fastpath import low_rate_spin
from udprouter.fastpath.low_rate_spin import STEP_NS, WINDOW_NS, LowRateSpin
from udprouter.ring import INPUT_ARRIVED

MS = 1_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 10 * WINDOW_NS

    def __call__(self) -> int:
        return self.now


class StandInRing:
    """await_events answers from a script (each look takes STEP_NS of the clock when nothing came);
    set_router_sleeping answers the occupancy seen after the announcement."""

    def __init__(self, clock: Clock, answers: list[int], occupancy_at_sleep: int = 0) -> None:
        self.clock, self.answers, self.occupancy_at_sleep = clock, answers, occupancy_at_sleep
        self.awaits, self.sleeps = 0, 0

    def await_events(self, budget_ns: int, input_fd: int) -> int:
        assert budget_ns == STEP_NS and input_fd == 7
        self.awaits += 1
        seen = self.answers.pop(0) if self.answers else 0
        self.clock.now += STEP_NS if seen == 0 else 1000
        return seen

    def set_router_sleeping(self, sleeping: bool) -> int:
        assert sleeping
        self.sleeps += 1
        return self.occupancy_at_sleep


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(low_rate_spin.time, "monotonic_ns", clock)
    return clock


def started(spin: LowRateSpin, ring: StandInRing | None) -> tuple[list, list, list]:
    """Starts spin on ring; returns the scheduled callbacks, the read passes and the events passes."""
    scheduled, reads, drains = [], [], []

    def read_pass() -> None:
        reads.append(1)
        spin.after_read(1)  # as the router's readable callback does

    spin.start(lambda: ring, 7, read_pass, lambda: drains.append(1), scheduled.append)
    return scheduled, reads, drains


def run_scheduled(scheduled: list, limit: int = 1000) -> int:
    """Runs the loop's call_soon queue until it is empty (bounded); returns the steps run."""
    steps = 0
    while scheduled:
        assert steps < limit, "the spin never ended"
        scheduled.pop(0)()
        steps += 1
    return steps


def test_a_low_rate_spins_after_a_pass_then_returns_to_epoll(clock):
    spin = LowRateSpin(low_rate=12000, spin_us=2000)
    ring = StandInRing(clock, answers=[0, INPUT_ARRIVED, 0, 5])
    scheduled, reads, drains = started(spin, ring)
    spin.after_read(1)
    assert len(scheduled) == 1  # one step, scheduled on the loop (never run inside the pass)
    run_scheduled(scheduled)
    assert reads == [1]  # the datagram that came during a step got its pass there
    assert drains == [1]  # so did the events
    # After the last datagram nothing came for 2 ms: back to epoll, the sleep announced once.
    assert ring.sleeps == 1
    assert spin.spun_ns > 2 * MS
    # Two looks up to the datagram, then looks until 2 ms have passed since it: an empty one and
    # the events (201 us), then nine more empty ones of 200 us each.
    assert ring.awaits == 2 + 2 + 9


def test_events_published_before_the_sleep_announcement_are_drained(clock):
    spin = LowRateSpin(low_rate=12000, spin_us=200)
    ring = StandInRing(clock, answers=[], occupancy_at_sleep=3)
    scheduled, _, drains = started(spin, ring)
    spin.after_read(1)
    run_scheduled(scheduled)
    assert ring.sleeps == 1 and drains == [1]


def test_a_window_reaching_its_share_of_low_rate_ends_the_spin_at_once(clock):
    spin = LowRateSpin(low_rate=12000, spin_us=2000)
    ring = StandInRing(clock, answers=[])
    scheduled, _, _ = started(spin, ring)
    spin.after_read(100)
    assert len(scheduled) == 1
    spin.after_read(20)  # 120 datagrams in a 10 ms window: 12,000/s
    run_scheduled(scheduled)
    assert ring.awaits == 0 and ring.sleeps == 1  # no look: straight back to epoll
    clock.now += 5 * MS
    spin.after_read(1)  # the same window: still at the rate, no spin
    assert not scheduled


def test_the_next_window_decides_again_over_the_time_it_covered(clock):
    spin = LowRateSpin(low_rate=12000, spin_us=2000)
    ring = StandInRing(clock, answers=[])
    scheduled, _, _ = started(spin, ring)
    spin.after_read(200)  # a burst: above the rate
    assert not scheduled
    clock.now += WINDOW_NS
    spin.after_read(1)  # the burst's window was above the rate: this one starts high too
    assert not scheduled
    clock.now += 3 * WINDOW_NS  # one datagram over 30 ms: low
    spin.after_read(1)
    assert len(scheduled) == 1


def test_a_stopped_spin_runs_no_pass_and_touches_no_ring(clock):
    spin = LowRateSpin(low_rate=12000, spin_us=2000)
    ring = StandInRing(clock, answers=[INPUT_ARRIVED])
    scheduled, reads, drains = started(spin, ring)
    spin.after_read(1)
    spin.stop()  # the router stops reading with a step already scheduled
    run_scheduled(scheduled)
    assert (reads, drains, ring.awaits, ring.sleeps) == ([], [], 0, 0)
    spin.after_read(1)
    assert not scheduled


def test_low_rate_zero_never_spins_and_no_engine_ends_the_spin(clock):
    off = LowRateSpin(low_rate=0, spin_us=2000)
    scheduled, _, _ = started(off, StandInRing(clock, answers=[]))
    off.after_read(1)
    assert not scheduled
    spin = LowRateSpin(low_rate=12000, spin_us=2000)
    scheduled, reads, _ = started(spin, None)  # the engine is restarting: no ring
    spin.after_read(1)
    assert run_scheduled(scheduled) == 1 and not reads
