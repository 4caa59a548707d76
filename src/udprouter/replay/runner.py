"""replay(): recorded sessions into fresh sessions of a live router, on schedule, with every answer tracked.

One udprouter.client.Client per recorded session (Negotiate + Establish with our own credentials;
it numbers the messages, resends unanswered datagrams under the same numbers and fills gaps in the
server's flow, and ends each datagram with the MAC of its own session's key: the recorded MACs,
made under the recorded sessions' keys, are dropped with the rest of the recorded framing).
NotApplied orders are not resent here: the report counts them as not applied.
The schedule may be endless (--loop 0): a `stop` event (set on SIGINT/SIGTERM by the CLI) ends the
sending as --duration would, and the answers still missing are waited for as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from udprouter._generated.messages import Sequence
from udprouter.client import Client
from udprouter.codec import encode_datagram
from udprouter.replay.recording import Recording
from udprouter.replay.rewrite import SessionRewriter
from udprouter.replay.schedule import Timing, iter_schedule, schedule
from udprouter.replay.tracker import ReplayTracker

# At topspeed, let the event loop read answers every this many datagrams.
YIELD_EVERY = 32
# Timers are millisecond-grained: sleep until this close to a send, then poll the loop until it is due
# (answers keep being read meanwhile), so latency measured from the intended time is the router's.
POLL_BEFORE_NS = 1_500_000
ProgressCallback = Callable[[int, int | None], None]
StatsCallback = Callable[["ReplayStats"], None]
# A long pacing sleep wakes this often to notice a stop request.
STOP_CHECK_S = 0.1


@dataclass(frozen=True)
class ReplayTarget:
    host: str
    port: int
    key_id: str
    secret: str
    wait_s: float = 2.0  # after the last send, how long to wait for answers still missing
    connect_timeout_s: float = 0.5


@dataclass
class ReplayOutcome:
    tracker: ReplayTracker
    sessions: int
    datagrams_sent: int
    started_ns: int = 0
    last_send_ns: int = 0
    intended_span_ns: int = 0
    unmapped_orig: int = 0
    clients: list[Client] = field(default_factory=list)
    stopped: bool = False  # a stop request (signal) ended the sending before the schedule did

    @property
    def bytes_sent(self) -> int:
        """UDP payload bytes the sessions handed their sockets: replayed datagrams, resends, logins,
        heartbeats and Terminate alike (what went to the router)."""
        return sum(c.bytes_sent for c in self.clients)

    @property
    def send_errors(self) -> int:
        return sum(c.send_errors for c in self.clients)


@dataclass(frozen=True)
class ReplayStats:
    """A snapshot for --stats: totals since the start."""

    elapsed_s: float
    datagrams_sent: int
    bytes_sent: int
    acknowledged: int
    unanswered: int
    send_errors: int

    @property
    def pps(self) -> float:
        return self.datagrams_sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def mbps(self) -> float:
        return self.bytes_sent * 8 / self.elapsed_s / 1e6 if self.elapsed_s > 0 else 0.0


async def _connect_all(recording: Recording, target: ReplayTarget) -> list[Client]:
    async def connect_one() -> Client:
        # Resending NotApplied orders would replay something the recording never sent: count them instead.
        return await Client.connect(
            target.host,
            target.port,
            target.key_id,
            target.secret,
            timeout=target.connect_timeout_s,
            resend_not_applied=False,
        )

    return list(await asyncio.gather(*(connect_one() for _ in recording.sessions)))


async def _consume(client: Client, index: int, tracker: ReplayTracker) -> None:
    async for msg in client.reports():
        tracker.on_message(index, msg, time.monotonic_ns())


def datagram_size(datagram) -> int:
    """UDP payload bytes of a recorded datagram as it is replayed (renumbering keeps the size)."""
    return len(encode_datagram([Sequence(datagram.seq_no), *datagram.messages]))


async def _pace(target_ns: int, sent: int, topspeed: bool, stop: asyncio.Event) -> None:
    while (delay := target_ns - time.monotonic_ns()) > POLL_BEFORE_NS and not stop.is_set():
        await asyncio.sleep(min((delay - POLL_BEFORE_NS) / 1e9, STOP_CHECK_S))
    while time.monotonic_ns() < target_ns and not stop.is_set():
        await asyncio.sleep(0)
    if topspeed and sent % YIELD_EVERY == 0:
        await asyncio.sleep(0)


async def _wait_for_answers(tracker: ReplayTracker, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while tracker.unanswered and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


async def _report_stats(outcome: ReplayOutcome, every_s: float, callback: StatsCallback) -> None:
    while True:
        await asyncio.sleep(every_s)
        callback(snapshot(outcome))


def snapshot(outcome: ReplayOutcome) -> ReplayStats:
    elapsed = max(time.monotonic_ns() - outcome.started_ns, 0) / 1e9
    return ReplayStats(round(elapsed, 3), outcome.datagrams_sent, outcome.bytes_sent,
                       outcome.tracker.acknowledged, outcome.tracker.unanswered, outcome.send_errors)


async def replay(
    recording: Recording, timing: Timing, target: ReplayTarget, progress: ProgressCallback | None = None,
    stop: asyncio.Event | None = None, stats: StatsCallback | None = None, stats_every_s: float | None = None,
) -> ReplayOutcome:
    """Send the recording's datagrams on schedule (until stop is set) and wait (bounded) for answers."""
    stamps = [d.ts_ns for d in recording.datagrams]
    sizes = [datagram_size(d) for d in recording.datagrams] if timing.mbps is not None else None
    sends = schedule(stamps, timing, sizes) if timing.finite else iter_schedule(stamps, timing, sizes)
    total = len(sends) if isinstance(sends, list) else None
    stop = stop or asyncio.Event()
    keys = list(recording.sessions)
    index_of = {key: i for i, key in enumerate(keys)}
    tracker = ReplayTracker()
    outcome = ReplayOutcome(tracker, len(keys), 0)
    clients = outcome.clients = await _connect_all(recording, target)
    consumers = [asyncio.create_task(_consume(c, i, tracker)) for i, c in enumerate(clients)]
    rewriters = [SessionRewriter(first_cl_ord_id=time.time_ns() // 1000) for _ in keys]
    deadline_ns = None if timing.duration_s is None else int(timing.duration_s * 1e9)
    if progress is not None:
        progress(0, total)
    outcome.started_ns = start = time.monotonic_ns() + 1_000_000
    if stats is not None and stats_every_s:
        consumers.append(asyncio.create_task(_report_stats(outcome, stats_every_s, stats)))
    try:
        for n, send in enumerate(sends):
            intended = start + send.at_ns
            await _pace(intended, n, timing.topspeed, stop)
            if stop.is_set():
                outcome.stopped = True
                break
            if deadline_ns is not None and time.monotonic_ns() - start >= deadline_ns:
                break
            recorded = recording.datagrams[send.packet]
            i = index_of[recorded.session_key]
            rewritten = rewriters[i].rewrite(recorded, send.loop, time.time_ns())
            first_seq = clients[i].out.next_seq
            await clients[i].send_messages(list(rewritten.messages))
            expected = recording.sessions[recorded.session_key].answers
            tracker.on_sent(i, first_seq, rewritten, intended, expected)
            outcome.datagrams_sent += 1
            outcome.intended_span_ns = send.at_ns
            if progress is not None:
                progress(n + 1, total)
        outcome.last_send_ns = time.monotonic_ns()
        await _wait_for_answers(tracker, target.wait_s)
    finally:
        tracker.finish_unanswered()
        outcome.unmapped_orig = sum(r.unmapped_orig for r in rewriters)
        for task in consumers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    return outcome
