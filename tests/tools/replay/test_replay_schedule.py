"""schedule(): every timing mode's intended send times, exactly (never the wall clock)."""

import itertools

import pytest

from udprouter.replay.schedule import ScheduledSend, Timing, iter_schedule, schedule

MS = 1_000_000
# Recorded at 5 s after the epoch with gaps of 10 ms, 30 ms, 20 ms.
RECORDED = [5_000 * MS, 5_010 * MS, 5_040 * MS, 5_060 * MS]


def times(sends):
    return [s.at_ns for s in sends]


def test_original_timing_keeps_recorded_gaps_from_zero():
    assert times(schedule(RECORDED, Timing())) == [0, 10 * MS, 40 * MS, 60 * MS]


def test_speed_multiplier_divides_gaps():
    assert times(schedule(RECORDED, Timing(speed=2.0))) == [0, 5 * MS, 20 * MS, 30 * MS]
    assert times(schedule(RECORDED, Timing(speed=0.5))) == [0, 20 * MS, 80 * MS, 120 * MS]


def test_pps_spaces_packets_evenly_ignoring_recorded_times():
    assert times(schedule(RECORDED, Timing(pps=250))) == [0, 4 * MS, 8 * MS, 12 * MS]


def test_topspeed_schedules_everything_at_zero():
    assert times(schedule(RECORDED, Timing(topspeed=True))) == [0, 0, 0, 0]


def test_loops_are_laid_end_to_end_one_mean_gap_apart():
    sends = schedule(RECORDED, Timing(loop=2))
    # One pass spans 60 ms over 3 gaps: the second pass starts 20 ms after the first one's last packet.
    assert times(sends) == [0, 10 * MS, 40 * MS, 60 * MS, 80 * MS, 90 * MS, 120 * MS, 140 * MS]
    assert [(s.packet, s.loop) for s in sends] == [
        (0, 0),
        (1, 0),
        (2, 0),
        (3, 0),
        (0, 1),
        (1, 1),
        (2, 1),
        (3, 1),
    ]


def test_loops_with_speed_scale_the_period_too():
    assert times(schedule(RECORDED, Timing(loop=2, speed=2.0)))[4:] == [40 * MS, 45 * MS, 60 * MS, 70 * MS]


def test_pps_is_continuous_across_loops():
    assert times(schedule(RECORDED[:2], Timing(pps=1000, loop=3))) == [0, MS, 2 * MS, 3 * MS, 4 * MS, 5 * MS]


def test_limit_caps_the_total_across_loops():
    sends = schedule(RECORDED, Timing(loop=3, limit=6))
    assert len(sends) == 6 and sends[-1] == ScheduledSend(packet=1, loop=1, at_ns=90 * MS)


def test_duration_drops_everything_scheduled_at_or_after_it():
    assert times(schedule(RECORDED, Timing(duration_s=0.04))) == [0, 10 * MS]
    assert times(schedule(RECORDED, Timing(pps=100, loop=10, duration_s=0.1))) == [
        i * 10 * MS for i in range(10)
    ]


def test_timestamps_going_backwards_count_as_no_gap():
    assert times(schedule([100, 50, 300], Timing())) == [0, 0, 200]


def test_single_packet_and_empty_capture():
    assert times(schedule([7], Timing(loop=3))) == [0, 0, 0]
    assert schedule([], Timing()) == []


@pytest.mark.parametrize("timing", [Timing(speed=0), Timing(pps=-1), Timing(loop=-1), Timing(mbps=0),
                                    Timing(loop=0)])
def test_nonsense_timing_and_an_endless_list_are_refused(timing):
    with pytest.raises(ValueError):
        schedule(RECORDED, timing)


def test_loop_zero_loops_forever_keeping_the_recorded_rate():
    sends = list(itertools.islice(iter_schedule(RECORDED, Timing(loop=0)), 4 * 1000))
    assert [s.loop for s in sends[::4]] == list(range(1000))
    # each pass starts one mean gap (20 ms) after the previous pass's last packet
    assert times(sends[4:8]) == [80 * MS, 90 * MS, 120 * MS, 140 * MS]
    assert sends[-1].at_ns == 999 * 80 * MS + 60 * MS


def test_loop_zero_ends_at_the_limit_or_the_duration():
    assert len(schedule(RECORDED, Timing(loop=0, limit=10))) == 10
    every_10_ms = [i * 10 * MS for i in range(10)]
    assert times(schedule(RECORDED, Timing(loop=0, pps=100, duration_s=0.1))) == every_10_ms
    assert not Timing(loop=0).finite and Timing(loop=0, limit=1).finite


def test_mbps_spaces_packets_by_the_bytes_before_them():
    sizes = [125, 250, 125, 500]  # bytes; at 1 Mbps a byte takes 8 us
    assert times(schedule(RECORDED, Timing(mbps=1.0), sizes)) == [0, 1 * MS, 3 * MS, 4 * MS]
    # continuous across passes, like --pps
    assert times(schedule(RECORDED, Timing(mbps=8.0, loop=2), sizes))[4:] == [1_000_000, 1_125_000, 1_375_000,
                                                                               1_500_000]


def test_mbps_needs_every_packet_size():
    with pytest.raises(ValueError, match="size"):
        schedule(RECORDED, Timing(mbps=1.0))
