"""A crash on the default config (no engine.shm_name): the restarted router finds its ring again.

The engine is frozen (SIGSTOP) so that a round of orders is left in the inbound ring, unjournaled,
when the router is SIGKILLed; the frozen engine cannot act on the SIGTERM its parent's death sends,
so it also outlives its router. The new router on the same journal waits for that engine, stops it,
reattaches the segment named after the journal directory and its engine takes the orders from the
ring: every order is answered exactly once, and after the final stop no segment is left in /dev/shm
(neither the journal's nor one named after the dead router's pid).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import time
from pathlib import Path

from conftest import RouterProcess, kill_engine_of

from tests.system.report_checks import assert_exactly_once, drain, metric
from udprouter._generated.messages import ExecutionReportNew, Side
from udprouter.client import Client

PRICE = 100_000_000_000
TICK = 10_000_000
ORDERS = 40
KEEPALIVE_MS = 200
ACK_TIMEOUT_S = 60.0
WAIT_S = 30.0
DEFAULT_SEGMENT = '[engine]\nshm_name = ""\n'


def segment_of(journal: Path) -> Path:
    """README: the default segment is udprouter-<16 hex digits of SHA-256 of the journal's real path>."""
    return Path("/dev/shm") / f"udprouter-{hashlib.sha256(str(journal.resolve()).encode()).hexdigest()[:16]}"


def round_orders(r: int) -> list[dict]:
    return [dict(security_id=1 + i % 3, side=Side.Buy, price=PRICE - (1 + i % 4) * TICK, qty=1 + r,
                 cl_ord_id=100_000 + r * 1000 + i) for i in range(ORDERS)]


def alive(pid: int) -> bool:
    try:
        return ") Z" not in Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


async def acked(client: Client, ids: list[int]) -> None:
    answers = await asyncio.wait_for(asyncio.gather(*(client.first_ack(cl) for cl in ids)), ACK_TIMEOUT_S)
    assert all(isinstance(a, ExecutionReportNew) for a in answers), {type(a).__name__ for a in answers}


async def test_killed_router_on_the_default_segment_reattaches_and_answers_the_ring_once(tmp_path):
    router = RouterProcess(tmp_path, DEFAULT_SEGMENT).start()
    client, old_router, old_engine = None, 0, 0
    try:
        client = await Client.connect(*router.udp, "demo", "demo-secret", keepalive_ms=KEEPALIVE_MS)
        ids = await client.send_orders(round_orders(0))
        await acked(client, ids)

        old_router, old_engine = router.proc.pid, router.engine_pid
        os.kill(old_engine, signal.SIGSTOP)
        in_ring = await client.send_orders(round_orders(1))
        wait_for(lambda: metric(router, "udprouter_commands_published_total") == 2 * ORDERS,
                 "the router offered the second round to the ring")
        router.proc.kill()
        router.proc.wait()
        assert alive(old_engine), "the frozen engine outlives its router"

        router.restart()
        assert not alive(old_engine), "the new router stopped the old engine before starting its own"
        await acked(client, in_ring)
        later = await client.send_orders(round_orders(2))
        await acked(client, later)
        await asyncio.sleep(0.5)  # a duplicate report would arrive right behind the first
        reports = drain(client)
        assert_exactly_once(reports, set(ids + in_ring + later))
        assert client.reestablishments == 1
    finally:
        if client is not None:
            await client.close()
        status = router.stop()
        kill_engine_of(old_engine, router.journal)  # if the test failed with the engine still frozen
    assert status == 0
    assert not segment_of(router.journal).exists(), "a clean stop removes the segment"
    assert not Path(f"/dev/shm/udprouter-{old_router}").exists(), "no segment named after a dead router"
