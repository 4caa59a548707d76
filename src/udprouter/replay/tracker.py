"""ReplayTracker: per sent message, its first answer, its latency, and whether it matches the recording.

Latency runs from the message's *intended* send time (start + schedule offset) to the moment its
first answer is processed, so a sender that falls behind schedule shows up in the figures instead
of hiding (coordinated omission corrected, as wrk2 and HdrHistogram's conventions have it).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from udprouter._generated.messages import NotApplied
from udprouter.replay.outcome import NOT_APPLIED, Outcome, OutcomeKind, answer_by_cl_ord_id, answer_by_seq_no
from udprouter.replay.rewrite import RewrittenDatagram

MAX_LATENCY_NS = 60 * 1_000_000_000
MAX_MISMATCHES_KEPT = 20


@dataclass(slots=True)
class _Pending:
    seq_key: tuple[int, int]  # (session, client sequence number)
    intended_ns: int
    recorded_cl_ord_id: int
    expected: Outcome | None


@dataclass
class ReplayTracker:
    sent: int = 0
    acknowledged: int = 0
    rejected_by_reason: Counter = field(default_factory=Counter)
    not_applied: int = 0
    compared: Counter = field(default_factory=Counter)  # same / different / not recorded
    mismatches: list[str] = field(default_factory=list)
    histogram: HdrHistogram = field(default_factory=lambda: HdrHistogram(1, MAX_LATENCY_NS, 3))
    _pending: dict[tuple[int, int], _Pending] = field(default_factory=dict)
    _seq_to_cl_ord_id: dict[tuple[int, int], int] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_reason.values())

    @property
    def unanswered(self) -> int:
        return len(self._pending)

    def on_sent(self, session: int, first_seq_no: int, datagram: RewrittenDatagram, intended_ns: int,
                expected: dict[int, Outcome]) -> None:
        """Messages sent with consecutive numbers from first_seq_no; expected: recorded ClOrdID -> answer."""
        pairs = zip(datagram.messages, datagram.recorded_cl_ord_ids, strict=True)
        for i, (msg, recorded_id) in enumerate(pairs):
            seq_key = (session, first_seq_no + i)
            self._pending[(session, msg.cl_ord_id)] = _Pending(seq_key, intended_ns, recorded_id,
                                                               expected.get(recorded_id))
            self._seq_to_cl_ord_id[seq_key] = msg.cl_ord_id
        self.sent += len(datagram.messages)

    def on_message(self, session: int, msg: object, now_ns: int) -> None:
        """Any message the server sent this session; only first answers to our messages count."""
        answer = answer_by_cl_ord_id(msg)
        if answer is None:
            by_seq = answer_by_seq_no(msg)
            if by_seq is not None:
                cl_ord_id = self._seq_to_cl_ord_id.get((session, by_seq[0]))
                answer = None if cl_ord_id is None else (cl_ord_id, by_seq[1])
        if answer is not None:
            self._settle(session, answer[0], answer[1], now_ns)
        elif msg.__class__ is NotApplied:
            for seq in range(msg.from_seq_no, msg.from_seq_no + msg.count):
                cl_ord_id = self._seq_to_cl_ord_id.get((session, seq))
                if cl_ord_id is not None:
                    self._settle(session, cl_ord_id, NOT_APPLIED, now_ns)

    def _settle(self, session: int, cl_ord_id: int, outcome: Outcome, now_ns: int) -> None:
        pending = self._pending.pop((session, cl_ord_id), None)
        if pending is None:
            return  # a later report for an order already answered (fills, cancels of resting orders)
        del self._seq_to_cl_ord_id[pending.seq_key]  # answered: its number is not looked up again
        if outcome.kind is OutcomeKind.ACKNOWLEDGED:
            self.acknowledged += 1
        elif outcome.kind is OutcomeKind.REJECTED:
            self.rejected_by_reason[outcome.detail] += 1
        else:
            self.not_applied += 1
        if outcome.kind is not OutcomeKind.NOT_APPLIED:
            self.histogram.record_value(min(max(now_ns - pending.intended_ns, 1), MAX_LATENCY_NS))
        self._compare(pending, outcome)

    def _compare(self, pending: _Pending, outcome: Outcome) -> None:
        if pending.expected is None:
            self.compared["not recorded"] += 1
        elif pending.expected == outcome:
            self.compared["same"] += 1
        else:
            self.compared["different"] += 1
            if len(self.mismatches) < MAX_MISMATCHES_KEPT:
                self.mismatches.append(f"recorded ClOrdID {pending.recorded_cl_ord_id}: recorded "
                                       f"{pending.expected}, replay {outcome}")

    def finish_unanswered(self) -> None:
        """Count what never got an answer as different from the recording where one was recorded."""
        for pending in self._pending.values():
            if pending.expected is None:
                self.compared["not recorded"] += 1
            else:
                self.compared["different"] += 1
                if len(self.mismatches) < MAX_MISMATCHES_KEPT:
                    self.mismatches.append(f"recorded ClOrdID {pending.recorded_cl_ord_id}: recorded "
                                           f"{pending.expected}, replay unanswered")

    def latency_us(self) -> dict[str, float | None]:
        if self.histogram.get_total_count() == 0:
            return {"p50": None, "p99": None, "p999": None, "max": None}
        h = self.histogram
        return {
            "p50": h.get_value_at_percentile(50) / 1000,
            "p99": h.get_value_at_percentile(99) / 1000,
            "p999": h.get_value_at_percentile(99.9) / 1000,
            "max": h.get_max_value() / 1000,
        }
