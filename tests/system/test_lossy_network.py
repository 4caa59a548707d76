"""Exactly-once over a lossy network: 20,000 orders from 4 sessions through a proxy that drops 5%,
duplicates 2% and reorders 5% of the datagrams in each direction (and delays 1% by 20 ms, so some
arrive well after later ones), against the real router + engine.

What must hold (SPEC 4.7):
- every order is applied exactly once: each session's acknowledged ClOrdIDs equal its NEW commands in
  the engine journal, no command_seq and no (session, ClOrdID) twice, one per intended order;
- every report reaches its client exactly once and in order: the k-th message the client delivers
  is the server's message number k (ExecID = session_id << 40 | server seq no), none twice;
- the final books and positions equal those of the same flow without faults.

ClOrdID renumbering: the client resends NotApplied orders under new ClOrdIDs, and the lost or
overtaken datagrams change the arrival order, so the lossy run's journal is not the fault-free
run's. Two comparisons cope with that:
1. Order-independent outcome. The flow is built so that its result does not depend on arrival
   order or ClOrdIDs: per instrument, crossing orders all sit at 100.00 with buy and sell totals
   equal (all of them fill, whatever the order), resting orders sit strictly below (buys) or above
   (sells) 100.00 where nothing crosses them, and IOC buys at 99.00 find nothing to trade with. So
   each session's filled quantity per (instrument, side) and the aggregated book (leaves per
   instrument, side, price) follow from the intended orders alone, and the lossy run must show them.
2. Engine state. The fault-free run sends the *final* ClOrdIDs (what the clients were acknowledged)
   in the lossy run's OrderID order (OrderID = command_seq, so the clients know the engine's order)
   straight to a fresh router; the two journals must give the same --print-state-digest. This ties
   what the clients believe was applied to the engine's exact state (price-time order, ClOrdID marks).
"""

from __future__ import annotations

import asyncio
import random
import struct
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from lossy_proxy import FaultRates, LossyProxy

from udprouter._generated.messages import (
    ExecutionReportCancel,
    ExecutionReportNew,
    ExecutionReportTrade,
    NewOrderSingle,
    NotApplied,
    OrdType,
    Side,
    TimeInForce,
)
from udprouter.client import Client
from udprouter.durability.journal_format import COMMAND, RECORD_SIZE, SEGMENT_HEADER
from udprouter.ring_records import CMD_NEW_ORDER

SEED = 20260101
ORDERS = 20_000
SESSIONS = 4
KEYS = [("demo", "demo-secret"), ("demo2", "demo2-secret")]
PRICE = 100_000_000_000
TICK = 10_000_000
INSTRUMENTS = (1, 2, 3)
FAULTS = FaultRates(drop=0.05, duplicate=0.02, reorder=0.05, delay=0.01, delay_s=0.02)
RUN_TIMEOUT_S = 90.0
SEQ_MASK = (1 << 40) - 1
# Sessions 0 and 2 (and 1 and 3) share a key, so an account, and their crossing pairs must trade.
NO_SELF_MATCH_PREVENTION = "[engine]\nself_match_prevention = false\n"


def intended_flow(seed: int) -> list[list[dict]]:
    """Per session, its orders (dicts for Client.new_order) in sending order; see the module doc.

    Half of each session's orders cross at 100.00 (sessions 0 and 1 buy there, 2 and 3 sell, in
    pairs of equal size on the same instrument); the other half rest away from 100.00 or are IOC
    buys at 99.00. Each session's list is shuffled, so pairs meet in any order.
    """
    rng = random.Random(seed)
    flows: list[list[dict]] = [[] for _ in range(SESSIONS)]
    half = ORDERS // SESSIONS // 2
    for k in range(2 * half):
        sec, qty = rng.choice(INSTRUMENTS), rng.randint(1, 100)
        flows[k % 2].append(dict(security_id=sec, side=Side.Buy, price=PRICE, qty=qty))
        flows[2 + (k // 2) % 2].append(dict(security_id=sec, side=Side.Sell, price=PRICE, qty=qty))
    for flow in flows:
        for _ in range(half):
            sec, qty = rng.choice(INSTRUMENTS), rng.randint(1, 100)
            if rng.random() < 0.8:
                side = rng.choice((Side.Buy, Side.Sell))
                offset = rng.randint(1, 5) * TICK
                price = PRICE - offset if side == Side.Buy else PRICE + offset
                flow.append(dict(security_id=sec, side=side, price=price, qty=qty))
            else:
                flow.append(dict(security_id=sec, side=Side.Buy, price=PRICE - 100 * TICK, qty=qty,
                                 time_in_force=TimeInForce.ImmediateOrCancel))
        rng.shuffle(flow)
    return flows


def expected_outcome(flows: list[list[dict]]) -> tuple[list[Counter], Counter]:
    """(per session filled qty by (security, side), aggregated book leaves by (security, side, price))."""
    fills = [Counter() for _ in flows]
    book = Counter()
    for s, flow in enumerate(flows):
        for o in flow:
            if o["price"] == PRICE:
                fills[s][o["security_id"], o["side"]] += o["qty"]
            elif o.get("time_in_force", TimeInForce.Day) == TimeInForce.Day:
                book[o["security_id"], o["side"], o["price"]] += o["qty"]
    return fills, +book


class SessionView:
    """What one client was told: its acknowledged orders and the state its reports add up to."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.delivered: list = []
        self.news: dict[int, ExecutionReportNew] = {}
        self.new_counts: Counter = Counter()
        self.fills: Counter = Counter()
        self.leaves: dict[int, int] = {}  # order_id -> leaves of a live order

    def collect(self) -> None:
        queue = self.client.inbound.queue
        while not queue.empty():
            msg = queue.get_nowait()
            self.delivered.append(msg)
            cls = msg.__class__
            if cls is ExecutionReportNew:
                self.news[msg.cl_ord_id] = msg
                self.new_counts[msg.cl_ord_id] += 1
                self.leaves[msg.order_id] = msg.order_qty
            elif cls is ExecutionReportTrade:
                self.fills[msg.security_id, msg.side] += msg.last_qty
                self.leaves[msg.order_id] = msg.leaves_qty
            elif cls is ExecutionReportCancel:
                self.leaves[msg.order_id] = 0

    def book(self) -> Counter:
        book = Counter()
        by_order_id = {n.order_id: n for n in self.news.values()}
        for order_id, leaves in self.leaves.items():
            if leaves:
                new = by_order_id[order_id]
                book[new.security_id, new.side, new.price] += leaves
        return book


def final_cl_ord_id(client: Client, cl_ord_id: int) -> int:
    while cl_ord_id in client.out.renamed:
        cl_ord_id = client.out.renamed[cl_ord_id]
    return cl_ord_id


async def connect_sessions(address, **kw) -> list[Client]:
    clients = []
    for s in range(SESSIONS):
        key, secret = KEYS[s % 2]
        clients.append(await Client.connect(*address, key, secret, **kw))
    return clients


async def lossy_run(router, flows) -> tuple[list[SessionView], list[list[int]], dict]:
    proxy = await LossyProxy(router.udp, FAULTS, FAULTS, SEED).start()
    clients = []
    try:
        clients = await connect_sessions(proxy.address, keepalive_ms=200, resend_timeout=0.3, timeout=0.3,
                                         retries=20)
        sent = await asyncio.gather(*[c.send_orders(flow) for c, flow in zip(clients, flows, strict=True)])
        views = [SessionView(c) for c in clients]
        await settle(views, expected_outcome(flows))
        # After settling: NotApplied answers renamed orders until the end.
        finals = [[final_cl_ord_id(c, cl) for cl in ids] for c, ids in zip(clients, sent, strict=True)]
        stats = {"proxy": proxy.counters(),
                 "clients": [dict(resends=c.out.resends, not_applied=c.out.not_applied_count,
                                  retransmit_requests=c.inbound.retransmit_requests) for c in clients]}
        return views, finals, stats
    finally:
        for client in clients:
            await client.close(timeout=0.2)
        proxy.close()


async def settle(views: list[SessionView], expected) -> None:
    """Collects reports until every session shows the expected outcome (bounded), then a quiet spell
    in which nothing more may arrive."""
    fills, book = expected
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        for v in views:
            v.collect()
        if [v.fills for v in views] == fills and sum((v.book() for v in views), Counter()) == book:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # a duplicate or late report would show up now
    for v in views:
        v.collect()


def journal_new_orders(journal: Path) -> list[tuple[int, int, int]]:
    """(command_seq, session_id, cl_ord_id) of every NEW command in the journal's segments."""
    out = []
    for segment in sorted(journal.glob("journal-*.log")):
        data = segment.read_bytes()
        for pos in range(SEGMENT_HEADER.size, len(data) - RECORD_SIZE + 1, RECORD_SIZE):
            length, = struct.unpack_from("<I", data, pos)
            assert length == COMMAND.size
            cmd = COMMAND.unpack_from(data, pos + 8)
            if cmd[9] == CMD_NEW_ORDER:
                out.append((cmd[0], cmd[5], cmd[1]))
    return out


async def fault_free_replay(router, views: list[SessionView]) -> None:
    """The acknowledged orders, final ClOrdIDs, in OrderID order, straight to the router; a session's
    run of consecutive orders is sent as a batch and acknowledged before the next session's run."""
    acked = sorted((new.order_id, s, new) for s, v in enumerate(views) for new in v.news.values())
    clients = await connect_sessions(router.udp)
    try:
        run: list[NewOrderSingle] = []
        run_session = None
        for _, s, new in acked + [(0, None, None)]:
            if s != run_session and run:
                ids = await clients[run_session].send_orders(run)
                acks = await asyncio.wait_for(
                    asyncio.gather(*[clients[run_session].first_ack(cl) for cl in ids]), 10)
                assert all(isinstance(a, ExecutionReportNew) for a in acks)
                run = []
            run_session = s
            if new is not None:
                tif = TimeInForce.ImmediateOrCancel if new.price == PRICE - 100 * TICK else TimeInForce.Day
                run.append(NewOrderSingle(new.cl_ord_id, 0, new.price, new.order_qty, new.security_id,
                                          new.side, OrdType.Limit, tif))
    finally:
        for client in clients:
            await client.close()


def assert_stream_in_order_once(view: SessionView, session_id: int) -> None:
    """The delivered stream is the server's messages 1, 2, 3, ... with none missing or repeated."""
    for position, msg in enumerate(view.delivered, start=1):
        exec_id = getattr(msg, "exec_id", None)
        if exec_id is not None:
            assert (exec_id >> 40, exec_id & SEQ_MASK) == (session_id, position), msg
        else:
            assert isinstance(msg, NotApplied), msg


@pytest.mark.timeout(240)
async def test_every_order_applied_once_and_every_report_delivered_once_in_order_under_faults(
        start_router, state_digest):
    flows = intended_flow(SEED)
    lossy = start_router(NO_SELF_MATCH_PREVENTION)
    started = time.monotonic()
    views, finals, stats = await lossy_run(lossy, flows)
    elapsed = time.monotonic() - started
    assert lossy.stop() == 0
    print(f"lossy run: {ORDERS} orders in {elapsed:.1f} s, {stats}")
    assert all(c["dropped"] and c["duplicated"] and c["reordered"] and c["delayed"]
               for c in stats["proxy"].values())
    # Every recovery path really ran: NotApplied resends, timeout resends, RetransmitRequests.
    for counter in ("not_applied", "resends", "retransmit_requests"):
        assert sum(c[counter] for c in stats["clients"]) > 0, counter

    journal = journal_new_orders(lossy.journal)
    assert len({seq for seq, _, _ in journal}) == len(journal) == ORDERS
    by_session = defaultdict(list)
    for _, session_id, cl in journal:
        by_session[session_id].append(cl)
    fills, book = expected_outcome(flows)
    for s, view in enumerate(views):
        session_id = s + 1
        assert len(set(by_session[session_id])) == len(by_session[session_id])  # no command twice
        assert len(set(finals[s])) == len(flows[s])  # one final ClOrdID per intended order
        assert set(by_session[session_id]) == set(view.news) == set(finals[s])  # none missing
        assert set(view.new_counts.values()) == {1}
        assert_stream_in_order_once(view, session_id)
        assert view.fills == fills[s]
    assert sum((v.book() for v in views), Counter()) == book

    fault_free = start_router(NO_SELF_MATCH_PREVENTION)
    await fault_free_replay(fault_free, views)
    assert fault_free.stop() == 0
    assert state_digest(lossy.journal) == state_digest(fault_free.journal)


async def test_session_terminated_for_silence_is_established_again_and_loses_nothing(start_router):
    """A client process that stalls past 3 keepalive intervals finds its session terminated by the
    server (keepalive lapsed): it establishes the same session again, and the orders it sent in the
    meantime are resent and applied exactly once."""
    router = start_router()
    client = await Client.connect(*router.udp, "demo", "demo-secret", keepalive_ms=100)
    try:
        first = await client.send_order(1, Side.Buy, PRICE - TICK, 1)
        await asyncio.wait_for(client.first_ack(first), 5)
        time.sleep(1.0)  # the whole process stalls: ten keepalive intervals without a heartbeat
        ids = await client.send_orders([dict(security_id=1, side=Side.Buy, price=PRICE - TICK, qty=2)] * 5)
        acks = await asyncio.wait_for(asyncio.gather(*[client.first_ack(cl) for cl in ids]), 10)
        assert all(isinstance(a, ExecutionReportNew) for a in acks), acks
        assert client.server_terminations >= 1 and client.reestablishments >= 1
        assert client.terminated is None
    finally:
        await client.close()
    assert router.stop() == 0
    assert sorted(cl for _, _, cl in journal_new_orders(router.journal)) == sorted([first, *ids])
