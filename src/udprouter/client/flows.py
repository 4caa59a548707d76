"""The client's two FIXP flows, as pure bookkeeping (no sockets): used by udprouter.client.

OutboundFlow (client -> server, Idempotent): numbers application messages, remembers each datagram
until every message in it is answered (resent with the same numbers on timeout), per-ClOrdID first
answer futures, and NotApplied handling (resend under new numbers and new ClOrdIDs).
InboundFlow (server -> client, Recoverable): delivers messages in server order, detects gaps and
says what to ask a RetransmitRequest for.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import msgspec

from udprouter._generated.messages import Sequence
from udprouter.codec import encode_datagram

MAX_RESENDS = 5
KEEP_SENT = 1 << 16
RETRANSMIT_WAIT_S = 0.3
MAX_RETRANSMIT_REQUEST = 4096  # the server's default retransmit_max_count: a longer gap goes in chunks


class _Datagram:
    __slots__ = ("payload", "waiting", "deadline", "tries")

    def __init__(self, payload: bytes, waiting: set[int], deadline: float) -> None:
        self.payload = payload
        self.waiting = waiting
        self.deadline = deadline
        self.tries = 0


class OutboundFlow:
    def __init__(self, resend_timeout: float, resend_not_applied: bool) -> None:
        self.next_seq = 1
        self.resend_timeout = resend_timeout
        self.resend_not_applied = resend_not_applied
        self.sent: dict[int, object] = {}  # client seq -> message (bounded)
        self.futures: dict[int, asyncio.Future] = {}
        self.renamed: dict[int, int] = {}  # old ClOrdID -> the ClOrdID it was resent under
        self._datagrams: dict[int, _Datagram] = {}  # first seq -> datagram awaiting answers
        self._datagram_of: dict[int, int] = {}  # ClOrdID -> first seq of its datagram
        self.resends = 0
        self.not_applied_count = 0

    def datagram(self, msgs: list, loop: asyncio.AbstractEventLoop, now: float) -> bytes:
        first = self.next_seq
        self.next_seq += len(msgs)
        payload = encode_datagram([Sequence(first), *msgs])
        for i, msg in enumerate(msgs):
            self.sent[first + i] = msg
            self._datagram_of[msg.cl_ord_id] = first
            if msg.cl_ord_id not in self.futures:
                self.futures[msg.cl_ord_id] = loop.create_future()
        while len(self.sent) > KEEP_SENT:
            self.sent.pop(next(iter(self.sent)))
        if len(self.futures) > 2 * KEEP_SENT:
            self._forget_old_answers()
        self._datagrams[first] = _Datagram(payload, {m.cl_ord_id for m in msgs}, now + self.resend_timeout)
        return payload

    def _forget_old_answers(self) -> None:
        """Drops the oldest answered futures and renames beyond KEEP_SENT, so a client that runs for
        days stays bounded (first_ack of an order answered that long ago is not kept)."""
        excess = len(self.futures) - KEEP_SENT
        for cl_ord_id in [k for k, f in itertools.islice(self.futures.items(), excess) if f.done()]:
            del self.futures[cl_ord_id]
        while len(self.renamed) > KEEP_SENT:
            self.renamed.pop(next(iter(self.renamed)))

    def ack_future(self, cl_ord_id: int, loop: asyncio.AbstractEventLoop) -> asyncio.Future:
        while cl_ord_id in self.renamed:
            cl_ord_id = self.renamed[cl_ord_id]
        future = self.futures.get(cl_ord_id)
        if future is None:
            future = self.futures[cl_ord_id] = loop.create_future()
        return future

    def answered(self, cl_ord_id: int, msg) -> None:
        future = self.futures.get(cl_ord_id)
        if future is not None and not future.done():
            future.set_result(msg)
        first = self._datagram_of.pop(cl_ord_id, None)
        if first is not None:
            dgram = self._datagrams.get(first)
            if dgram is not None:
                dgram.waiting.discard(cl_ord_id)
                if not dgram.waiting:
                    del self._datagrams[first]

    def answered_seq(self, seq: int, msg) -> None:
        sent = self.sent.get(seq)
        if sent is not None:
            self.answered(sent.cl_ord_id, msg)

    def not_applied(self, from_seq: int, count: int, new_id: Callable[[], int]) -> list:
        """The messages to resend (new ClOrdIDs) for a NotApplied range; [] when resending is off."""
        self.not_applied_count += count
        resend = []
        # Only the numbers it kept (KEEP_SENT at most): a Count of up to 2^32 - 1 is not walked.
        for seq in [s for s in self.sent if from_seq <= s < from_seq + count]:
            msg = self.sent.pop(seq)
            first = self._datagram_of.pop(msg.cl_ord_id, None)
            dgram = self._datagrams.get(first) if first is not None else None
            if dgram is not None:
                dgram.waiting.discard(msg.cl_ord_id)
                if not dgram.waiting:
                    del self._datagrams[first]
            if not self.resend_not_applied:
                self.answered(msg.cl_ord_id, msg)
                continue
            new = msgspec.structs.replace(msg, cl_ord_id=new_id())
            self.renamed[msg.cl_ord_id] = new.cl_ord_id
            future = self.futures.pop(msg.cl_ord_id, None)
            if future is not None:
                self.futures[new.cl_ord_id] = future
            resend.append(new)
        return resend

    def due_resends(self, now: float) -> list[bytes]:
        """Datagrams with unanswered messages past their deadline: resent as they were (same numbers)."""
        out = []
        for first, dgram in list(self._datagrams.items()):
            if dgram.deadline <= now:
                if dgram.tries >= MAX_RESENDS:
                    del self._datagrams[first]
                    continue
                dgram.tries += 1
                dgram.deadline = now + self.resend_timeout
                self.resends += 1
                out.append(dgram.payload)
        return out

    def lowest_unanswered(self) -> int:
        """The first sequence number a re-established session resends from (next_seq if none)."""
        return min(self._datagrams, default=self.next_seq)

    def resend_all(self, now: float) -> list[bytes]:
        """Every datagram still awaiting answers, as it was (same numbers), with fresh resend tries:
        after a re-establishment the server drops the ones it had applied and applies the rest."""
        for dgram in self._datagrams.values():
            dgram.tries = 0
            dgram.deadline = now + self.resend_timeout
        return [self._datagrams[first].payload for first in sorted(self._datagrams)]

    @property
    def datagrams_in_flight(self) -> int:
        return len(self._datagrams)

    @property
    def unanswered(self) -> int:
        return sum(len(d.waiting) for d in self._datagrams.values())


class InboundFlow:
    def __init__(self) -> None:
        self.expected = 1
        self.highest = 1  # one past the highest server sequence number announced
        self.buffer: dict[int, object] = {}
        self.queue: asyncio.Queue = asyncio.Queue()
        self._requested_at = 0.0
        self._requested_end = 0  # one past the last number of the outstanding request
        self.retransmit_requests = 0
        self.state_resets = 0
        self._expected_at_ack: int | None = None  # expected when the EstablishmentAck came in
        self.max_request = MAX_RETRANSMIT_REQUEST  # halved when an answer would pass the byte budget

    def receive(self, first_seq: int, msgs: list) -> None:
        """Buffers msgs numbered from first_seq (a Sequence alone announces first_seq as the next)."""
        expected = self.expected
        for i, msg in enumerate(msgs):
            if first_seq + i >= expected:
                self.buffer[first_seq + i] = msg
        self.highest = max(self.highest, first_seq + len(msgs))

    def ack_arrived(self) -> None:
        """The EstablishmentAck is in: what we had then is what its NextSeqNo answers. Sequenced
        datagrams may be read before announce() runs (the waiting coroutine resumes later), and the
        frames they carry are numbered from that NextSeqNo on: no reset."""
        self._expected_at_ack = self.expected

    def announce(self, next_seq: int) -> None:
        """The server's next sequence number (EstablishmentAck): anything before it is owed to us.
        A number below what we already had when the ack arrived means the server restarted without
        its session state (durability none): its numbering starts over, so we follow it (counted in
        state_resets)."""
        had, self._expected_at_ack = self._expected_at_ack, None
        if next_seq < (self.expected if had is None else had):
            self.state_resets += 1
            self.expected = self.highest = next_seq
            self.buffer.clear()
            self._requested_at = 0.0
            return
        self.highest = max(self.highest, next_seq)

    def drain(self) -> list:
        """The messages now deliverable in order."""
        out = []
        buffer = self.buffer
        while self.expected in buffer:
            out.append(buffer.pop(self.expected))
            self.expected += 1
        if self.expected >= self.highest or (self._requested_at and self.expected >= self._requested_end):
            self._requested_at = 0.0  # the requested range is filled: the next chunk may be asked now
        return out

    def gap(self, now: float) -> tuple[int, int] | None:
        """(from, count) to ask a RetransmitRequest for: a new gap, or one a retransmission has not
        filled within RETRANSMIT_WAIT_S."""
        if self.highest <= self.expected:
            return None
        if self._requested_at and now - self._requested_at < RETRANSMIT_WAIT_S:
            return None
        self._requested_at = now
        self.retransmit_requests += 1
        end = min(self.buffer) if self.buffer else self.highest
        count = min(end - self.expected, self.max_request)
        self._requested_end = self.expected + count
        return self.expected, count

    def refused_for_budget(self, too_large: bool) -> bool:
        """RetransmitReject BudgetExceeded (too_large False) or RequestLimitExceeded (too_large): the
        messages are still kept, so the gap is asked again after RETRANSMIT_WAIT_S, for half as many
        when one answer would pass the server's byte budget (SPEC 4.4). Returns False when it
        cannot ask for less."""
        if too_large:
            if self.max_request == 1:
                return False
            self.max_request = max(1, self.max_request // 2)
        return True

    def give_up_gap(self) -> None:
        """RetransmitReject: the missing messages are gone; continue after them."""
        self.expected = min(self.buffer) if self.buffer else self.highest
        self._requested_at = 0.0

    @property
    def orders_seen(self) -> int:
        return self.expected - 1

