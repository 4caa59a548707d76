"""Bad input end to end: every case gets its specific answer (or silence) and the router keeps serving."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

import pytest

from udprouter._generated.messages import (
    BusinessMessageReject,
    BusinessRejectReason,
    ExecutionReportNew,
    NewOrderSingle,
    NotApplied,
    OrdType,
    Sequence,
    Side,
    TimeInForce,
)
from udprouter.client import Client
from udprouter.codec import decode_frames, encode_datagram, encode_message
from udprouter.errors import SessionError

PRICE = 100_000_000_000
REPORT_TIMEOUT_S = 3.0


@pytest.fixture(params=[True, False], ids=["fast_path", "python_path"])
def fast_path(request) -> bool:
    """Every scenario here runs against both ingest implementations ([udp] fast_path on and off)."""
    return request.param


@contextlib.asynccontextmanager
async def session(router, key="demo"):
    client = await Client.connect(*router.udp, key, f"{key}-secret")
    try:
        yield client
    finally:
        await client.close()


def order(cl_ord_id: int, qty: int = 1) -> NewOrderSingle:
    return NewOrderSingle(cl_ord_id, 0, PRICE, qty, 1, Side.Buy, OrdType.Limit, TimeInForce.Day)


def take_seq(client: Client, count: int = 1) -> int:
    """Numbers for a hand-made datagram: the client's next sequence numbers, consumed."""
    seq = client.out.next_seq
    client.out.next_seq += count
    return seq


async def still_serving(client: Client) -> None:
    cl = await client.send_order(1, Side.Buy, PRICE, 1)
    ack = await asyncio.wait_for(client.first_ack(cl), REPORT_TIMEOUT_S)
    assert isinstance(ack, ExecutionReportNew)


async def first_acks(client: Client, ids: list[int]) -> list:
    return await asyncio.wait_for(asyncio.gather(*[client.first_ack(cl) for cl in ids]), REPORT_TIMEOUT_S)


async def next_of(client: Client, cls):
    """The next report, which must be of type cls."""
    report = await client.next_report(REPORT_TIMEOUT_S)
    assert isinstance(report, cls), report
    return report


class RawPeer:
    """A UDP socket on another port of 127.0.0.1: a different source address."""

    def __init__(self, target) -> None:
        self.target = target
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)

    def send(self, payload: bytes) -> None:
        self.sock.sendto(payload, self.target)

    def receive(self) -> bytes | None:
        try:
            return self.sock.recv(2048)
        except TimeoutError:
            return None

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw_peer(router):
    peer = RawPeer(router.udp)
    yield peer
    peer.close()


@pytest.mark.parametrize("payload, reason", [
    (encode_message(order(1))[:10], BusinessRejectReason.MalformedMessage),  # truncated frame
    (bytes(range(7, 87)), BusinessRejectReason.MalformedMessage),  # garbage
    (struct.pack(">IH", 22, 0xEB51) + encode_message(Sequence(1))[6:], BusinessRejectReason.MalformedMessage),
])
async def test_undecodable_datagram_from_a_session_gets_business_reject(router, payload, reason):
    async with session(router) as client:
        client.send_raw(payload)
        reject = await next_of(client, BusinessMessageReject)
        assert (reject.business_reject_reason, reject.ref_seq_num) == (reason, 0)
        await still_serving(client)


async def test_unknown_template_consumes_its_number_and_is_unsupported(router):
    async with session(router) as client:
        seq = take_seq(client)
        frame = bytearray(encode_message(order(1)))
        struct.pack_into("<H", frame, 8, 150)  # templateId 150 does not exist in schema 101
        client.send_raw(encode_message(Sequence(seq)) + bytes(frame))
        reject = await next_of(client, BusinessMessageReject)
        assert reject.business_reject_reason == BusinessRejectReason.UnsupportedMessageType
        assert (reject.ref_seq_num, reject.ref_template_id) == (seq, 150)
        await still_serving(client)


async def test_out_of_range_enum_is_invalid_enum_value(router):
    async with session(router) as client:
        seq = take_seq(client)
        frame = bytearray(encode_message(order(client.next_cl_ord_id())))
        frame[14 + 32] = 9  # Side 9
        client.send_raw(encode_message(Sequence(seq)) + bytes(frame))
        reject = await next_of(client, BusinessMessageReject)
        assert reject.business_reject_reason == BusinessRejectReason.InvalidEnumValue
        assert reject.ref_seq_num == seq
        await still_serving(client)


async def test_orders_without_an_established_session_are_not_authorized_and_never_applied(start_router):
    router = start_router("[session]\nreject_rate_per_s = 0.1\n")  # one reject per source per 10 s
    raw_peer = RawPeer(router.udp)
    try:
        await _not_authorized_once(raw_peer)
    finally:
        raw_peer.close()


async def _not_authorized_once(raw_peer: RawPeer) -> None:
    raw_peer.send(encode_datagram([Sequence(1), order(5)]))
    (reject,) = decode_frames(raw_peer.receive())
    assert isinstance(reject, BusinessMessageReject)
    assert reject.business_reject_reason == BusinessRejectReason.NotAuthorized
    raw_peer.send(encode_datagram([Sequence(2), order(6)]))
    assert raw_peer.receive() is None  # one reject per source per interval, no amplification


async def test_valid_frame_from_another_address_is_never_applied(router, raw_peer):
    async with session(router) as client:
        seq = client.out.next_seq
        raw_peer.send(encode_datagram([Sequence(seq), order(client.next_cl_ord_id(), qty=77)]))
        reply = raw_peer.receive()
        assert reply is None or isinstance(decode_frames(reply)[0], BusinessMessageReject)
        # The session's own message with that number is applied: the spoofed one took nothing.
        cl = await client.send_order(1, Side.Buy, PRICE, 3)
        ack = await next_of(client, ExecutionReportNew)
        assert (ack.cl_ord_id, ack.order_qty) == (cl, 3)


async def test_bad_credentials_are_refused(router):
    with pytest.raises(SessionError, match="Credentials"):
        await Client.connect(*router.udp, "demo", "not-the-secret", retries=2, timeout=0.3)
    async with session(router) as client:
        await still_serving(client)


async def test_replayed_sequence_numbers_are_dropped_silently(router):
    async with session(router) as client:
        seq = take_seq(client)
        payload = encode_datagram([Sequence(seq), order(client.next_cl_ord_id())])
        client.send_raw(payload)
        await next_of(client, ExecutionReportNew)
        client.send_raw(payload)
        client.send_raw(encode_datagram([Sequence(seq), order(client.next_cl_ord_id(), qty=9)]))
        with pytest.raises(TimeoutError):
            await client.next_report(0.3)
        await still_serving(client)


async def test_gap_is_answered_with_not_applied_and_late_numbers_stay_unapplied(router):
    async with session(router) as client:
        skipped = take_seq(client, 3)
        late = encode_datagram([Sequence(skipped), order(client.next_cl_ord_id())])
        cl = await client.send_order(1, Side.Buy, PRICE, 2)
        not_applied = await next_of(client, NotApplied)
        assert (not_applied.from_seq_no, not_applied.count) == (skipped, 3)
        ack = await next_of(client, ExecutionReportNew)
        assert ack.cl_ord_id == cl
        client.send_raw(late)
        with pytest.raises(TimeoutError):
            await client.next_report(0.3)


async def test_throttle_breach_is_business_reject_throttled(start_router):
    router = start_router("[session]\nthrottle_msgs_per_s = 5\n")
    async with session(router) as client:
        ids = await client.send_orders([dict(security_id=1, side=Side.Buy, price=PRICE, qty=1)] * 12)
        answers = await first_acks(client, ids)
        assert [a.__class__ for a in answers] == [ExecutionReportNew] * 5 + [BusinessMessageReject] * 7
        assert {a.business_reject_reason for a in answers[5:]} == {BusinessRejectReason.Throttled}


async def test_full_ring_is_engine_busy_and_nothing_is_dropped(start_router):
    router = start_router("[engine]\ninbound_capacity = 4\n")
    async with session(router) as client:
        ids = await client.send_orders([dict(security_id=1, side=Side.Buy, price=PRICE, qty=1)] * 20)
        answers = await first_acks(client, ids)
        busy = [a for a in answers if isinstance(a, BusinessMessageReject)]
        acked = [a for a in answers if isinstance(a, ExecutionReportNew)]
        assert len(busy) + len(acked) == 20 and len(acked) >= 4 and busy
        assert {b.business_reject_reason for b in busy} == {BusinessRejectReason.EngineBusy}
        await still_serving(client)


async def test_lost_reports_are_recovered_by_retransmit_request(router):
    async with session(router) as client:
        first = await client.send_order(1, Side.Buy, PRICE, 1)
        await next_of(client, ExecutionReportNew)
        # Forget everything received so far, as if those datagrams were lost on the way.
        client.inbound.expected = 1
        second = await client.send_order(1, Side.Buy, PRICE, 1)
        replayed = [await client.next_report(REPORT_TIMEOUT_S) for _ in range(2)]
        assert [r.cl_ord_id for r in replayed] == [first, second]
        assert client.inbound.retransmit_requests >= 1
