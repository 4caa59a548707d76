"""Router SIGKILLed mid-stream (twice, at seeded points) and started again on the same port, journal
and shared-memory segment: its engine dies with it (PR_SET_PDEATHSIG), the new router reattaches
the segment, rebuilds every session from router.log, the new engine recovers from its journal, and
the clients re-establish by themselves and recover what they missed by RetransmitRequest. Every
order is acknowledged exactly once, every report delivered once and in sequence, the reports equal
an uninterrupted run's (ExecID and TransactTime aside) and so does the engine state digest.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from pathlib import Path

import pytest
from conftest import RouterProcess

from tests.system.report_checks import assert_exactly_once, comparable, drain
from udprouter._generated.messages import ExecutionReportReject, Side
from udprouter.client import Client

PRICE = 100_000_000_000
TICK = 10_000_000
ROUNDS = 16
ORDERS = 8
SEED = 7
ACK_TIMEOUT_S = 40.0
ENGINE_EXIT_S = 10.0
KEEPALIVE_MS = 200  # silence for 3 intervals (0.6 s) tells a client the server is gone
CLIENTS = (("demo", "demo-secret"), ("demo2", "demo2-secret"), ("demo", "demo-secret"))


def kill_plan(seed: int) -> list[tuple[int, int, float]]:
    """Two (round, client index, delay s) points: the router dies while that client's orders fly."""
    rng = random.Random(seed)
    rounds = sorted(rng.sample(range(1, ROUNDS - 1), 2))
    return [(r, rng.randrange(len(CLIENTS)), rng.uniform(0.0, 0.004)) for r in rounds]


def client_orders(r: int, c: int) -> list[dict]:
    """Client c's orders in round r: alternately resting and crossing the other clients' orders."""
    side = Side.Buy if (r + c) % 2 == 0 else Side.Sell
    offset = (1 if side == Side.Buy else -1) * (c % 2)
    return [dict(security_id=1 + (i + c) % 3, side=side, price=PRICE - offset * (i % 3) * TICK, qty=5 + i + c,
                 cl_ord_id=10_000 + r * 100 + i) for i in range(ORDERS)]


async def run_flow(router, kills: list[tuple[int, int, float]]) -> list[list]:
    clients = [await Client.connect(*router.udp, key, secret, keepalive_ms=KEEPALIVE_MS)
               for key, secret in CLIENTS]
    try:
        for r in range(ROUNDS):
            for c, client in enumerate(clients):
                ids = await client.send_orders(client_orders(r, c))
                for kill_round, kill_client, delay in kills:
                    if (r, c) == (kill_round, kill_client):
                        await asyncio.sleep(delay)
                        kill_and_restart(router)
                await asyncio.wait_for(asyncio.gather(*(client.first_ack(cl) for cl in ids)), ACK_TIMEOUT_S)
        await settle(clients)
        assert [c.reestablishments for c in clients] == [len(kills)] * len(clients)
        return [drain(client) for client in clients]
    finally:
        for client in clients:
            await client.close()


def kill(router) -> None:
    """SIGKILL the router; returns once its engine and any other process it started died with it."""
    engine_pid = router.engine_pid
    helpers = set(children(router.proc.pid)) - {engine_pid}  # any other process the router started
    router.proc.kill()
    router.proc.wait()
    deadline = time.monotonic() + ENGINE_EXIT_S
    while engine_alive(engine_pid):
        assert time.monotonic() < deadline, "the engine outlived its router (PR_SET_PDEATHSIG)"
        time.sleep(0.01)
    while any(engine_alive(pid) for pid in helpers):
        assert time.monotonic() < deadline, "a helper process outlived its router"
        time.sleep(0.01)


def kill_and_restart(router) -> None:
    engine_pid, port = router.engine_pid, router.udp[1]
    kill(router)
    router.restart()  # same port, journal and config; the old output kept as router.log.<n>
    assert router.udp[1] == port and router.engine_pid != engine_pid


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def engine_alive(pid: int) -> bool:
    try:
        return ") Z" not in Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False


def engine_pids(router) -> list[int]:
    """The router's live udprouter-engine children (a child may exit while they are listed)."""
    def is_engine(pid: int) -> bool:
        try:
            return engine_alive(pid) and Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(
                b"udprouter-engine")
        except OSError:
            return False
    return [pid for pid in children(router.proc.pid) if is_engine(pid)]


async def settle(clients: list[Client], quiet_s: float = 0.4, limit_s: float = 15.0) -> None:
    """Until no report arrived for quiet_s and no client is re-establishing or missing reports."""
    deadline = time.monotonic() + limit_s
    seen = -1
    while time.monotonic() < deadline:
        now = sum(c.inbound.queue.qsize() for c in clients)
        busy = any(c.reestablishing or c.inbound.highest > c.inbound.expected for c in clients)
        if now == seen and not busy:
            return
        seen = now
        await asyncio.sleep(quiet_s)


def assert_exactly_once_and_unrejected(reports: list, expected_ids: set[int]) -> None:
    assert_exactly_once(reports, expected_ids)
    rejects = [r for r in reports if isinstance(r, ExecutionReportReject)]
    assert not rejects, "no order rejected (e.g. as a duplicate)"


# Snapshots every 50 commands (and at each SIGTERM the router's death sends the engine) land beyond
# the router's logged position: the new engine must recover from an older kept snapshot to re-emit
# the unlogged reports. The engine keeps that snapshot because the router publishes its logged
# position in the segment header; the small rings make the ring-capacity window (2 x the two
# capacities = 320 commands, the rule without a router log) shorter than the run's 384 orders, so
# old snapshots and segments are removed and the window alone would not be what keeps the base.
SNAPSHOTS = "[journal]\nsnapshot_every = 50\n[engine]\ninbound_capacity = 32\noutbound_capacity = 128\n"


# Router log segments of 4 KB and retransmission buffers of 128 frames (each client gets about 200
# reports): segments are closed, carried and dropped all through the run, and the crashes land
# between them.
SEGMENTS = "[journal]\nrouter_log_segment_bytes = 4096\n[session]\nretransmit_buffer = 128\n"


@pytest.fixture(params=[pytest.param(("os", ""), id="os"), pytest.param(("fsync", ""), id="fsync"),
                        pytest.param(("fsync", SNAPSHOTS), id="fsync-snapshots"),
                        pytest.param(("os", SEGMENTS), id="os-segments")])
def durable_router(request, tmp_path):
    """A router whose engine journal and router log use the parametrized durability (and extra config)."""
    durability, extra = request.param
    work = tmp_path / f"crashed-{request.node.callspec.id}"
    work.mkdir()
    router = RouterProcess(work, extra)
    text = router.config.read_text()
    assert 'durability = "os"' in text
    router.config.write_text(text.replace('durability = "os"', f'durability = "{durability}"'))
    yield router.start()
    router.stop()


async def test_router_killed_twice_mid_stream_resumes_every_session_exactly_once(
        durable_router, start_router, state_digest):
    plan = kill_plan(SEED)
    crashed = durable_router
    shm_name = re.search(r'shm_name = "([^"]+)"', crashed.config.read_text()).group(1)
    crashed_reports = await run_flow(crashed, plan)
    assert crashed.stop() == 0
    assert (crashed.journal / "router.log").stat().st_size > 0
    assert len(list(crashed.work.glob("router.log.*"))) == len(plan)
    assert not os.path.exists(f"/dev/shm/{shm_name}"), "the reattached segment is removed at the final stop"
    engine_log = (crashed.journal / "engine.log").read_text(errors="replace")
    assert "cannot be published again" not in engine_log, "every restart found its recovery snapshot"

    clean = start_router()
    clean_reports = await run_flow(clean, [])
    assert clean.stop() == 0

    for c in range(len(CLIENTS)):
        expected = {o["cl_ord_id"] for r in range(ROUNDS) for o in client_orders(r, c)}
        assert_exactly_once_and_unrejected(crashed_reports[c], expected)
        assert comparable(crashed_reports[c]) == comparable(clean_reports[c])
    assert state_digest(crashed.journal) == state_digest(clean.journal)


def test_kill_plan_is_seeded_and_lands_mid_stream():
    plan = kill_plan(SEED)
    assert plan == kill_plan(SEED) and plan != kill_plan(SEED + 1)
    assert all(0 < r < ROUNDS - 1 and 0 <= c < len(CLIENTS) for r, c, _ in plan)
