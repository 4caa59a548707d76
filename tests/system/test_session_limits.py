"""Bounded sessions through the wire and the config: live sessions limited in total and per key
(NegotiationReject SessionLimit), ended sessions released after ended_retention_s (memory, the
SessionId and its sessions.log line), and engine session ids all live refused the same way
instead of every order being rejected Other (SPEC 4.2)."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from report_checks import metric

from tests.hostile_scenarios import session_churn
from udprouter._generated.messages import (
    ExecutionReportNew,
    ExecutionReportReject,
    ExecutionReportTrade,
    OrdRejReason,
    Side,
)
from udprouter.client import Client
from udprouter.errors import SessionError

DEADLINE_S = 20.0
PRICE = 100_000_000_000
TICK = 10_000_000


async def refused(router, key: str) -> str:
    with pytest.raises(SessionError) as info:
        client = await Client.connect(*router.udp, key, f"{key}-secret")
        await client.close()
    return str(info.value)


@pytest.mark.timeout(120)
async def test_live_sessions_are_limited_in_total_and_per_key(start_router):
    router = start_router("[session]\nmax_sessions = 3\nmax_sessions_per_key = 2\n")
    a = await Client.connect(*router.udp, "demo", "demo-secret")
    b = await Client.connect(*router.udp, "demo", "demo-secret")
    clients = [a, b]
    try:
        assert "SessionLimit" in await refused(router, "demo")  # per key
        clients.append(await Client.connect(*router.udp, "demo2", "demo2-secret"))
        assert "SessionLimit" in await refused(router, "demo2")  # in total
        await a.close()  # Terminate frees its place at once
        clients.append(await Client.connect(*router.udp, "demo", "demo-secret"))
        assert metric(router, "udprouter_sessions_refused_total") == 2
    finally:
        for client in clients:
            await client.close()


@pytest.mark.timeout(300)
async def test_ended_sessions_are_released_and_the_store_stays_bounded(start_router):
    router = start_router("[session]\nended_retention_s = 0.0\n")
    await session_churn(router.udp, random.Random(7), 300)
    deadline = time.monotonic() + DEADLINE_S
    while metric(router, "udprouter_sessions_kept") > 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert metric(router, "udprouter_sessions_kept") <= 2
    assert metric(router, "udprouter_sessions_released_total") >= 298
    # One line per session id at most after a rewrite (remembered, pending reset or free for reuse),
    # rewritten once the lines about forgotten sessions outnumber twice those: bounded by the ids
    # (the engine's max_sessions caps them; test_session_reuse shows ids coming back).
    lines = (router.journal / "sessions.log").read_text().splitlines()
    assert len(lines) <= 3 * 300 + 64, len(lines)
    assert router.stop() == 0


@pytest.mark.timeout(120)
async def test_engine_session_ids_all_live_are_refused_not_silently_rejected(start_router):
    router = start_router("[engine]\nmax_sessions = 4\n[session]\nmax_sessions_per_key = 4\n")
    clients = [await Client.connect(*router.udp, "demo", "demo-secret") for _ in range(4)]
    try:
        assert "engine session ids" in await refused(router, "demo2")
        assert metric(router, "udprouter_sessions_refused_total") >= 1
    finally:
        for client in clients:
            await client.close()


async def test_a_session_at_its_open_order_limit_is_refused_while_another_still_trades(start_router):
    # session.max_open_orders not set: a tenth of engine.max_orders, 2 here (config.OPEN_ORDERS_SHARE)
    router = start_router("[engine]\nmax_orders = 20\n")
    a = await Client.connect(*router.udp, "demo", "demo-secret")
    b = await Client.connect(*router.udp, "demo2", "demo2-secret")
    try:
        acks = [await a.first_ack(await a.send_order(1, Side.Buy, PRICE - k * TICK, 5)) for k in (1, 2, 3)]
        assert [type(ack) for ack in acks] == [ExecutionReportNew, ExecutionReportNew, ExecutionReportReject]
        assert acks[2].ord_rej_reason == OrdRejReason.OrderExceedsLimit
        resting = await b.send_order(1, Side.Sell, PRICE + TICK, 5)
        assert isinstance(await b.first_ack(resting), ExecutionReportNew)
        sell = await b.send_order(1, Side.Sell, PRICE - TICK, 2)  # crosses a's best bid
        assert isinstance(await b.first_ack(sell), ExecutionReportNew)
        deadline = time.monotonic() + DEADLINE_S
        while not isinstance(report := await b.next_report(DEADLINE_S), ExecutionReportTrade):
            assert time.monotonic() < deadline, "b's crossing order never traded"
        assert (report.cl_ord_id, report.last_qty) == (sell, 2)
    finally:
        await a.close()
        await b.close()
