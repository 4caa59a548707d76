"""Security against the live router: replayed handshakes, frames from other addresses, forged sources
without the datagram MAC, unauthenticated floods (no amplification) and secrets kept out of logs
and metrics (SPEC 4.1, 4.8, 4.9)."""

from __future__ import annotations

import asyncio
import re
import socket
import time
import urllib.request
from pathlib import Path

import pytest
from test_lossy_network import journal_new_orders

from bench.bench_flood import flood
from udprouter._generated.messages import (
    BusinessMessageReject,
    BusinessRejectReason,
    Establish,
    EstablishmentAck,
    EstablishmentReject,
    ExecutionReportNew,
    FlowType,
    Negotiate,
    NegotiationReject,
    NegotiationResponse,
    NewOrderSingle,
    NotApplied,
    OrdType,
    RetransmitRequest,
    Sequence,
    Side,
    Terminate,
    TerminationCode,
    TimeInForce,
)
from udprouter.auth import sign
from udprouter.client import Client
from udprouter.codec import decode_frames, encode_datagram, encode_message
from udprouter.datagram_mac import DatagramMac, datagram_key
from udprouter.replay.reader import read_capture

PRICE = 100_000_000_000
SECRETS = (b"demo-secret", b"demo2-secret")
REJECT_INTERVAL_S = 0.15  # above the default 10 rejects/s per source: each request may be answered
FLOOD_SOURCES_BOUND = 256


class Peer:
    """A UDP socket on 127.0.0.1 (a given port or an ephemeral one) that sends and collects answers."""

    def __init__(self, target, port: int = 0) -> None:
        self.target = target
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind(("127.0.0.1", port))
        except OSError:
            self.sock.close()
            raise
        self.sock.settimeout(0.3)

    def ask(self, payload: bytes) -> list:
        """Sends payload (after the reject interval) and returns the decoded answer, [] for none."""
        time.sleep(REJECT_INTERVAL_S)
        self.sock.sendto(payload, self.target)
        try:
            answer = self.sock.recv(2048)
        except TimeoutError:
            return []
        assert len(answer) <= len(payload)  # never an amplifier
        return decode_frames(answer)

    def close(self) -> None:
        self.sock.close()


def captured_handshake(capture: Path, port: int) -> tuple[bytes, bytes]:
    """The Negotiate and Establish datagrams the client at `port` sent, as recorded by the router."""
    found = {}
    for datagram in read_capture(str(capture)).datagrams:
        if datagram.src[1] == port:
            first = decode_frames(datagram.payload)[0]
            found.setdefault(first.__class__, datagram.payload)
    return found[Negotiate], found[Establish]


async def captured_handshake_when_flushed(capture: Path, port: int, timeout_s: float = 10.0):
    """captured_handshake once the router has flushed it (once per loop pass), bounded in time."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return captured_handshake(capture, port)
        except (KeyError, ValueError, EOFError):
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.02)


async def acked(client: Client, qty: int = 1) -> ExecutionReportNew:
    cl = await client.send_order(1, Side.Buy, PRICE, qty)
    ack = await asyncio.wait_for(client.first_ack(cl), 5.0)
    assert isinstance(ack, ExecutionReportNew), ack
    return ack


def order_datagram(seq: int, cl_ord_id: int) -> bytes:
    return encode_datagram([Sequence(seq), NewOrderSingle(cl_ord_id, 0, PRICE, 5, 1, Side.Buy, OrdType.Limit,
                                                          TimeInForce.Day)])


async def test_handshake_replayed_from_a_capture_is_refused_from_any_address(start_router, tmp_path):
    capture = tmp_path / "capture.pcapng"
    router = start_router(capture=capture)
    client = await Client.connect(*router.udp, "demo", "demo-secret")
    port = client.transport.get_extra_info("sockname")[1]
    await acked(client)
    await client.close()
    negotiate, establish = await captured_handshake_when_flushed(capture, port)
    other, same = Peer(router.udp), Peer(router.udp, port)  # same: the terminated client's own address
    try:
        for peer in (other, same):
            answers = peer.ask(negotiate)
            if peer is other:  # same SessionId and Timestamp seen before: refused as a replay
                assert [a.__class__ for a in answers] == [NegotiationReject]
            establish_answers = peer.ask(establish)
            assert [a.__class__ for a in establish_answers] == [EstablishmentReject]
            assert establish_answers[0].reason == "replayed"
            sent_order = peer.ask(order_datagram(2, 1 << 60))
            assert [(a.__class__, a.business_reject_reason) for a in sent_order] == [
                (BusinessMessageReject, BusinessRejectReason.NotAuthorized)]
    finally:
        other.close()
        same.close()
    assert router.stop() == 0
    assert len(journal_new_orders(router.journal)) == 1


async def test_handshake_signed_outside_the_timestamp_window_is_refused(router):
    peer = Peer(router.udp)
    try:
        session_id = bytes(range(16))
        stale = time.time_ns() - 10 * 10**9  # the default window is 5 s
        creds = sign("demo-secret", "Negotiate", session_id, stale, "demo")
        (answer,) = peer.ask(encode_message(Negotiate(session_id, stale, FlowType.Idempotent, creds)))
        assert isinstance(answer, NegotiationReject) and answer.reason == "stale_timestamp"
        fresh = time.time_ns()
        creds = sign("demo-secret", "Negotiate", session_id, fresh, "demo")
        (answer,) = peer.ask(encode_message(Negotiate(session_id, fresh, FlowType.Idempotent, creds)))
        assert isinstance(answer, NegotiationResponse)  # the same key, in the window, is accepted
        stale_est = time.time_ns() - 10 * 10**9
        creds = sign("demo-secret", "Establish", session_id, stale_est, "demo")
        (answer,) = peer.ask(encode_message(Establish(session_id, stale_est, 1000, 1, 0, 0, creds)))
        assert isinstance(answer, EstablishmentReject) and answer.reason == "stale_timestamp"
        fresh_est = time.time_ns()
        creds = sign("demo-secret", "Establish", session_id, fresh_est, "demo")
        (answer,) = peer.ask(encode_message(Establish(session_id, fresh_est, 1000, 1, 0, 0, creds)))
        assert isinstance(answer, EstablishmentAck)
    finally:
        peer.close()


async def test_session_frames_from_another_address_are_never_applied(router):
    client = await Client.connect(*router.udp, "demo", "demo-secret")
    attacker = Peer(router.udp)
    try:
        await acked(client)
        seq, sid = client.out.next_seq, client.session_id
        for payload in (encode_message(Terminate(sid, TerminationCode.Finished, "")),
                        encode_message(RetransmitRequest(sid, time.time_ns(), 1, 1)),
                        order_datagram(seq, client.next_cl_ord_id() + 1000),
                        order_datagram(seq + 5, client.next_cl_ord_id() + 2000)):
            answers = attacker.ask(payload)
            assert all(isinstance(a, BusinessMessageReject) for a in answers), answers
        ack = await acked(client, qty=3)  # still established, its numbers untouched: no NotApplied
        assert ack.order_qty == 3
        while not client.inbound.queue.empty():
            assert not isinstance(client.inbound.queue.get_nowait(), NotApplied | Terminate)
        assert client.terminated is None
    finally:
        attacker.close()
        await client.close()
    assert router.stop() == 0
    assert len(journal_new_orders(router.journal)) == 2


def metric(router, name: str) -> float:
    url = f"http://127.0.0.1:{router.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    assert match, name
    return float(match.group(1))


async def quiet_for(client: Client, seconds: float = 0.3) -> list:
    """Whatever the client receives in the next seconds (bounded): the router's answers, if any."""
    got = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            got.append(await asyncio.wait_for(client.inbound.queue.get(), left))
        except TimeoutError:
            break
    return got


def drain(client: Client) -> None:
    while not client.inbound.queue.empty():
        client.inbound.queue.get_nowait()


@pytest.mark.parametrize("fast_path", [True, False], ids=["c_fast_path", "python_path"])
async def test_forged_source_without_the_datagram_mac_is_never_applied(router):
    """A datagram from the victim's own address and port (what a raw socket forges) with the victim's
    next sequence number but no MAC, a wrong one, or one under another key: nothing applied, no
    answer, counted. Sent from the victim's own socket, which is that forgery without raw sockets."""
    victim = await Client.connect(*router.udp, "demo", "demo-secret")
    try:
        await acked(victim)
        seq, sid = victim.out.next_seq, victim.session_id
        order = order_datagram(seq, victim.next_cl_ord_id() + 1000)
        wrong_key = DatagramMac(datagram_key("demo-secret", sid, 1, "demo"))  # a guessed Timestamp
        tampered = bytearray(victim._mac.sign(order))
        tampered[-33] = Side.Sell  # the victim's own signed datagram, its Side changed on the way
        forged = [order, order + order[-30:], wrong_key.sign(order), victim._mac.sign(order)[:-1],
                  victim._mac.sign(order) + encode_message(Sequence(seq)),  # MAC frame not last
                  bytes(tampered),
                  encode_message(Terminate(sid, TerminationCode.Finished, "")),
                  encode_message(RetransmitRequest(sid, time.time_ns(), 1, 1)),
                  encode_message(Sequence(seq + 5))]  # a heartbeat announcing a gap
        drain(victim)
        for payload in forged:
            victim.send_raw(payload, sign=False)
        assert await quiet_for(victim) == []  # no reply at all: no NotApplied, no reject, no reflection
        deadline = time.monotonic() + 5
        while metric(router, "udprouter_datagrams_unauthenticated_total") < len(forged):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert metric(router, "udprouter_datagrams_unauthenticated_total") == len(forged)
        ack = await acked(victim, qty=3)  # still established, its next number untouched: no NotApplied
        assert ack.order_qty == 3
        assert victim.terminated is None and victim.out.not_applied_count == 0
    finally:
        await victim.close()
    assert router.stop() == 0
    assert len(journal_new_orders(router.journal)) == 2
    assert "datagrams with a missing or wrong MAC" in router.log_text()


async def test_replayed_datagram_of_the_victim_is_not_applied_again_nor_after_a_new_establish(router):
    """An exact copy of a victim's datagram is a duplicate by number; one signed under an earlier
    Establish (say captured and held back) fails the MAC once the session is established again, even
    carrying the next expected number."""
    victim = await Client.connect(*router.udp, "demo", "demo-secret")
    held_back = None
    try:
        await acked(victim)
        seq = victim.out.next_seq
        sent = victim._mac.sign(order_datagram(seq - 1, 1))  # the victim's last datagram, copied as sent
        victim.send_raw(sent, sign=False)
        held_back = victim._mac.sign(order_datagram(seq, victim.next_cl_ord_id() + 1000))  # never sent
        drain(victim)
        assert await quiet_for(victim) == []
    finally:
        await victim.close()
    again = await Client.connect(*router.udp, "demo", "demo-secret", session_id=victim.session_id,
                                 next_seq_no=seq)
    try:
        assert again.out.next_seq == seq
        again.send_raw(held_back, sign=False)  # from the session's address, its next number: wrong key now
        assert await quiet_for(again) == []
        ack = await acked(again, qty=4)  # takes seq: the held-back datagram did not
        assert ack.order_qty == 4 and again.out.not_applied_count == 0
    finally:
        await again.close()
    assert router.stop() == 0
    assert len(journal_new_orders(router.journal)) == 2


@pytest.mark.timeout(60)
@pytest.mark.timeout(60)
async def test_unauthenticated_flood_from_many_ports_gets_bounded_smaller_answers(router):
    seconds, pps = 1.5, 10_000
    counters = await asyncio.to_thread(flood, router.udp[1], pps, seconds)
    assert counters["sent"] >= pps * seconds * 0.9
    # At most one answer per source per 0.1 s, each smaller than what the source sent.
    assert counters["received"] <= FLOOD_SOURCES_BOUND * (counters["seconds"] * 10 + 1)
    assert counters["received_bytes"] <= counters["sent_bytes"] // 10
    client = await Client.connect(*router.udp, "demo", "demo-secret")
    try:
        await acked(client)
    finally:
        await client.close()
    assert router.stop() == 0
    assert len(journal_new_orders(router.journal)) == 1


async def test_secrets_never_appear_in_logs_journal_or_metrics(router):
    client = await Client.connect(*router.udp, "demo", "demo-secret")
    try:
        await acked(client)
    finally:
        await client.close()
    for secret in ("not-the-secret", "demo2-secret-typo"):
        with pytest.raises(Exception, match="rejected|no answer"):
            await Client.connect(*router.udp, "demo", secret, retries=1, timeout=0.3)
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{router.metrics_port}/metrics", timeout=5).read()
    assert b"udprouter_" in metrics
    assert router.stop() == 0
    files = [p for p in router.work.rglob("*") if p.is_file()]
    assert router.log in files and any(p.parent == router.journal for p in files)
    for blob in [metrics] + [p.read_bytes() for p in files]:
        for secret in SECRETS:
            assert secret not in blob
