"""Drop copy (SPEC.md 4.12), through the wire: a read-only FIXP session of a drop-copy key receives
every execution report of its accounts, each marked (DropCopy: SessionNumber, Account) and equal to
the report the trading session got (same ExecID, same TransactTime); a lost datagram is recovered
by RetransmitRequest; an order sent on it is refused (DropCopySession) and applies nothing; after a
router SIGKILL and restart it re-establishes and every copy is there exactly once.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter

import pytest
from conftest import RouterProcess
from lossy_proxy import FaultRates, LossyProxy

from tests.system.report_checks import drain
from tests.system.test_router_crash import kill_and_restart, settle
from tools.gen.vectors import message_from_json
from udprouter._generated.messages import (
    BusinessMessageReject,
    BusinessRejectReason,
    ExecutionReportCancel,
    ExecutionReportNew,
    ExecutionReportTrade,
    OrderCancelReject,
    Side,
    TimeInForce,
)
from udprouter.client import Client, CopiedReport
from udprouter.codec import encode_message

PRICE = 100_000_000_000
TICK = 10_000_000
KEEPALIVE_MS = 200
WAIT_S = 30.0
# demo (account 1) and demo2 (account 2) as in the default config, demo3 (account 3) outside the
# drop copy's set, the drop-copy key for accounts 1 and 2.
KEYS = """
[[keys]]
key_id = "demo"
secret = "demo-secret"
account = 1

[[keys]]
key_id = "demo2"
secret = "demo2-secret"
account = 2

[[keys]]
key_id = "demo3"
secret = "demo3-secret"
account = 3

[[keys]]
key_id = "copy"
secret = "copy-secret"
account = 900
drop_copy = [1, 2]
"""
COPIED_KINDS = (ExecutionReportNew, ExecutionReportTrade, ExecutionReportCancel, OrderCancelReject)


@pytest.fixture
def dc_router(tmp_path):
    work = tmp_path / "r"
    work.mkdir()
    router = RouterProcess(work)
    router.config.write_text(router.config.read_text() + KEYS)
    try:
        yield router.start()
    finally:
        router.stop()


async def connect(router_or_addr, key: str, **kw) -> Client:
    addr = router_or_addr if isinstance(router_or_addr, tuple) else router_or_addr.udp
    return await Client.connect(*addr, key, f"{key}-secret", keepalive_ms=KEEPALIVE_MS, **kw)


async def wait_for(predicate, what: str, limit_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def executions(reports: list) -> list:
    return [r for r in reports if isinstance(r, COPIED_KINDS)]


async def trade(buyer: Client, seller: Client, qty: int = 5, price: int = PRICE) -> None:
    bid = await buyer.send_order(security_id=1, side=Side.Buy, price=price, qty=qty)
    assert isinstance(await asyncio.wait_for(buyer.first_ack(bid), WAIT_S), ExecutionReportNew)
    ask = await seller.send_order(security_id=1, side=Side.Sell, price=price, qty=qty)
    assert isinstance(await asyncio.wait_for(seller.first_ack(ask), WAIT_S), ExecutionReportNew)


async def test_drop_copy_gets_both_sides_of_a_trade_and_nothing_of_other_accounts(dc_router):
    copy = await connect(dc_router, "copy")
    a, b, c = [await connect(dc_router, key) for key in ("demo", "demo2", "demo3")]
    try:
        await trade(a, b)
        await trade(c, c, price=PRICE + TICK)  # account 3 trades with itself: not in the set
        await trade(a, b, qty=7, price=PRICE - TICK)
        await wait_for(lambda: len(a.inbound.buffer) == 0 and a.inbound.queue.qsize() >= 4
                       and b.inbound.queue.qsize() >= 4, "the trading sessions' reports")
        got_a, got_b = executions(drain(a)), executions(drain(b))
        assert sum(isinstance(r, ExecutionReportTrade) for r in got_a + got_b) == 4
        # Account 3 traded between the two: a copy of its reports would be among these.
        await wait_for(lambda: copy.inbound.queue.qsize() >= len(got_a) + len(got_b), "the copies")
        copies = drain(copy)
        assert all(isinstance(r, CopiedReport) for r in copies)
        # Each copy is the report its session got, byte for byte (ExecID and TransactTime too).
        sid_a, sid_b = got_a[0].exec_id >> 40, got_b[0].exec_id >> 40
        expected = Counter([(sid_a, 1, encode_message(r)) for r in got_a]
                           + [(sid_b, 2, encode_message(r)) for r in got_b])
        assert Counter((r.session_number, r.account, encode_message(r.report)) for r in copies) == expected
        trades = [r for r in copies if isinstance(r.report, ExecutionReportTrade)]
        assert {r.account for r in trades} == {1, 2} and len(trades) == 4  # both sides, twice
        assert all(r.account in (1, 2) for r in copies)
    finally:
        for client in (a, b, c, copy):
            await client.close()


async def test_drop_copy_gap_is_recovered_by_retransmit_request(dc_router):
    # A third of the router's datagrams to the drop copy are lost (seeded): every copy still
    # arrives, in order, through RetransmitRequest.
    proxy = await LossyProxy(dc_router.udp, FaultRates(), FaultRates(drop=0.3), seed=16).start()
    copy = await Client.connect(*proxy.address, "copy", "copy-secret", keepalive_ms=1000, retries=20)
    a, b = [await connect(dc_router, key) for key in ("demo", "demo2")]
    try:
        for i in range(10):
            await trade(a, b, qty=1 + i, price=PRICE + (i % 3) * TICK)
        await wait_for(lambda: a.inbound.queue.qsize() >= 20 and b.inbound.queue.qsize() >= 20,
                       "the trading reports")
        expected = len(executions(drain(a))) + len(executions(drain(b)))
        await wait_for(lambda: copy.inbound.queue.qsize() >= expected, "every copy")
        copies = drain(copy)
        assert len(copies) == expected and all(isinstance(r, CopiedReport) for r in copies)
        assert copy.inbound.retransmit_requests >= 1 and proxy.counters()["down"]["dropped"] >= 1
    finally:
        for client in (a, b, copy):
            await client.close()
        proxy.close()


async def test_order_on_drop_copy_session_is_refused_and_applies_nothing(dc_router):
    copy = await connect(dc_router, "copy")
    b = await connect(dc_router, "demo2")
    try:
        # Two datagrams: the second comes from an address the router has seen established (the
        # one the C fast path would take for a trading session).
        for seq in (1, 2):
            cl = await copy.send_order(security_id=1, side=Side.Buy, price=PRICE, qty=5)
            reject = await asyncio.wait_for(copy.first_ack(cl), WAIT_S)
            assert isinstance(reject, BusinessMessageReject)
            assert reject.business_reject_reason == BusinessRejectReason.DropCopySession
            assert reject.ref_seq_num == seq and reject.ref_template_id == 101
        # Had the buy been applied, this IOC sell at its price would trade: it is canceled unfilled.
        ask = await b.send_order(security_id=1, side=Side.Sell, price=PRICE, qty=10,
                                 time_in_force=TimeInForce.ImmediateOrCancel)
        assert isinstance(await asyncio.wait_for(b.first_ack(ask), WAIT_S), ExecutionReportNew)
        await wait_for(lambda: b.inbound.queue.qsize() >= 2, "the IOC's cancel")
        reports = drain(b)
        assert [type(r) for r in reports] == [ExecutionReportNew, ExecutionReportCancel]
        assert reports[1].cum_qty == 0
        # The drop copy saw the IOC's two reports (account 2), nothing of its own refused order.
        await wait_for(lambda: copy.inbound.queue.qsize() >= 4, "the copies")
        got = drain(copy)
        assert [type(r) for r in got[:2]] == [BusinessMessageReject] * 2
        assert [type(r.report) for r in got[2:]] == [ExecutionReportNew, ExecutionReportCancel]
    finally:
        await b.close()
        await copy.close()


async def test_drop_copy_exactly_once_across_router_sigkill(dc_router):
    copy = await connect(dc_router, "copy")
    a, b = [await connect(dc_router, key) for key in ("demo", "demo2")]
    clients = [a, b, copy]
    try:
        for r in range(12):
            orders = [dict(security_id=1 + i % 2, side=Side.Buy if r % 2 == 0 else Side.Sell,
                           price=PRICE, qty=1 + i) for i in range(6)]
            ids_a = await a.send_orders(orders)
            ids_b = await b.send_orders([dict(o, side=3 - o["side"]) for o in orders])
            if r in (4, 9):
                kill_and_restart(dc_router)
            await asyncio.wait_for(asyncio.gather(*(a.first_ack(i) for i in ids_a),
                                                  *(b.first_ack(i) for i in ids_b)), WAIT_S)
        await settle(clients)
        await wait_for(lambda: not copy.reestablishing and copy.inbound.highest <= copy.inbound.expected,
                       "the drop copy's recovery")
        assert copy.reestablishments == 2
        got_a, got_b = executions(drain(a)), executions(drain(b))
        expected = Counter([(1, encode_message(r)) for r in got_a] + [(2, encode_message(r)) for r in got_b])
        await wait_for(lambda: copy.inbound.queue.qsize() >= sum(expected.values()), "every copy")
        copies = drain(copy)
        assert Counter((r.account, encode_message(r.report)) for r in copies) == expected
    finally:
        for client in clients:
            await client.close()


@pytest.fixture
def dc_grpc_router(tmp_path):
    work = tmp_path / "g"
    work.mkdir()
    router = RouterProcess(work, '[grpc]\nenabled = true\nhost = "127.0.0.1"\nport = 0\n')
    router.config.write_text(router.config.read_text() + KEYS)
    try:
        router.start()
        router.grpc_target = "127.0.0.1:" + re.search(r"grpc=(\d+)", router.log_text()).group(1)
        yield router
    finally:
        router.stop()


async def test_drop_copy_gets_the_reports_of_orders_entered_through_grpc(dc_grpc_router):
    """A trade between a gRPC and a UDP session, one between two gRPC sessions, and a gRPC order the
    router rejects itself: the drop copy gets every report of both sides, each marked with its
    session (the gRPC flow's number, ExecID >> 40) and account."""
    import grpc

    from fallback_grpc._generated import order_entry_pb2 as pb
    from fallback_grpc._generated import order_entry_pb2_grpc as pb_grpc
    from fallback_grpc.client import bearer_metadata

    def nos(cl_ord_id: int, side, price: int, qty: int, security_id: int = 1) -> pb.NewOrderSingle:
        return pb.NewOrderSingle(cl_ord_id=cl_ord_id, security_id=security_id, order_qty=qty, side=side,
                                 ord_type=pb.ORD_TYPE_LIMIT, time_in_force=pb.TIME_IN_FORCE_DAY, price=price)

    def order(*args, **kw) -> pb.SubmitOrderRequest:
        return pb.SubmitOrderRequest(order=nos(*args, **kw))

    copy = await connect(dc_grpc_router, "copy")
    b = await connect(dc_grpc_router, "demo2")
    try:
        async with grpc.aio.insecure_channel(dc_grpc_router.grpc_target) as channel:
            stub = pb_grpc.OrderEntryStub(channel)

            async def submit(key: str, request) -> pb.OrderResult:
                response = await stub.SubmitOrder(request, metadata=bearer_metadata(key, f"{key}-secret"),
                                                  timeout=WAIT_S)
                return response.result

            bid = await submit("demo", order(1, pb.SIDE_BUY, PRICE, 5))  # gRPC, account 1: rests
            ask = await b.send_order(security_id=1, side=Side.Sell, price=PRICE, qty=5)  # UDP, account 2
            assert isinstance(await asyncio.wait_for(b.first_ack(ask), WAIT_S), ExecutionReportNew)
            bid2 = await submit("demo", order(2, pb.SIDE_BUY, PRICE + TICK, 3))
            ask2 = await submit("demo2", order(1, pb.SIDE_SELL, PRICE + TICK, 3))  # gRPC against gRPC
            rejected = await submit("demo", order(3, pb.SIDE_BUY, PRICE, 1, security_id=99))  # the router's
            batch = await stub.SubmitOrdersBatch(  # the packed path: an order, and a reject made in C
                pb.SubmitOrdersBatchRequest(orders=[nos(2, pb.SIDE_SELL, PRICE + 5 * TICK, 1),
                                                    nos(3, pb.SIDE_SELL, PRICE, 1, security_id=99)]),
                metadata=bearer_metadata("demo2", "demo2-secret"), timeout=WAIT_S)
        assert bid.accepted.cl_ord_id == 1 and bid2.accepted.cl_ord_id == 2 and ask2.accepted.cl_ord_id == 1
        assert rejected.rejected.ord_rej_reason == pb.ORD_REJ_REASON_UNKNOWN_SYMBOL
        assert [r.WhichOneof("result") for r in batch.results] == ["accepted", "rejected"]
        grpc_a, grpc_b = bid.accepted.exec_id >> 40, ask2.accepted.exec_id >> 40
        await wait_for(lambda: b.inbound.queue.qsize() >= 2, "the UDP session's reports")
        udp_b = executions(drain(b))
        await wait_for(lambda: copy.inbound.queue.qsize() >= 11, "the copies")
        copies = drain(copy)
        assert all(isinstance(r, CopiedReport) and r.report.exec_id >> 40 == r.session_number for r in copies)
        by_session = {}
        for r in copies:
            by_session.setdefault((r.session_number, r.account), []).append(
                (type(r.report).__name__, r.report.cl_ord_id))
        new, trade, reject = "ExecutionReportNew", "ExecutionReportTrade", "ExecutionReportReject"
        assert by_session == {
            (grpc_a, 1): [(new, 1), (trade, 1), (new, 2), (trade, 2), (reject, 3)],
            (grpc_b, 2): [(new, 1), (trade, 1), (reject, 3), (new, 2)],  # the session's order: the
            # router's reject is sequenced when the call is applied, before the engine answers
            (udp_b[0].exec_id >> 40, 2): [(new, ask), (trade, ask)],
        }
        # Each copy is the report the gRPC session got: the acceptance's ExecID, as the call returned it.
        assert [r.report.exec_id for r in copies if r.session_number == grpc_a][0] == bid.accepted.exec_id
    finally:
        await b.close()
        await copy.close()


async def test_drop_copy_key_places_nothing_through_grpc(dc_grpc_router):
    import grpc

    from fallback_grpc._generated import order_entry_pb2 as pb
    from fallback_grpc._generated import order_entry_pb2_grpc as pb_grpc
    from fallback_grpc.client import bearer_metadata

    order = pb.NewOrderSingle(cl_ord_id=1, security_id=1, order_qty=5, side=pb.SIDE_BUY,
                              ord_type=pb.ORD_TYPE_LIMIT, time_in_force=pb.TIME_IN_FORCE_DAY, price=PRICE)
    async with grpc.aio.insecure_channel(dc_grpc_router.grpc_target) as channel:
        stub = pb_grpc.OrderEntryStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.SubmitOrder(pb.SubmitOrderRequest(order=order),
                                   metadata=bearer_metadata("copy", "copy-secret"), timeout=WAIT_S)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        # The same request from a trading key is accepted: the refusal was the key's.
        result = await stub.SubmitOrder(pb.SubmitOrderRequest(order=order),
                                        metadata=bearer_metadata("demo", "demo-secret"), timeout=WAIT_S)
        assert result.result.accepted.cl_ord_id == 1


class CDropCopy:
    """examples/udr_drop_copy (the C library's drop-copy consumer) as a child process: it exits once
    it has printed `count` copies, one JSON line each, then a line of the library's counters."""

    def __init__(self, proc) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, c_client_bin, address, count: int) -> CDropCopy:
        proc = await asyncio.create_subprocess_exec(
            str(c_client_bin("udr_drop_copy")), address[0], str(address[1]), "copy", "copy-secret",
            str(count), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        consumer = cls(proc)
        line = await asyncio.wait_for(proc.stdout.readline(), WAIT_S)
        assert line == b"established\n", (line, await consumer.stop())
        return consumer

    async def finish(self) -> tuple[list[dict], dict]:
        out, err = await asyncio.wait_for(self.proc.communicate(), 2 * WAIT_S)
        assert self.proc.returncode == 0, (out, err)
        lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
        return lines[:-1], lines[-1]

    async def stop(self) -> bytes:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        return await self.proc.stderr.read()


def c_copy_key(copy: dict) -> tuple:
    """A copy printed by the C consumer as (session, account, the report's bytes)."""
    return copy["session_number"], copy["account"], encode_message(message_from_json(copy["report"]))


def reports_key(reports: list, account: int) -> list[tuple]:
    return [(r.exec_id >> 40, account, encode_message(r)) for r in reports]


async def test_c_drop_copy_consumer_gets_both_sides_of_a_trade_marked_with_session_and_account(
        dc_router, c_client_bin):
    consumer = await CDropCopy.start(c_client_bin, dc_router.udp, 8)
    a, b, c = [await connect(dc_router, key) for key in ("demo", "demo2", "demo3")]
    try:
        await trade(a, b)
        await trade(c, c, price=PRICE + TICK)  # account 3: not copied (it would take the count)
        await trade(a, b, qty=7, price=PRICE - TICK)
        copies, stats = await consumer.finish()
        await wait_for(lambda: a.inbound.queue.qsize() >= 4 and b.inbound.queue.qsize() >= 4, "the reports")
        expected = reports_key(executions(drain(a)), 1) + reports_key(executions(drain(b)), 2)
        assert len(expected) == 8
        assert Counter(c_copy_key(copy) for copy in copies) == Counter(expected)  # ExecIDs, times: every byte
        assert [copy["report"]["message"] for copy in copies].count("ExecutionReportTrade") == 4
        seqs = [copy["seq"] for copy in copies]
        assert seqs == list(range(seqs[0], seqs[0] + 8)) and stats["copies"] == 8
    finally:
        await consumer.stop()
        for client in (a, b, c):
            await client.close()


async def test_c_drop_copy_consumer_recovers_lost_copies_by_retransmit_request(dc_router, c_client_bin):
    proxy = await LossyProxy(dc_router.udp, FaultRates(), FaultRates(drop=0.3), seed=17).start()
    consumer = await CDropCopy.start(c_client_bin, proxy.address, 40)
    a, b = [await connect(dc_router, key) for key in ("demo", "demo2")]
    try:
        for i in range(10):
            await trade(a, b, qty=1 + i, price=PRICE + (i % 3) * TICK)
        copies, stats = await consumer.finish()
        await wait_for(lambda: a.inbound.queue.qsize() >= 20 and b.inbound.queue.qsize() >= 20, "the reports")
        expected = reports_key(executions(drain(a)), 1) + reports_key(executions(drain(b)), 2)
        assert Counter(c_copy_key(copy) for copy in copies) == Counter(expected)
        seqs = [copy["seq"] for copy in copies]
        assert seqs == list(range(seqs[0], seqs[0] + 40))  # each once, in the session's order
        assert stats["retransmit_requests"] >= 1 and proxy.counters()["down"]["dropped"] >= 1
    finally:
        await consumer.stop()
        for client in (a, b):
            await client.close()
        proxy.close()


async def test_c_drop_copy_consumer_gets_every_copy_once_across_router_sigkill(dc_router, c_client_bin):
    consumer = await CDropCopy.start(c_client_bin, dc_router.udp, 16)
    a, b = [await connect(dc_router, key) for key in ("demo", "demo2")]
    try:
        await trade(a, b)
        await trade(a, b, qty=2)
        kill_and_restart(dc_router)
        await trade(a, b, qty=3)
        await trade(a, b, qty=4)
        copies, stats = await consumer.finish()
        await settle([a, b])
        expected = reports_key(executions(drain(a)), 1) + reports_key(executions(drain(b)), 2)
        assert len(expected) == 16
        assert Counter(c_copy_key(copy) for copy in copies) == Counter(expected)
        assert stats["reestablishments"] >= 1
    finally:
        await consumer.stop()
        for client in (a, b):
            await client.close()
