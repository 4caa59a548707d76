"""Latency is taken from the intended send time (coordinated omission corrected) to the answer's
arrival, on crafted timelines."""

from array import array

from udprouter.loadgen.latency import (
    latency_histogram,
    read_lateness_histogram,
    send_lateness_histogram,
    summarize,
)
from udprouter.loadgen.run_result import RunResult


def _result(sent_ns, answer_ns, templates=None) -> RunResult:
    n = len(answer_ns)
    return RunResult(
        sent_ns=array("q", sent_ns), answer_ns=array("q", answer_ns),
        answer_template=array("H", templates or [201] * n), sent_datagrams=len(sent_ns), sent_orders=n,
        send_errors=0, recv_datagrams=n, recv_frames=n, elapsed_ns=max(answer_ns),
        last_answer_ns=max(answer_ns),
    )


def test_a_stall_counts_against_every_order_it_delayed():
    # Schedule: one datagram every 10 us. The sender stalls 1 ms before the third one, then sends
    # the backlog at once; each answer comes 5 us after the actual send.
    intended = array("q", [0, 10_000, 20_000, 30_000, 40_000])
    sent = [0, 10_000, 1_020_000, 1_020_000, 1_020_000]
    result = _result(sent, [s + 5_000 for s in sent])
    hist = latency_histogram(result, array("I", range(5)), intended)
    # Corrected: 5, 5, 1005, 995, 985 us. Measured from the actual send it would be 5 us for all.
    assert hist.get_total_count() == 5
    assert 4_990 <= hist.get_value_at_percentile(40) <= 5_010
    assert 1_004_000 <= hist.get_max_value() <= 1_006_000
    assert 984_000 <= hist.get_value_at_percentile(60) <= 986_000
    uncorrected = latency_histogram(result, array("I", range(5)), None)
    assert uncorrected.get_max_value() <= 5_010


def test_orders_of_one_datagram_share_its_intended_time():
    intended = array("q", [0, 100_000])
    order_datagram = array("I", [0, 0, 0, 1])
    result = _result([0, 100_000], [7_000, 8_000, 9_000, 112_000])
    summary = summarize(latency_histogram(result, order_datagram, intended))
    assert summary.count == 4
    assert 11.9 <= summary.max_us <= 12.1
    assert 7.9 <= summary.p50_us <= 8.1


def test_unanswered_orders_are_not_recorded_but_stay_countable():
    result = _result([0, 10], [50, -1], templates=[201, 0])
    hist = latency_histogram(result, array("I", [0, 1]), array("q", [0, 10]))
    assert hist.get_total_count() == 1
    assert result.unanswered == 1 and result.acked == 1


def test_first_answer_kinds_are_classified():
    result = _result([0] * 5, [1, 2, 3, 4, 5], templates=[201, 205, 207, 18, 206])
    assert (result.acked, result.rejected, result.not_applied, result.unanswered) == (2, 2, 1, 0)


def test_send_lateness_counts_each_datagram_sent_against_its_intended_time():
    intended = array("q", [0, 10_000, 20_000, 30_000])
    result = _result([2_000, 10_000, 1_020_000, -1], [9_000, 19_000, 1_030_000, -1])
    late = summarize(send_lateness_histogram(result, intended))
    assert late.count == 3  # the datagram never sent is not counted
    assert 999.0 <= late.max_us <= 1001.0
    assert 1.9 <= late.p50_us <= 2.1  # 0 (recorded as 1 ns), 2 us, 1 ms


def test_latency_ends_at_the_answers_arrival_and_the_read_is_measured_beside_it():
    intended = array("q", [0, 10_000, 20_000])
    result = _result([0, 10_000, 20_000], [5_000, 16_000, -1], templates=[201, 201, 0])
    result.answer_read_ns = array("q", [25_000, 17_000, -1])  # the loop read the first one 20 us late
    order_datagram = array("I", range(3))
    arrival = summarize(latency_histogram(result, order_datagram, intended))
    at_read = summarize(latency_histogram(result, order_datagram, intended, at_read=True))
    assert arrival.count == at_read.count == 2  # the unanswered order in neither
    assert 5.9 <= arrival.max_us <= 6.1 and 24.9 <= at_read.max_us <= 25.1
    read_late = summarize(read_lateness_histogram(result))
    assert read_late.count == 2
    assert 19.9 <= read_late.max_us <= 20.1 and 0.9 <= read_late.p50_us <= 1.1
