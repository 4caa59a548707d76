"""One load-generator measurement, end to end: open sessions, build the plan, run the C loop,
report counts, rate and latency. Shared by the console script and bench/bench_udp.py."""

import socket
import time
from array import array
from dataclasses import dataclass

from .handshake import establish_session, open_udp_socket
from .latency import (
    LatencySummary,
    latency_histogram,
    read_lateness_histogram,
    send_lateness_histogram,
    summarize,
)
from .order_flow import build_order_flow
from .plan import Plan, build_plan
from .runner import RunLimits, run_plan
from .schedule import paced_schedule


@dataclass(frozen=True, slots=True)
class LoadSpec:
    orders: int
    per_datagram: int = 1
    rate: int | None = None  # offered orders/s on a fixed schedule; None = max rate inside the window
    window: int = 256  # max-rate mode: most unanswered orders in flight (kernel buffers must not overflow)
    seed: int = 1


@dataclass(frozen=True, slots=True)
class LoadReport:
    spec: LoadSpec
    sent: int
    acknowledged: int
    rejected: int
    not_applied: int
    unanswered: int
    send_errors: int
    rate_per_s: float  # acknowledged orders per second, first send to last answer
    elapsed_s: float
    latency: LatencySummary
    send_lateness: LatencySummary | None = None  # paced runs: each datagram's send after its intended time
    read_lateness: LatencySummary | None = None  # each answer's read after it reached the socket

    def as_dict(self) -> dict:
        late = {} if self.send_lateness is None else {
            "send_late_us": {"p50": self.send_lateness.p50_us, "p99": self.send_lateness.p99_us}}
        if self.read_lateness is not None:
            late["read_late_us"] = {"p50": self.read_lateness.p50_us, "p99": self.read_lateness.p99_us}
        return late | {
            "sent": self.sent, "acknowledged": self.acknowledged, "rejected": self.rejected,
            "not_applied": self.not_applied, "unanswered": self.unanswered, "send_errors": self.send_errors,
            "rate_per_s": round(self.rate_per_s, 1), "offered_rate": self.spec.rate,
            "orders_per_datagram": self.spec.per_datagram, "elapsed_s": round(self.elapsed_s, 3),
            "latency_us": self.latency.as_dict(),
        }


class Sessions:
    """Connected UDP sockets, each an established FIXP session when credentials are given (a bare
    echo target needs none); closed on exit. authenticate: end every datagram with the session's
    MAC (SPEC.md 4.9); False only against a router configured without it (cost measurements)."""

    def __init__(self, host: str, port: int, count: int = 1, credentials: tuple[str, str] | None = None,
                 authenticate: bool = True):
        self.socks: list[socket.socket] = []
        self.seq_start: list[int] = []
        self.keys: list[bytes] | None = [] if credentials and authenticate else None
        try:
            for _ in range(count):
                sock = open_udp_socket(host, port)
                self.socks.append(sock)
                seq, key = establish_session(sock, *credentials) if credentials else (1, b"")
                self.seq_start.append(seq)
                if self.keys is not None:
                    self.keys.append(key)
        except BaseException:
            self.close()
            raise

    def fds(self) -> list[int]:
        return [s.fileno() for s in self.socks]

    def advance(self, orders_per_session: list[int]) -> None:
        self.seq_start = [s + n for s, n in zip(self.seq_start, orders_per_session, strict=True)]

    def close(self) -> None:
        for sock in self.socks:
            sock.close()
        self.socks = []

    def __enter__(self) -> "Sessions":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class PreparedLoad:
    """A spec turned into bytes and a schedule: build once, run against several servers."""

    spec: LoadSpec
    plan: Plan
    schedule: array | None


def prepare_load(spec: LoadSpec, seq_start: list[int], cl_ord_id_base: int) -> PreparedLoad:
    n = len(seq_start)
    flow = build_order_flow(spec.orders, sessions=n, seed=spec.seed)
    plan = build_plan(flow, spec.per_datagram, sessions=n, cl_ord_id_base=cl_ord_id_base,
                      seq_start=seq_start, transact_time=time.time_ns())
    schedule = paced_schedule(len(plan.datagrams), spec.per_datagram, spec.rate) if spec.rate else None
    return PreparedLoad(spec, plan, schedule)


def execute_load(prepared: PreparedLoad, sessions: Sessions, limits: RunLimits | None = None) -> LoadReport:
    """Runs a prepared load on sessions whose next sequence numbers are the plan's seq_start."""
    plan, spec = prepared.plan, prepared.spec
    if list(plan.seq_start) != sessions.seq_start:
        raise ValueError(f"plan starts at sequence numbers {list(plan.seq_start)}, "
                         f"sessions at {sessions.seq_start}")
    result = run_plan(plan, sessions.fds(), prepared.schedule, window_orders=spec.window,
                      limits=limits or RunLimits(), keys=sessions.keys)
    # The server applied (or declared NotApplied) every number sent; later runs continue after them.
    sessions.advance([int(length) for length in plan.seq_orders_len])
    hist = latency_histogram(result, plan.order_datagram(), prepared.schedule)
    schedule = prepared.schedule
    late = None if schedule is None else summarize(send_lateness_histogram(result, schedule))
    return LoadReport(spec, result.sent_orders, result.acked, result.rejected, result.not_applied,
                      result.unanswered, result.send_errors, result.acked_per_s(), result.elapsed_ns / 1e9,
                      summarize(hist), late, summarize(read_lateness_histogram(result)))


def run_load(
    spec: LoadSpec, sessions: Sessions, cl_ord_id_base: int, limits: RunLimits | None = None
) -> LoadReport:
    """Runs spec on the sessions; ClOrdIDs from cl_ord_id_base (keep it above the sessions' past ones)."""
    return execute_load(prepare_load(spec, sessions.seq_start, cl_ord_id_base), sessions, limits)
