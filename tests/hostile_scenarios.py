"""Hostile-client scenarios against a live router, shared by the system tests (short, seeded) and
`python -m tests.chaos` (long, many seeds). Each takes a started router's UDP address and a seeded
random.Random, does its bounded amount of work, asserts what must hold and returns its figures.

Every raw datagram into an established session goes through Client.send_raw, so whatever the
client adds to each datagram it sends (framing, authentication) applies to these too.
"""

from __future__ import annotations

import asyncio
import random
import time

from bench.bench_amplification import count_received
from udprouter._generated.messages import (
    BusinessMessageReject,
    BusinessRejectReason,
    Establish,
    ExecutionReportNew,
    NewOrderSingle,
    NotApplied,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    OrdType,
    RetransmitRequest,
    Sequence,
    Side,
    TimeInForce,
)
from udprouter.client import Client
from udprouter.codec import encode_message

PRICE = 100_000_000_000
TICK = 10_000_000
ANSWER_TIMEOUT_S = 10.0
NEIGHBOUR_INSTRUMENT = 3  # the neighbour's orders rest here; the attacker's valid ones go to 1 and 2


async def neighbour(udp) -> Client:
    """A well-behaved session that never recovers on its own (no resends), so any loss shows."""
    return await Client.connect(*udp, "demo2", "demo2-secret", resend_timeout=3600.0,
                                resend_not_applied=False)


def neighbour_datagram(client: Client, count: int) -> tuple[bytes, list[int]]:
    """The next datagram of count resting orders, numbered by the client's own flow."""
    msgs = [client.new_order(NEIGHBOUR_INSTRUMENT, Side.Buy, PRICE - TICK * (1 + i % 50), 1)
            for i in range(count)]
    payload = client.out.datagram(msgs, asyncio.get_running_loop(), time.monotonic())
    return payload, [m.cl_ord_id for m in msgs]


async def all_acked(client: Client, cl_ord_ids: list[int]) -> list:
    """Every order's first answer; each must be ExecutionReportNew (applied, once: ClOrdIDs are
    unique and the engine rejects a repeat, so a second application would answer a reject)."""
    futures = [client.first_ack(cl) for cl in cl_ord_ids]
    if not futures:
        return []
    done, pending = await asyncio.wait(futures, timeout=ANSWER_TIMEOUT_S)
    answers = [f.result() for f in futures if f in done]
    lost = len(pending)
    wrong = [a for a in answers if not isinstance(a, ExecutionReportNew)]
    assert lost == 0 and not wrong, f"neighbour: {lost} of {len(cl_ord_ids)} unanswered, wrong: {wrong[:3]}"
    return answers


def drain_reports(client: Client) -> list:
    out = []
    while not client.inbound.queue.empty():
        out.append(client.inbound.queue.get_nowait())
    return out


async def reports_until(client: Client, predicate, timeout: float = ANSWER_TIMEOUT_S) -> list:
    """Reports until predicate(all so far) holds, or the timeout (then what arrived)."""
    got: list = []
    deadline = time.monotonic() + timeout
    while not predicate(got) and time.monotonic() < deadline:
        try:
            got.append(await client.next_report(max(0.01, deadline - time.monotonic())))
        except TimeoutError:
            break
    return got


# -- 1. isolation: poison Sequences in the same read batch as a neighbour's orders -------------

def poison_datagrams(next_seq: int, rng: random.Random) -> list[bytes]:
    """Sequences the server cannot take: a gap too large for one NotApplied, numbers that would
    pass 2^64 - 2, the null value; each with an order behind it, and as a bare heartbeat."""
    order = encode_message(NewOrderSingle(rng.getrandbits(63) + 1, 0, PRICE, 1, 1, Side.Buy, OrdType.Limit,
                                          TimeInForce.Day))
    firsts = [next_seq + 2**32, next_seq + 2**32 + rng.getrandbits(20), 2**64 - 1, 2**64 - 2,
              next_seq + rng.getrandbits(64) % (2**64 - next_seq - 1) + 2**32]
    out = []
    for first in firsts:
        first = min(first, 2**64 - 1)
        out.append(encode_message(Sequence(first)) + order)
        out.append(encode_message(Sequence(first)) + order * rng.randint(2, 20))
    out.append(encode_message(Sequence(2**64 - 1)))
    return out


async def poison_batches(udp, rng: random.Random, rounds: int, orders_per_round: int = 60) -> dict:
    """Each round: the neighbour's datagrams with the attacker's poison datagrams between them, sent
    back to back (one read batch). Every neighbour order must be applied once; the attacker gets
    SeqNoOutOfRange rejects and its session still works with its right number afterwards."""
    attacker = await Client.connect(*udp, "demo", "demo-secret", resend_timeout=3600.0,
                                    resend_not_applied=False)
    good = await neighbour(udp)
    sent_poison = 0
    try:
        ids: list[int] = []
        for _ in range(rounds):
            poison = poison_datagrams(attacker.out.next_seq, rng)
            rng.shuffle(poison)
            for _ in range(0, orders_per_round, 5):
                payload, cls = neighbour_datagram(good, 5)
                good.send_raw(payload)
                ids += cls
                if poison:
                    attacker.send_raw(poison.pop())
                    sent_poison += 1
            for payload in poison:
                attacker.send_raw(payload)
                sent_poison += 1
            await all_acked(good, ids[-orders_per_round:])
        answers = await reports_until(attacker, lambda got: len(got) >= 1)
        assert answers and all(isinstance(a, BusinessMessageReject) and a.ref_seq_num == 0
                               and a.business_reject_reason == BusinessRejectReason.SeqNoOutOfRange
                               and a.ref_template_id == Sequence.TEMPLATE_ID for a in answers), answers[:3]
        cl = await attacker.send_order(1, Side.Buy, PRICE, 1)  # its expectation did not move
        ack = await asyncio.wait_for(attacker.first_ack(cl), ANSWER_TIMEOUT_S)
        assert isinstance(ack, ExecutionReportNew), ack
        assert not [r for r in drain_reports(attacker) if isinstance(r, NotApplied)]
        return {"neighbour_orders": len(ids), "poison_datagrams": sent_poison}
    finally:
        await attacker.close()
        await good.close()


# -- 1b. fuzz: random field values from an established session beside a neighbour -------------

def _u64(rng: random.Random, near: int) -> int:
    return rng.choice((0, 1, near, near + 1, max(near - 1, 0), 2**32 - 1, 2**32, 2**63, 2**64 - 2, 2**64 - 1,
                       rng.getrandbits(64), near + rng.getrandbits(33)))


def random_app(rng: random.Random, hwm: int):
    i64 = (0, -1, -(2**63), 2**63 - 1, rng.getrandbits(63) - 2**62, PRICE,
           PRICE + rng.randrange(-9, 9) * TICK)
    u32 = (0, 1, 2**32 - 1, rng.getrandbits(32), rng.randint(1, 5))
    i32 = (0, 1, 2, -1, -(2**31), 2**31 - 1, rng.randint(1, 5))
    pick = rng.choice
    kind = rng.randrange(3)
    if kind == 0:
        return NewOrderSingle(_u64(rng, hwm), _u64(rng, 0), pick(i64), pick(u32), pick(i32), pick((1, 2)),
                              pick((1, 2)), pick((0, 3, 4)))
    if kind == 1:
        return OrderCancelRequest(_u64(rng, hwm), _u64(rng, hwm), _u64(rng, 0), pick(i32), pick((1, 2)))
    return OrderCancelReplaceRequest(_u64(rng, hwm), _u64(rng, hwm), _u64(rng, 0), pick(i64), pick(u32),
                                     pick(i32), pick((1, 2)))


def random_datagram(rng: random.Random, client: Client) -> bytes:
    """One datagram of random field values for an established session (never its Terminate)."""
    kind = rng.randrange(10)
    now = time.time_ns()
    if kind == 0:
        session_id = client.session_id if rng.random() < 0.7 else rng.randbytes(16)
        count = rng.choice((0, 1, 2**32 - 1, rng.getrandbits(32)))
        return encode_message(RetransmitRequest(session_id, _u64(rng, now), _u64(rng, 1), count))
    if kind == 1:
        return encode_message(Establish(client.session_id, _u64(rng, now), rng.getrandbits(32),
                                        _u64(rng, client.out.next_seq), b"demo:" + rng.randbytes(8)))
    seq = _u64(rng, client.out.next_seq)
    msgs = [random_app(rng, rng.getrandbits(64)) for _ in range(rng.choice((0, 1, 2, 5, 20)))]
    data = encode_message(Sequence(seq)) + b"".join(encode_message(m) for m in msgs)
    if rng.random() < 0.2 and len(data) > 30:  # a byte changed somewhere behind the Sequence
        b = bytearray(data)
        b[rng.randrange(22, len(b))] = rng.randrange(256)
        data = bytes(b)
    return data


async def fuzz_beside_neighbour(udp, rng: random.Random, datagrams: int, burst: int = 40) -> dict:
    """The attacker sends random field values; the neighbour's every order is applied exactly once."""
    attacker = await Client.connect(*udp, "demo", "demo-secret", resend_timeout=3600.0,
                                    resend_not_applied=False)
    good = await neighbour(udp)
    ids: list[int] = []
    try:
        sent = 0
        while sent < datagrams:
            for _ in range(burst):
                attacker.send_raw(random_datagram(rng, attacker))
                sent += 1
                if rng.random() < 0.3:
                    payload, cls = neighbour_datagram(good, rng.randint(1, 20))
                    good.send_raw(payload)
                    ids += cls
            await asyncio.sleep(0)
            drain_reports(attacker)
            if len(ids) > 400:
                await all_acked(good, ids)
                ids.clear()
        await all_acked(good, ids)
        assert not [r for r in drain_reports(good) if isinstance(r, (NotApplied, BusinessMessageReject))]
        return {"attacker_datagrams": sent}
    finally:
        await attacker.close()
        await good.close()


# -- 3. no amplification: a RetransmitRequest flood meets the session's byte budget ------------

async def retransmit_flood(udp, rng: random.Random, requests: int, budget_bytes_per_s: int) -> dict:
    """Orders fill the session's kept buffer, then a flood of valid RetransmitRequests: the bytes
    back stay within the budget's burst + refill over the flood, BudgetExceeded answers the rest,
    and the session still trades afterwards."""
    client = await Client.connect(*udp, "demo", "demo-secret", resend_timeout=3600.0,
                                  resend_not_applied=False)
    received = count_received(client)
    try:
        ids = await client.send_orders([client.new_order(1, Side.Buy, PRICE - TICK * (1 + i % 9), 1)
                                        for i in range(400)])
        await all_acked(client, ids)
        await asyncio.sleep(0.3)
        before, sent = received[0], 0
        started = time.monotonic()
        for i in range(requests):
            count = rng.choice((1, 10, 100, 400))
            payload = encode_message(RetransmitRequest(client.session_id, time.time_ns(),
                                                       rng.randint(1, 401 - count), count))
            client.send_raw(payload)
            sent += len(payload)
            if i % 20 == 19:
                await asyncio.sleep(0.001)
        last, deadline = -1, time.monotonic() + ANSWER_TIMEOUT_S
        while received[0] != last and time.monotonic() < deadline:
            last = received[0]
            await asyncio.sleep(0.3)
        elapsed = time.monotonic() - started
        out = received[0] - before
        # Retransmissions within the budget, plus the small, rate-limited rejects (< 100 bytes each).
        bound = budget_bytes_per_s * (1 + elapsed) + 100 * 100 * (1 + elapsed)
        assert out <= bound, (out, bound, elapsed)
        drain_reports(client)
        cl = await client.send_order(2, Side.Buy, PRICE, 1)
        ack = await asyncio.wait_for(client.first_ack(cl), ANSWER_TIMEOUT_S)
        assert isinstance(ack, ExecutionReportNew), ack
        return {"bytes_in": sent, "bytes_out": out, "seconds": round(elapsed, 2)}
    finally:
        await client.close()


# -- 2. bounded sessions: logins over a router's life --------------------------------------------

async def session_churn(udp, rng: random.Random, sessions: int) -> dict:
    """sessions logins one after another, each with a new SessionId (as udprouter.client and the
    load generator make them): each has an order applied and ends with Terminate."""
    from udprouter.client import Client as _Client

    for i in range(sessions):
        key, secret = ("demo", "demo-secret") if i % 2 else ("demo2", "demo2-secret")
        client = await _Client.connect(*udp, key, secret, resend_timeout=3600.0, resend_not_applied=False)
        try:
            if rng.random() < 0.5 or i == sessions - 1:
                cl = await client.send_order(1 + i % 2, Side.Buy, PRICE - TICK * (1 + i % 9), 1)
                ack = await asyncio.wait_for(client.first_ack(cl), ANSWER_TIMEOUT_S)
                assert isinstance(ack, ExecutionReportNew), (i, ack)
        finally:
            await client.close()
    return {"sessions": sessions}
