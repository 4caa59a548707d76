"""Hostile input against the live router + engine: seeded mutated datagrams (tests/fuzz.py) from an
established session and from unknown sources.

From the session, each datagram is either the mutation as it is (when its first frame does not
decode: one BusinessMessageReject with RefSeqNum 0) or `Sequence(next number)` + the mutation, kept
only when none of its frames decodes to an application message (so nothing may be applied). The
test predicts every answer from the reference decoder and SPEC 2.4: each application-schema frame
that fails to decode consumes the next client sequence number and gets a BusinessMessageReject
naming that number, its templateId and the reason of its error; framing errors and undecodable
frames of other schemas consume nothing and get a reject with RefSeqNum 0; session frames get
nothing. Each datagram ends with the session's MAC (SPEC.md 4.9), so it is the frames before it that
the router judges (a datagram the MAC makes too large is judged whole). The router must answer
exactly the predicted rejects, in order; its expected
sequence number must end where the prediction does (the next valid order under that number is
applied, with no NotApplied); and the engine journal must hold only the two valid orders.

From unknown sources (several source ports), every mutation as it is: each source gets at most one
answer per rate-limit interval, no answer larger than the datagram it answers, and nothing applied.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time

import pytest
from test_lossy_network import journal_new_orders

from tests.fuzz import DatagramMutator
from udprouter._generated.messages import (
    MAX_DATAGRAM_SIZE,
    BusinessMessageReject,
    ExecutionReportNew,
    NotApplied,
    Sequence,
    Side,
)
from udprouter.client import Client
from udprouter.codec import (
    DecodeError,
    business_reject_reason,
    decode_datagram,
    encode_message,
    frame_consumes_seq_no,
)
from udprouter.datagram_mac import DatagramMac

SEED = 77
SESSION_DATAGRAMS = 10_000
UNKNOWN_DATAGRAMS = 10_000
UNKNOWN_SOURCES = 6
BURST = 50
PRICE = 100_000_000_000
ANSWER_TIMEOUT_S = 5.0
REJECT_RATE_PER_S = 10.0


def predict(payload: bytes, next_seq: int) -> tuple[list[tuple[int, int, int]], int] | None:
    """(expected rejects as (RefSeqNum, RefTemplateID, reason), numbers consumed), or None when the
    datagram must not be sent (it holds something valid that would be applied or change the session)."""
    entries = decode_datagram(payload)
    first = entries[0]
    if first.__class__ is DecodeError:
        return [(0, first.template_id, business_reject_reason(first))], 0
    if first.__class__ is not Sequence or first.next_seq_no != next_seq:
        return None
    rejects, seq = [], next_seq
    for entry in entries[1:]:
        if entry.__class__ is not DecodeError:
            if entry.IS_APPLICATION:
                return None
            continue  # a session frame inside a sequenced datagram is ignored
        if frame_consumes_seq_no(entry):
            rejects.append((seq, entry.template_id, business_reject_reason(entry)))
            seq += 1
        else:  # a frame that takes no number: answered unnumbered (SPEC 2.4)
            rejects.append((0, entry.template_id, business_reject_reason(entry)))
    return rejects, seq - next_seq


def session_datagrams(mutator: DatagramMutator, first_seq: int, count: int, mac: DatagramMac):
    """Yields (signed payload, predicted rejects) with the sequence numbers they consume taken in order."""
    seq, made = first_seq, 0
    while made < count:
        raw = mutator.next()
        for payload in (raw, encode_message(Sequence(seq)) + raw):
            if not payload:
                continue  # a MAC frame alone authenticates nothing: dropped unanswered
            signed = mac.sign(payload)
            prediction = predict(payload if len(signed) <= MAX_DATAGRAM_SIZE else signed, seq)
            if prediction is not None:
                rejects, consumed = prediction
                seq += consumed
                made += 1
                yield signed, rejects, seq
                break


async def order_acked(client: Client) -> ExecutionReportNew:
    cl = await client.send_order(1, Side.Buy, PRICE, 1)
    ack = await asyncio.wait_for(client.first_ack(cl), ANSWER_TIMEOUT_S)
    assert isinstance(ack, ExecutionReportNew), ack
    return ack


async def collect(client: Client, count: int, into: list) -> None:
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    while len(into) < count and time.monotonic() < deadline:
        try:
            into.append(await client.next_report(max(0.01, deadline - time.monotonic())))
        except TimeoutError:
            break


@pytest.mark.timeout(180)
async def test_mutated_datagrams_from_a_session_get_their_exact_rejects_and_change_nothing(start_router):
    # Every unnumbered reject is predicted here: the per-session limit on them is lifted.
    router = start_router("[session]\nsession_reject_rate_per_s = 1000000.0\n")
    client = await Client.connect(*router.udp, "demo", "demo-secret")
    try:
        before = await order_acked(client)
        await client.next_report(ANSWER_TIMEOUT_S)  # the New just checked, out of the stream
        expected, answers = [], []
        mutator = DatagramMutator(SEED)
        # The transport's own socket: asyncio's sendto silently skips an empty payload.
        sock = socket.socket(fileno=os.dup(client.transport.get_extra_info("socket").fileno()))
        for i, (payload, rejects, next_seq) in enumerate(
                session_datagrams(mutator, client.out.next_seq, SESSION_DATAGRAMS, client._mac)):
            client.out.next_seq = next_seq  # keeps the client's heartbeats on the server's number
            sock.send(payload)
            expected += rejects
            if i % BURST == BURST - 1:
                await collect(client, len(expected), answers)
        sock.close()
        await collect(client, len(expected), answers)
        assert not [a for a in answers if isinstance(a, NotApplied)]
        got = [(a.ref_seq_num, a.ref_template_id, a.business_reject_reason) for a in answers]
        assert got == expected
        assert all(isinstance(a, BusinessMessageReject) for a in answers)
        ack = await order_acked(client)  # applied under the predicted number: no NotApplied before it
        assert (await client.next_report(ANSWER_TIMEOUT_S)) == ack
        print(f"session: {SESSION_DATAGRAMS} mutated datagrams, {len(expected)} rejects as predicted; "
              f"mutations {dict(mutator.applied)}")
    finally:
        await client.close()
    assert router.stop() == 0
    # The engine saw the two valid orders and nothing else.
    assert [cl for _, _, cl in journal_new_orders(router.journal)] == [before.cl_ord_id, ack.cl_ord_id]


@pytest.mark.timeout(120)
async def test_mutated_datagrams_from_unknown_sources_get_bounded_small_answers_and_change_nothing(
        start_router):
    router = start_router()
    sources = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(UNKNOWN_SOURCES)]
    sent_bytes = [0] * UNKNOWN_SOURCES
    replies: list[list[bytes]] = [[] for _ in sources]
    mutator = DatagramMutator(SEED + 1)
    started = time.monotonic()
    try:
        for sock in sources:
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
        for i in range(UNKNOWN_DATAGRAMS):
            k = i % UNKNOWN_SOURCES
            payload = mutator.next()
            sources[k].sendto(payload, router.udp)
            sent_bytes[k] += len(payload)
            if i % BURST == BURST - 1:
                await asyncio.sleep(0.005)
                drain(sources, replies)
        await asyncio.sleep(0.3)
        drain(sources, replies)
        elapsed = time.monotonic() - started
        for k in range(UNKNOWN_SOURCES):
            assert len(replies[k]) <= elapsed * REJECT_RATE_PER_S + 1
            assert sum(map(len, replies[k])) <= sent_bytes[k] // 10
        assert any(replies)  # answered at all: the limit, not silence, bounds the answers
        client = await Client.connect(*router.udp, "demo", "demo-secret")
        try:
            await order_acked(client)  # still serving
        finally:
            await client.close()
    finally:
        for sock in sources:
            sock.close()
    assert router.stop() == 0
    assert len(journal_new_orders(router.journal)) == 1
    out = [len(r) for rs in replies for r in rs]
    print(f"unknown sources: {UNKNOWN_DATAGRAMS} datagrams, {sum(sent_bytes)} bytes in, "
          f"{len(out)} replies, {sum(out)} bytes out")


def drain(sources: list[socket.socket], replies: list[list[bytes]]) -> None:
    for k, sock in enumerate(sources):
        while True:
            try:
                replies[k].append(sock.recv(2048))
            except BlockingIOError:
                break
