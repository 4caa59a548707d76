"""Engine killed at 20 seeded journal points under load, half of them with a record half written.

The engine's test-only crash hook (engine/src/test_crash_hook.cpp, $UDR_TEST_CRASH_PLAN) makes each
point deterministic: `torn` dies after writing half of the planned command's journal record,
`after` dies once the batch is journaled but before its events are published. The router restarts
the engine each time; recovery cuts the torn tail and re-emits only unpublished events. Every order
must be acknowledged exactly once, every report delivered once and in server order, the reports
must equal an uninterrupted run's, and so must the engine state digest.
"""

from __future__ import annotations

import asyncio
import random
import time

from tests.system.report_checks import assert_exactly_once, comparable, drain, metric
from udprouter._generated.messages import Side
from udprouter.client import Client

PRICE = 100_000_000_000
TICK = 10_000_000
ROUNDS = 30
ORDERS_PER_SIDE = 6
CRASH_POINTS = 20
SEED = 20261124
ACK_TIMEOUT_S = 30.0
FAST_RESTART = "[engine]\nrestart_backoff_s = 0.02\nmax_restarts = 50\n"


def crash_plan(seed: int) -> list[tuple[int, str]]:
    """20 distinct command_seqs over the flow, ascending, alternating torn/after by the seed."""
    rng = random.Random(seed)
    total = ROUNDS * ORDERS_PER_SIDE * 2
    seqs = sorted(rng.sample(range(2, total + 1), CRASH_POINTS))
    return [(seq, "torn" if i % 2 == 0 else "after") for i, seq in enumerate(seqs)]


def round_orders(r: int) -> tuple[list[dict], list[dict]]:
    """Resting buys below 100.00 and sells that cross some of them (trades for both sessions)."""
    buys = [dict(security_id=1 + i % 3, side=Side.Buy, price=PRICE - (i % 4) * TICK, qty=10 + i,
                 cl_ord_id=1_000 + r * 100 + i) for i in range(ORDERS_PER_SIDE)]
    sells = [dict(security_id=1 + i % 3, side=Side.Sell, price=PRICE - (i % 3) * TICK, qty=7 + i,
                  cl_ord_id=1_000 + r * 100 + i) for i in range(ORDERS_PER_SIDE)]
    return buys, sells


async def run_flow(router) -> tuple[list, list]:
    a = await Client.connect(*router.udp, "demo", "demo-secret")
    b = await Client.connect(*router.udp, "demo2", "demo2-secret")
    try:
        for r in range(ROUNDS):
            buys, sells = round_orders(r)
            ids = [(a, cl) for cl in await a.send_orders(buys)]
            ids += [(b, cl) for cl in await b.send_orders(sells)]
            await asyncio.wait_for(asyncio.gather(*(c.first_ack(cl) for c, cl in ids)), ACK_TIMEOUT_S)
        await settle(a, b)
        return drain(a), drain(b)
    finally:
        await a.close()
        await b.close()


async def settle(*clients: Client, quiet_s: float = 0.3, limit_s: float = 10.0) -> None:
    """Waits until no report arrived for quiet_s (trade reports follow the acks), bounded."""
    deadline = time.monotonic() + limit_s
    seen = -1
    while time.monotonic() < deadline:
        now = sum(c.inbound.queue.qsize() for c in clients)
        if now == seen:
            return
        seen = now
        await asyncio.sleep(quiet_s)


async def test_engine_killed_at_20_journal_points_loses_and_duplicates_nothing(
        start_router, state_digest, tmp_path, monkeypatch):
    plan = crash_plan(SEED)
    plan_file = tmp_path / "crash-plan.txt"
    plan_file.write_text("".join(f"{seq} {mode}\n" for seq, mode in plan))
    monkeypatch.setenv("UDR_TEST_CRASH_PLAN", str(plan_file))
    crashed = start_router(FAST_RESTART)
    reports_a, reports_b = await run_flow(crashed)
    restarts = metric(crashed, "udprouter_engine_restarts_total")
    assert crashed.stop() == 0
    assert plan_file.read_text() == "", "every planned crash point was reached"
    assert restarts == CRASH_POINTS
    engine_log = (crashed.journal / "engine.log").read_text()
    torn = sum(1 for _, mode in plan if mode == "torn")
    assert engine_log.count("cutting the journal tail") >= torn, "each torn record was cut on recovery"

    monkeypatch.delenv("UDR_TEST_CRASH_PLAN")
    expected = {o["cl_ord_id"] for r in range(ROUNDS) for o in round_orders(r)[0]}
    assert_exactly_once(reports_a, expected)
    assert_exactly_once(reports_b, expected)

    clean = start_router()
    clean_a, clean_b = await run_flow(clean)
    assert clean.stop() == 0
    assert comparable(reports_a) == comparable(clean_a)
    assert comparable(reports_b) == comparable(clean_b)
    assert state_digest(crashed.journal) == state_digest(clean.journal)


def test_crash_plan_is_seeded_distinct_and_mixes_torn_and_after_points():
    plan = crash_plan(SEED)
    assert plan == crash_plan(SEED) and plan != crash_plan(SEED + 1)
    seqs = [seq for seq, _ in plan]
    assert len(set(seqs)) == CRASH_POINTS and seqs == sorted(seqs)
    assert {mode for _, mode in plan} == {"torn", "after"}
