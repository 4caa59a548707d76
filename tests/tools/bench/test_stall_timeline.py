"""bench.stall_timeline's grouping of late orders into stalls (the tool itself needs a router)."""

from __future__ import annotations

from bench.stall_timeline import GAP_NS, stalls

MS = 1_000_000


def test_orders_under_the_threshold_make_no_stall():
    assert stalls([(i * 20_000, 100_000) for i in range(1000)], 2 * MS) == []


def test_late_orders_close_together_are_one_stall_with_its_worst_latency():
    pairs = [(0, 1 * MS), (20_000, 3 * MS), (40_000, 9 * MS), (60_000, 4 * MS), (80_000, 1 * MS)]
    assert stalls(pairs, 2 * MS) == [(20_000, 3, 9 * MS)]


def test_late_orders_further_apart_than_the_gap_are_two_stalls():
    second = 10_000 + GAP_NS
    pairs = [(10_000, 5 * MS), (second, 3 * MS), (second + 20_000, 6 * MS)]
    assert stalls(pairs, 2 * MS) == [(10_000, 1, 5 * MS), (second, 2, 6 * MS)]
