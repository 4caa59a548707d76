"""What one run of the C loop returned, as Python arrays, with the counts derived from them."""

from array import array
from dataclasses import dataclass

# First answers that mean the order went through the whole path and was acted on.
ACK_TEMPLATES = frozenset({201, 202, 203, 204, 206})
REJECT_TEMPLATES = frozenset({205, 207})
NOT_APPLIED_TEMPLATE = 18


@dataclass(slots=True)
class RunResult:
    sent_ns: array  # per datagram; -1 = never sent
    answer_ns: array  # per order: when its first answer reached the socket (kernel stamp); -1 = no answer
    answer_template: array  # per order
    sent_datagrams: int
    sent_orders: int
    send_errors: int
    recv_datagrams: int
    recv_frames: int
    elapsed_ns: int
    last_answer_ns: int
    timer_wakes: int = 0  # the loop's sleeps that ended by their timeout
    wake_late_ns: int = 0  # at the end: the estimated p90 of how late such a wake-up came
    cpu_ns: int = 0  # CPU time the loop used in the run: on a shared machine, taken from the server's
    answer_read_ns: array | None = None  # per order: when the loop read that answer (None: not kept)
    unstamped_answers: int = 0  # answer datagrams the kernel gave no receive stamp: timed by their read

    def send_lateness_ns(self, intended_ns: array) -> list[int]:
        """For every datagram sent on a schedule: how long after its intended time it left."""
        return [s - i for s, i in zip(self.sent_ns, intended_ns, strict=True) if s >= 0]

    def read_lateness_ns(self) -> list[int]:
        """For every answered order: how long after its answer reached the socket the loop read it."""
        if self.answer_read_ns is None:
            return []
        return [r - a for a, r in zip(self.answer_ns, self.answer_read_ns, strict=True) if a >= 0]

    def count(self, templates: frozenset[int]) -> int:
        pairs = zip(self.answer_template, self.answer_ns, strict=True)
        return sum(1 for t, a in pairs if a >= 0 and t in templates)

    @property
    def acked(self) -> int:
        return self.count(ACK_TEMPLATES)

    @property
    def rejected(self) -> int:
        return self.count(REJECT_TEMPLATES)

    @property
    def not_applied(self) -> int:
        return self.count(frozenset({NOT_APPLIED_TEMPLATE}))

    @property
    def unanswered(self) -> int:
        return sum(1 for a in self.answer_ns if a < 0)

    def acked_per_s(self) -> float:
        """Acked orders over the span from the first send to the last answer."""
        first = min((t for t in self.sent_ns if t >= 0), default=0)
        span = self.last_answer_ns - first
        return self.acked * 1e9 / span if span > 0 else 0.0
