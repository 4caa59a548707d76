"""Engine SIGKILLed mid-stream: the router restarts it, it recovers from its journal, every order is
applied exactly once, and the final book equals an uninterrupted run's (engine state digests)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter

from tests.system.report_checks import metric
from udprouter._generated.messages import ExecutionReportNew, Side
from udprouter.client import Client

PRICE = 100_000_000_000
TICK = 10_000_000
ROUNDS = 12
KILL_AT_ROUND = 5
ORDERS_PER_SIDE = 5
ACK_TIMEOUT_S = 20.0


def round_orders(r: int) -> tuple[list[dict], list[dict]]:
    """Deterministic flow: resting buys below 100.00 and sells that cross some of them."""
    buys = [dict(security_id=1 + i % 3, side=Side.Buy, price=PRICE - (i % 4) * TICK, qty=10 + i,
                 cl_ord_id=1_000 + r * 100 + i) for i in range(ORDERS_PER_SIDE)]
    sells = [dict(security_id=1 + i % 3, side=Side.Sell, price=PRICE - (i % 3) * TICK, qty=7 + i,
                  cl_ord_id=1_000 + r * 100 + i) for i in range(ORDERS_PER_SIDE)]
    return buys, sells


async def run_flow(router, kill_engine: bool) -> tuple[Counter, Counter]:
    a = await Client.connect(*router.udp, "demo", "demo-secret")
    b = await Client.connect(*router.udp, "demo2", "demo2-secret")
    try:
        for r in range(ROUNDS):
            buys, sells = round_orders(r)
            ids_a = await a.send_orders(buys)
            if kill_engine and r == KILL_AT_ROUND:
                os.kill(router.engine_pid, signal.SIGKILL)
            ids_b = await b.send_orders(sells)
            acks = [a.first_ack(cl) for cl in ids_a] + [b.first_ack(cl) for cl in ids_b]
            await asyncio.wait_for(asyncio.gather(*acks), ACK_TIMEOUT_S)
        await asyncio.sleep(0.3)  # let the last trade reports arrive
        return new_reports(a), new_reports(b)
    finally:
        await a.close()
        await b.close()


def new_reports(client: Client) -> Counter:
    counts = Counter()
    while not client.inbound.queue.empty():
        report = client.inbound.queue.get_nowait()
        if isinstance(report, ExecutionReportNew):
            counts[report.cl_ord_id] += 1
    return counts


async def test_engine_killed_mid_stream_recovers_and_applies_every_order_once(start_router, state_digest):
    interrupted = start_router("[engine]\nrestart_backoff_s = 0.05\n")
    news_a, news_b = await run_flow(interrupted, kill_engine=True)
    deadline = time.monotonic() + 5
    while metric(interrupted, "udprouter_engine_restarts_total") < 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert metric(interrupted, "udprouter_engine_restarts_total") == 1
    assert interrupted.stop() == 0
    expected = {o["cl_ord_id"] for r in range(ROUNDS) for o in round_orders(r)[0]}
    assert set(news_a) == expected and set(news_a.values()) == {1}
    assert set(news_b) == expected and set(news_b.values()) == {1}

    uninterrupted = start_router()
    await run_flow(uninterrupted, kill_engine=False)
    assert uninterrupted.stop() == 0
    assert state_digest(interrupted.journal) == state_digest(uninterrupted.journal)
