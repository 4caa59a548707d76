"""A journal's lifetime has no session cap: with the engine serving 8 session ids, 30 sessions come
and go (each with a new SessionId, as udprouter.client and the load generator make them) and every
one of their orders is accepted, while a long-lived session sees every report exactly once. Midway
the engine is SIGKILLed (the router restarts it) and later the router itself is SIGKILLed and
restarted, with ids being released, reset and reused around both. A reused id continues its
previous occupant's server numbers: no ExecID is ever given twice, and a RetransmitRequest below a
new session's first number is refused (RetransmitReject), never answered with the previous
occupant's reports (SPEC 4.2, 4.4)."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest
from report_checks import assert_exactly_once, drain, metric

from tests.system.test_router_crash import engine_pids, kill_and_restart, settle
from udprouter._generated.messages import (
    ExecutionReportNew,
    Retransmission,
    RetransmitReject,
    RetransmitRequest,
    Side,
)
from udprouter.client import Client
from udprouter.codec import encode_message
from udprouter.errors import SessionError

PRICE = 100_000_000_000
TICK = 10_000_000
ENGINE_IDS = 8
SESSIONS = 30
PER_WAVE = 3
ORDERS = 4
KEEPALIVE_MS = 200
DEADLINE_S = 60.0
CONFIG = (f"[engine]\nmax_sessions = {ENGINE_IDS}\n"
          "[session]\nended_retention_s = 2.0\nmax_sessions_per_key = 8\n")


async def connect_when_an_id_is_free(router, key: str) -> Client:
    """Connects, waiting (bounded) while every engine id is live or awaiting its reset."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            return await Client.connect(*router.udp, key, f"{key}-secret", keepalive_ms=KEEPALIVE_MS)
        except SessionError as exc:
            assert "SessionLimit" in str(exc) and time.monotonic() < deadline, exc
            await asyncio.sleep(0.2)


async def kill_engine(router) -> None:
    (pid,) = engine_pids(router)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + DEADLINE_S
    while engine_pids(router) in ([], [pid]):
        assert time.monotonic() < deadline, "the router did not restart its engine"
        await asyncio.sleep(0.05)


async def nothing_below_first(client: Client) -> None:
    """A new session on a reused id starts above 1; asking for the numbers below gets a reject."""
    first = client.inbound.expected
    if first <= 1:
        return
    count = min(first - 1, 50)
    request = encode_message(RetransmitRequest(client.session_id, time.time_ns(), first - count, count))
    answer = await client._request(request, (RetransmitReject, Retransmission), 1.0, 5)
    assert isinstance(answer, RetransmitReject), answer


async def one_session(router, index: int) -> tuple[list, set[int], int]:
    key = "demo" if index % 2 else "demo2"
    client = await connect_when_an_id_is_free(router, key)
    try:
        first = client.inbound.expected
        await nothing_below_first(client)
        # Resting orders: the reset of this id after the session ends cancels them.
        orders = [dict(security_id=1 + i % 3, side=Side.Buy, price=PRICE - (20 + i) * TICK, qty=1 + i)
                  for i in range(ORDERS)]
        ids = await client.send_orders(orders)
        acks = await asyncio.wait_for(asyncio.gather(*(client.first_ack(cl) for cl in ids)), DEADLINE_S)
        assert all(isinstance(a, ExecutionReportNew) for a in acks), (index, acks)
        await settle([client], quiet_s=0.1, limit_s=5.0)
        reports = drain(client)
    finally:
        await client.close()
    assert_exactly_once(reports, set(ids))
    assert all(r.exec_id & ((1 << 40) - 1) >= first for r in reports), "numbers below the first"
    return reports, set(ids), first


@pytest.mark.timeout(420)
async def test_more_sessions_than_engine_ids_with_engine_and_router_killed(start_router):
    router = start_router(CONFIG)
    anchor = await Client.connect(*router.udp, "demo", "demo-secret", keepalive_ms=KEEPALIVE_MS)
    anchor_ids: set[int] = set()
    anchor_reports: list = []
    exec_ids: list[int] = []
    firsts: list[int] = []
    try:
        done = 0
        wave = 0
        while done < SESSIONS:
            if wave == 3:
                await kill_engine(router)
            if wave == 6:
                kill_and_restart(router)
            count = min(PER_WAVE, SESSIONS - done)
            results = await asyncio.gather(*(one_session(router, done + k) for k in range(count)))
            for reports, _, first in results:
                exec_ids += [r.exec_id for r in reports]
                firsts.append(first)
            # The long-lived session goes on through all of it.
            cl = await anchor.send_order(1, Side.Sell, PRICE + (30 + wave) * TICK, 1)
            ack = await asyncio.wait_for(anchor.first_ack(cl), DEADLINE_S)
            assert isinstance(ack, ExecutionReportNew), ack
            anchor_ids.add(cl)
            done += count
            wave += 1
        await settle([anchor])
        anchor_reports = drain(anchor)
    finally:
        await anchor.close()
    assert anchor.reestablishments >= 1  # it lived through the router's restart
    assert_exactly_once(anchor_reports, anchor_ids)
    exec_ids += [r.exec_id for r in anchor_reports]
    assert len(exec_ids) == len(set(exec_ids)), "an ExecID given twice"
    assert sum(first > 1 for first in firsts) >= SESSIONS - ENGINE_IDS, firsts  # ids were reused
    assert metric(router, "udprouter_session_ids_reused_total") >= 1  # also after the restart
    store = (router.journal / "sessions.log").read_text().split()
    assert "free" in store or "pending" in store
    assert router.stop() == 0
