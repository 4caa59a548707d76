"""The C client library (clients/c) against the real router and engine, and against a scripted peer
that checks its datagram authentication byte for byte.

ROUTER_CHECKS_MACS: the router on this branch does not check MessageAuthentication frames yet, so
the live-router runs send none (authenticate_datagrams off). Once the router checks them, set it to
True: every live-router test here then runs with authentication on.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import struct
import subprocess

from lossy_proxy import FaultRates, LossyProxy

from udprouter._generated.messages import (
    Establish,
    EstablishmentAck,
    ExecutionReportNew,
    ExecutionReportTrade,
    FlowType,
    Negotiate,
    NegotiationResponse,
    NewOrderSingle,
    Sequence,
    Side,
    Terminate,
    TerminationCode,
)
from udprouter.auth import signature
from udprouter.client import Client
from udprouter.codec import decode_frames, encode_message, encode_sequenced_datagram

ROUTER_CHECKS_MACS = True
AUTH = "1" if ROUTER_CHECKS_MACS else "0"
PRICE = 100_000_000_000  # 100.00
TICK = 10_000_000
RUN_TIMEOUT_S = 90
MAC_FRAME = 30  # SOFH 6 + SBE header 8 + MAC 16
MAC_TEMPLATE_ID = 30


def drive_args(c_client_bin, address, *extra: str) -> list[str]:
    return [str(c_client_bin("udr_drive")), "--host", address[0], "--port", str(address[1]), "--auth", AUTH,
            "--timeout-s", "60", *extra]


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def reports_named(evs: list[dict], name: str) -> list[dict]:
    return [e["msg"] for e in evs if e["event"] == "report" and e["msg"]["message"] == name]


async def run_drive(args: list[str]) -> tuple[int, list[dict], str]:
    proc = await asyncio.create_subprocess_exec(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode, events(out.decode()), err.decode()


async def test_c_client_orders_trade_with_a_python_clients_orders(router, c_client_bin):
    seller = await Client.connect(*router.udp, "demo2", "demo2-secret")
    try:
        sells = await seller.send_orders([dict(security_id=2, side=Side.Sell, price=PRICE, qty=10)] * 5)
        for cl in sells:
            assert isinstance(await asyncio.wait_for(seller.first_ack(cl), 5), ExecutionReportNew)
        code, evs, err = await run_drive(drive_args(
            c_client_bin, router.udp, "--orders", "5", "--side", "buy", "--security", "2",
            "--price", str(PRICE), "--qty", "10", "--expect-reports", "5"))
        assert code == 0, (err, evs[-1])
        trades = reports_named(evs, "ExecutionReportTrade")
        assert [t["fields"]["LastQty"] for t in trades] == [10] * 5
        assert {t["fields"]["Side"]["name"] for t in trades} == {"Buy"}
        assert all(t["fields"]["LastPx"] == PRICE for t in trades)
        passive = []
        while len(passive) < 5:
            report = await seller.next_report(5)
            if isinstance(report, ExecutionReportTrade):
                passive.append(report)
        assert sorted(t.cl_ord_id for t in passive) == sorted(sells)
        assert evs[-1]["state"] == 4 and evs[-1]["unanswered"] == 0  # TERMINATED, all answered
        terminated = [e for e in evs if e["event"] == "terminated"]
        assert terminated == [{"event": "terminated", "code": 0, "reason": ""}]  # the router's answer
    finally:
        await seller.close()


async def test_c_client_cancels_and_replaces_its_resting_orders(router, c_client_bin):
    for action, answer in (("cancel", "ExecutionReportCancel"), ("replace", "ExecutionReportReplace")):
        code, evs, err = await run_drive(drive_args(
            c_client_bin, router.udp, "--orders", "25", "--security", "3", "--price", str(PRICE - 2 * TICK),
            "--qty", "4", "--then", action))
        assert code == 0, (err, evs[-1])
        placed = [n["fields"]["ClOrdID"] for n in reports_named(evs, "ExecutionReportNew")]
        answers = reports_named(evs, answer)
        assert len(placed) == 25 and sorted(a["fields"]["OrigClOrdID"] for a in answers) == sorted(placed)
        assert all(a["fields"]["ClOrdID"] > max(placed) for a in answers)  # fresh, rising ClOrdIDs
        if action == "replace":
            assert {a["fields"]["OrderQty"] for a in answers} == {5}


async def test_c_client_example_program_logs_in_crosses_itself_and_prints_its_reports(router, c_client_bin):
    env = dict(os.environ)
    if not ROUTER_CHECKS_MACS:
        env["UDR_NO_DATAGRAM_AUTH"] = "1"
    proc = await asyncio.create_subprocess_exec(
        str(c_client_bin("udr_trade")), router.udp[0], str(router.udp[1]), "demo", "demo-secret",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
    assert proc.returncode == 0, (out, err)
    text = out.decode()
    assert text.startswith("established\n")
    # Its buy and sell are one account's: self-match prevention (on by default) cancels instead.
    assert '"CancelReason": {"name": "SelfMatchPrevention"' in text
    assert '"message": "ExecutionReportTrade"' not in text
    assert "session ended" in text


async def test_c_client_resends_not_applied_orders_and_recovers_lost_reports_over_a_lossy_network(
        router, c_client_bin):
    """Drops in both directions: lost client datagrams come back as NotApplied (resent under new
    numbers and ClOrdIDs), lost server datagrams are asked for with RetransmitRequest. Every order
    is applied exactly once and every report delivered once, in order."""
    orders = 1000
    faults = FaultRates(drop=0.15, duplicate=0.05, reorder=0.05)
    proxy = await LossyProxy(router.udp, faults, faults, seed=15).start()
    try:
        code, evs, err = await run_drive(drive_args(
            c_client_bin, proxy.address, "--orders", str(orders), "--side", "buy", "--security", "3",
            "--price", str(PRICE - 50 * TICK), "--qty", "1", "--resend-timeout-ms", "200"))
    finally:
        proxy.close()
    stats = evs[-1]
    print(stats, proxy.counters())
    assert code == 0, (err, stats, proxy.counters())
    news = reports_named(evs, "ExecutionReportNew")
    assert len(news) == orders  # one acceptance per intended order: nothing lost, nothing doubled
    assert len({n["fields"]["ClOrdID"] for n in news}) == orders
    seqs = [e["seq"] for e in evs if e["event"] == "report"]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # every report once, in server order
    assert not [e for e in evs if e["event"] == "given_up"]
    resent = [e for e in evs if e["event"] == "resent"]
    assert stats["not_applied"] > 0 and stats["not_applied_resent"] == len(resent) > 0
    assert stats["retransmit_requests"] > 0
    assert sum(n["fields"]["Count"] for n in reports_named(evs, "NotApplied")) == stats["not_applied"]
    renamed = {e["old"] for e in resent}
    assert not renamed & {n["fields"]["ClOrdID"] for n in news}  # a NotApplied ClOrdID never applied


async def test_c_client_heartbeats_keep_an_idle_session_alive(router, c_client_bin):
    """Idle for 15 keepalive intervals: without its heartbeats the router would terminate the session
    after 3 (and the client would have to establish it again)."""
    code, evs, err = await run_drive(drive_args(
        c_client_bin, router.udp, "--orders", "1", "--price", str(PRICE - TICK), "--keepalive-ms", "100",
        "--linger-ms", "1500", "--more-orders", "1"))
    assert code == 0, (err, evs[-1])
    assert evs[-1]["reestablishments"] == 0
    assert len(reports_named(evs, "ExecutionReportNew")) == 2
    assert [e["event"] for e in evs].count("established") == 1


async def test_c_client_establishes_again_after_the_router_ends_its_stalled_session(router, c_client_bin):
    """The client process stalls (SIGSTOP) past 3 keepalive intervals: the router terminates the
    session (keepalive lapsed). Resumed, the client negotiates and establishes the same session
    again, and its next orders are applied, their reports in order after the first ones."""
    proc = await asyncio.create_subprocess_exec(*drive_args(
        c_client_bin, router.udp, "--orders", "3", "--price", str(PRICE - TICK), "--keepalive-ms", "100",
        "--linger-ms", "500", "--more-orders", "4"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        lines = []
        while not lines or json.loads(lines[-1])["event"] != "lingering":
            line = await asyncio.wait_for(proc.stdout.readline(), RUN_TIMEOUT_S)
            assert line, "udr_drive ended before lingering"
            lines.append(line.decode())
        proc.send_signal(signal.SIGSTOP)
        await asyncio.sleep(1.5)  # the stall itself: 15 keepalive intervals without a heartbeat
        proc.send_signal(signal.SIGCONT)
        out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    evs = events("".join(lines) + out.decode())
    assert proc.returncode == 0, (err, evs[-1])
    assert evs[-1]["reestablishments"] >= 1
    assert [e["event"] for e in evs].count("established") >= 2
    assert len(reports_named(evs, "ExecutionReportNew")) == 7
    seqs = [e["seq"] for e in evs if e["event"] == "report"]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


class ScriptedPeer(asyncio.DatagramProtocol):
    """Plays the router's part of a login and answers every order, keeping each datagram it got."""

    def __init__(self) -> None:
        self.datagrams: list[bytes] = []
        self.establish_ts = 0
        self.next_seq = 1
        self.transport = None
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.datagrams.append(data)
        msgs = decode_frames(data if not self.establish_ts else data[:-MAC_FRAME])
        first = msgs[0]
        if isinstance(first, Negotiate):
            reply = NegotiationResponse(first.session_id, first.timestamp, FlowType.Recoverable, b"")
            self.transport.sendto(encode_message(reply), addr)
        elif isinstance(first, Establish):
            self.establish_ts = first.timestamp
            reply = EstablishmentAck(first.session_id, first.timestamp, first.keepalive_interval, 1)
            self.transport.sendto(encode_message(reply), addr)
        elif isinstance(first, Sequence) and len(msgs) > 1:
            orders = [m for m in msgs[1:] if isinstance(m, NewOrderSingle)]
            acks = [ExecutionReportNew(m.cl_ord_id, 1, 1, m.transact_time, m.price, m.order_qty,
                                       m.security_id, m.side) for m in orders]
            self.transport.sendto(encode_sequenced_datagram(self.next_seq, acks), addr)
            self.next_seq += len(acks)
        elif isinstance(first, Terminate):
            reply = Terminate(first.session_id, TerminationCode.Finished, "")
            self.transport.sendto(encode_message(reply), addr)
            if not self.done.done():
                self.done.set_result(first.session_id)


def check_mac(datagram: bytes, key: bytes) -> None:
    body, frame = datagram[:-MAC_FRAME], datagram[-MAC_FRAME:]
    assert struct.unpack(">IH", frame[:6]) == (MAC_FRAME, 0xEB50)  # SOFH: network byte order
    assert struct.unpack("<4H", frame[6:14]) == (16, MAC_TEMPLATE_ID, 2748, 0)  # SBE header
    assert frame[14:] == hashlib.blake2b(body, key=key, digest_size=16).digest()


async def test_every_datagram_of_an_established_c_session_ends_with_its_blake2b_mac(c_client_bin):
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(ScriptedPeer, local_addr=("127.0.0.1", 0))
    try:
        address = transport.get_extra_info("sockname")[:2]
        code, evs, err = await run_drive([
            str(c_client_bin("udr_drive")), "--host", address[0], "--port", str(address[1]), "--auth", "1",
            "--key", "demo", "--secret", "demo-secret", "--orders", "45", "--timeout-s", "30"])
        assert code == 0, (err, evs[-1])
        session_id = await asyncio.wait_for(peer.done, 5)
    finally:
        transport.close()
    login, rest = peer.datagrams[:2], peer.datagrams[2:]
    negotiate, establish = decode_frames(login[0]), decode_frames(login[1])
    assert len(negotiate) == 1 and len(establish) == 1  # the login carries no MAC frame
    expected = signature("demo-secret", "Establish", session_id, establish[0].timestamp, "demo")
    assert establish[0].credentials == f"demo:{expected}".encode()
    key = hmac.new(b"demo-secret", f"DatagramKey\n{session_id.hex()}\n{peer.establish_ts}\ndemo".encode(),
                   hashlib.sha256).digest()
    assert len(rest) >= 4  # three order datagrams (20 + 20 + 5) and the Terminate, at least
    for datagram in rest:
        check_mac(datagram, key)
    sent_orders = sum(len(decode_frames(d[:-MAC_FRAME])) - 1 for d in rest
                      if isinstance(decode_frames(d[:-MAC_FRAME])[0], Sequence))
    assert sent_orders >= 45
