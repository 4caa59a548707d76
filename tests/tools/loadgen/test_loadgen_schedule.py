"""The paced schedule: intended send times exactly as the offered rate says, never the wall clock."""

import pytest

from udprouter.loadgen.schedule import datagrams_for, paced_schedule


def test_one_order_per_datagram_at_50k_is_every_20_us():
    assert list(paced_schedule(5, 1, 50_000)) == [0, 20_000, 40_000, 60_000, 80_000]


def test_batched_datagrams_are_spaced_by_their_order_count():
    # 20 orders per datagram at 1M orders/s: one datagram every 20 us.
    assert list(paced_schedule(4, 20, 1_000_000)) == [0, 20_000, 40_000, 60_000]


def test_rates_that_do_not_divide_a_second_round_down_without_drift():
    times = paced_schedule(300_001, 1, 300_000)
    assert times[1] == 3333 and times[2] == 6666 and times[3] == 10_000
    assert times[300_000] == 1_000_000_000  # exact after a full second: no accumulated error


def test_schedule_is_strictly_increasing_and_has_the_requested_count():
    times = paced_schedule(1000, 3, 70_001)
    assert len(times) == 1000
    assert all(b > a for a, b in zip(times, times[1:], strict=False))


def test_non_positive_rate_is_refused():
    with pytest.raises(ValueError):
        paced_schedule(10, 1, 0)


def test_datagrams_for_a_duration_counts_datagrams_not_orders():
    assert datagrams_for(2.0, 20, 100_000) == 10_000
    assert datagrams_for(0.001, 20, 1000) == 1
