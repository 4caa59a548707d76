"""Order-to-answer latency, coordinated omission corrected, in an HdrHistogram.

Each order's latency runs from the *intended* send time of its datagram (the schedule), not from
when the loop actually got it out: a stall in the sender or the system under test then shows up
in every order it delayed, as HdrHistogram's conventions require. Unpaced runs have no schedule
and measure from the actual send time. It ends when the answer reached the client's socket (the
kernel's receive stamp), not when the loop read it: the loop's own wake-up is the client's, and is
printed beside the latency (read_lateness_histogram), as its lateness in sending is.
"""

from array import array
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from .run_result import RunResult

HIGHEST_NS = 60 * 1_000_000_000
SIGNIFICANT_DIGITS = 3
PERCENTILES = (50.0, 90.0, 99.0, 99.9, 99.99, 100.0)


@dataclass(frozen=True, slots=True)
class LatencySummary:
    count: int
    p50_us: float
    p99_us: float
    p999_us: float
    max_us: float
    spectrum_us: dict[float, float]  # percentile -> latency

    def as_dict(self) -> dict:
        return {"count": self.count, "p50": self.p50_us, "p99": self.p99_us, "p999": self.p999_us,
                "max": self.max_us}


def latency_histogram(result: RunResult, order_datagram: array, intended_ns: array | None,
                      at_read: bool = False) -> HdrHistogram:
    """One value (ns) per answered order: first answer minus its datagram's intended send time.
    at_read: to when the loop read the answer instead (the client's own wake-up included)."""
    hist = HdrHistogram(1, HIGHEST_NS, SIGNIFICANT_DIGITS)
    start = intended_ns if intended_ns is not None else result.sent_ns
    ends = result.answer_read_ns if at_read and result.answer_read_ns is not None else result.answer_ns
    for order, (answer, end) in enumerate(zip(result.answer_ns, ends, strict=True)):
        if answer < 0:
            continue
        answer = end
        sent = start[order_datagram[order]]
        if sent >= 0:
            hist.record_value(min(max(answer - sent, 1), HIGHEST_NS))
    return hist


def send_lateness_histogram(result: RunResult, intended_ns: array) -> HdrHistogram:
    """One value (ns) per datagram sent on the schedule: how long after its intended time it left.
    The load generator's own error, inside every latency above: printed beside them."""
    hist = HdrHistogram(1, HIGHEST_NS, SIGNIFICANT_DIGITS)
    for late in result.send_lateness_ns(intended_ns):
        hist.record_value(min(max(late, 1), HIGHEST_NS))
    return hist


def read_lateness_histogram(result: RunResult) -> HdrHistogram:
    """One value (ns) per answered order: how long after its answer reached the socket the loop
    read it. The load generator's own delay, outside the latencies above: printed beside them."""
    hist = HdrHistogram(1, HIGHEST_NS, SIGNIFICANT_DIGITS)
    for late in result.read_lateness_ns():
        hist.record_value(min(max(late, 1), HIGHEST_NS))
    return hist


def summarize(hist: HdrHistogram) -> LatencySummary:
    def us(p: float) -> float:
        return hist.get_value_at_percentile(p) / 1000.0

    return LatencySummary(
        count=hist.get_total_count(), p50_us=us(50.0), p99_us=us(99.0), p999_us=us(99.9),
        max_us=hist.get_max_value() / 1000.0, spectrum_us={p: us(p) for p in PERCENTILES},
    )
