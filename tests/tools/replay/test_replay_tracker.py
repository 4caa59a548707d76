"""ReplayTracker: first answers counted by kind, latency from the intended send time, recording compared."""

from test_replay_support import ack, business_reject, not_applied, order, reject

from udprouter._generated.messages import OrdRejReason
from udprouter.replay.outcome import NOT_APPLIED, Outcome, OutcomeKind
from udprouter.replay.rewrite import RewrittenDatagram
from udprouter.replay.tracker import ReplayTracker

ACK = Outcome(OutcomeKind.ACKNOWLEDGED, "ExecutionReportNew")
US = 1000


def sent(tracker, session, first_seq, pairs, intended_ns, expected=None):
    """pairs: (new ClOrdID, recorded ClOrdID)."""
    datagram = RewrittenDatagram(tuple(order(new) for new, _ in pairs), tuple(rec for _, rec in pairs))
    tracker.on_sent(session, first_seq, datagram, intended_ns, expected or {})


def test_first_answers_are_counted_by_kind_and_reason():
    tracker = ReplayTracker()
    sent(tracker, 0, 1, [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)], 0)
    tracker.on_message(0, ack(1), 10 * US)
    tracker.on_message(0, reject(2, OrdRejReason.PriceExceedsCurrentPriceBand), 10 * US)
    tracker.on_message(0, business_reject(3), 10 * US)
    tracker.on_message(0, not_applied(4, 1), 10 * US)
    assert (
        tracker.sent,
        tracker.acknowledged,
        tracker.rejected,
        tracker.not_applied,
        tracker.unanswered,
    ) == (5, 1, 2, 1, 1)
    assert tracker.rejected_by_reason == {
        "OrdRejReason.PriceExceedsCurrentPriceBand": 1,
        "BusinessRejectReason.Throttled": 1,
    }


def test_later_reports_for_an_answered_order_do_not_count_again():
    tracker = ReplayTracker()
    sent(tracker, 0, 1, [(1, 1)], 0)
    tracker.on_message(0, ack(1), US)
    tracker.on_message(0, reject(1), 2 * US)
    tracker.on_message(0, ack(99), 2 * US)
    assert (tracker.acknowledged, tracker.rejected) == (1, 0)


def test_sessions_are_kept_apart():
    tracker = ReplayTracker()
    sent(tracker, 0, 1, [(1, 1)], 0)
    sent(tracker, 1, 1, [(1, 1)], 0)
    tracker.on_message(1, business_reject(1), US)
    assert tracker.rejected == 1 and tracker.unanswered == 1


def test_latency_runs_from_the_intended_send_time():
    tracker = ReplayTracker()
    for i in range(100):
        sent(tracker, 0, i + 1, [(i + 1, i + 1)], intended_ns=i * 1000 * US)
        tracker.on_message(0, ack(i + 1), i * 1000 * US + (i + 1) * 10 * US)
    latency = tracker.latency_us()
    assert 495 <= latency["p50"] <= 505
    assert 985 <= latency["p99"] <= 995
    assert 995 <= latency["max"] <= 1001
    assert ReplayTracker().latency_us() == {"p50": None, "p99": None, "p999": None, "max": None}


def test_not_applied_has_no_latency_sample():
    tracker = ReplayTracker()
    sent(tracker, 0, 1, [(1, 1)], 0)
    tracker.on_message(0, not_applied(1, 1), 5 * US)
    assert tracker.histogram.get_total_count() == 0 and tracker.not_applied == 1


def test_answers_are_compared_with_the_recording():
    tracker = ReplayTracker()
    expected = {10: ACK, 11: ACK, 12: NOT_APPLIED}
    sent(tracker, 0, 1, [(1, 10), (2, 11), (3, 12), (4, 13)], 0, expected)
    tracker.on_message(0, ack(1), US)
    tracker.on_message(0, reject(2), US)
    tracker.on_message(0, ack(4), US)
    tracker.finish_unanswered()
    assert tracker.compared == {"same": 1, "different": 2, "not recorded": 1}
    assert tracker.mismatches == [
        "recorded ClOrdID 11: recorded acknowledged (ExecutionReportNew), "
        "replay rejected (OrdRejReason.UnknownSymbol)",
        "recorded ClOrdID 12: recorded not_applied (NotApplied), replay unanswered",
    ]


def test_answered_messages_leave_nothing_behind_so_an_endless_replay_stays_bounded():
    tracker = ReplayTracker()
    for i in range(1, 1001):
        sent(tracker, 0, i, [(i, i)], 0)
        tracker.on_message(0, ack(i) if i % 2 else not_applied(i, 1), US)
    assert tracker.unanswered == 0 and tracker.sent == 1000
    assert not tracker._pending and not tracker._seq_to_cl_ord_id
