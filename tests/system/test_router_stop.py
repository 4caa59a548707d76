"""A stop signal in the middle of a burst, then a restart: no sequence number consumed silently.
And a stop whose engine does not take the orders in time keeps them in the ring for the next start.

150 datagrams of 20 orders leave without waiting for answers; SIGTERM or SIGINT reaches the router
after the 76th (SIGHUP reloads the config: tests/system/test_ops_reload.py). The router stops
reading, drains what it accepted and exits 0; every number it accepted has its outcome sent or
logged for retransmission, and the datagrams it never read stay unanswered in the client, which
re-establishes with the restarted router and resends them. Every order ends with exactly one
acknowledgement (under its own ClOrdID, or under the new one it was resent with after a
NotApplied), every report arrives once and in server order, and neither life of the router logs a
traceback.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path

import pytest
from conftest import STOP_TIMEOUT_S, RouterProcess, kill_engine_of

from tests.system.report_checks import assert_exactly_once, drain, metric
from udprouter._generated.messages import ExecutionReportNew, NotApplied, Side
from udprouter.client import MAX_ORDERS_PER_DATAGRAM, Client

PRICE = 100_000_000_000
TICK = 10_000_000
DATAGRAMS = 150
SIGNAL_AFTER = 76
KEEPALIVE_MS = 200  # silence for 0.6 s tells the client the router is gone
ACK_TIMEOUT_S = 60.0
# As the defaults are (gRPC on, the segment named after the journal), on ephemeral ports.
DEFAULT_STYLE = "[grpc]\nenabled = true\nport = 0\n[engine]\nshm_name = \"\"\n"


def burst_orders() -> list[dict]:
    """Resting buys below the reference, spread over the three instruments: each one is acked."""
    return [dict(security_id=1 + i % 3, side=Side.Buy, price=PRICE - (1 + i % 5) * TICK, qty=1 + i % 7)
            for i in range(DATAGRAMS * MAX_ORDERS_PER_DATAGRAM)]


def final_id(client: Client, cl_ord_id: int) -> int:
    while cl_ord_id in client.out.renamed:  # resent under a new ClOrdID after a NotApplied
        cl_ord_id = client.out.renamed[cl_ord_id]
    return cl_ord_id


async def settle(client: Client, quiet_s: float = 0.4, limit_s: float = 15.0) -> None:
    """Until no report arrived for quiet_s and the client is neither re-establishing nor missing any."""
    deadline = time.monotonic() + limit_s
    seen = -1
    while time.monotonic() < deadline:
        now = client.inbound.queue.qsize()
        if now == seen and not client.reestablishing and client.inbound.highest <= client.inbound.expected:
            return
        seen = now
        await asyncio.sleep(quiet_s)


@pytest.mark.parametrize(("sig", "fast_path", "waits"), [
    pytest.param(signal.SIGTERM, True, "", id="SIGTERM"), pytest.param(signal.SIGINT, True, "", id="SIGINT"),
    pytest.param(signal.SIGTERM, False, "", id="SIGTERM-asyncio-endpoint"),
    # The default waits: 76 datagrams are below the router's low_rate share of a 10 ms window, so
    # the router spins between passes for 2 ms after them, and the signal may come while it does.
    pytest.param(signal.SIGTERM, True, 'wait = "adaptive"\n[engine]\nwait = "adaptive"\n',
                 id="SIGTERM-adaptive-waits")])
async def test_signal_mid_burst_then_restart_answers_every_order_once(tmp_path, sig, fast_path, waits):
    udp = f"[udp]\nfast_path = {str(fast_path).lower()}\n{waits}"
    router = RouterProcess(tmp_path, DEFAULT_STYLE + udp).start()
    client = None
    try:
        client = await Client.connect(*router.udp, "demo", "demo-secret", keepalive_ms=KEEPALIVE_MS)
        client.window = DATAGRAMS  # a burst: nothing waits for answers
        orders = burst_orders()
        split = SIGNAL_AFTER * MAX_ORDERS_PER_DATAGRAM
        ids = await client.send_orders(orders[:split])
        router.proc.send_signal(sig)
        ids += await client.send_orders(orders[split:])
        assert router.proc.wait(STOP_TIMEOUT_S) == 0, "a stop signal drains and exits 0"
        first_life = router.log_text()
        router.restart()

        answers = asyncio.gather(*(client.first_ack(cl) for cl in ids))
        acks = await asyncio.wait_for(answers, ACK_TIMEOUT_S)
        assert all(isinstance(a, ExecutionReportNew) for a in acks), {type(a).__name__ for a in acks}
        await settle(client)
        reports = drain(client)
        finals = {final_id(client, cl) for cl in ids}
        assert len(finals) == len(ids)
        assert_exactly_once([r for r in reports if not isinstance(r, NotApplied)], finals)
        after = await client.send_orders(burst_orders()[:1])  # the session goes on with the new router
        ack = await asyncio.wait_for(client.first_ack(after[0]), ACK_TIMEOUT_S)
        assert isinstance(ack, ExecutionReportNew)
        for text in (first_life, router.log_text()):
            assert "Traceback" not in text, text[-3000:]
    finally:
        if client is not None:
            await client.close()
        router.stop()


async def test_stop_with_a_frozen_engine_exits_1_and_the_next_start_answers_from_the_kept_ring(tmp_path):
    router = RouterProcess(tmp_path).start()
    segment = Path("/dev/shm") / re.search(r'shm_name = "([^"]+)"', router.config.read_text()).group(1)
    client, engine = None, router.engine_pid
    try:
        client = await Client.connect(*router.udp, "demo", "demo-secret", keepalive_ms=KEEPALIVE_MS)
        orders = burst_orders()
        first = await client.send_orders(orders[:40])
        await asyncio.wait_for(asyncio.gather(*(client.first_ack(cl) for cl in first)), ACK_TIMEOUT_S)
        os.kill(engine, signal.SIGSTOP)
        stuck = await client.send_orders(orders[40:80])
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while metric(router, "udprouter_commands_published_total") < 80:
            assert time.monotonic() < deadline, "the router offered the orders to the ring"
            await asyncio.sleep(0.02)
        router.proc.send_signal(signal.SIGTERM)
        assert router.proc.wait(ACK_TIMEOUT_S) == 1, "a drain that did not finish is not a clean exit"
        assert re.search(r"event=shutdown_drain_incomplete left=\d+ .*kept_segment=", router.log_text())
        assert segment.exists()

        router.restart()
        acks = await asyncio.wait_for(asyncio.gather(*(client.first_ack(cl) for cl in stuck)), ACK_TIMEOUT_S)
        assert all(isinstance(a, ExecutionReportNew) for a in acks)
        await settle(client)
        assert_exactly_once(drain(client), set(first + stuck))
    finally:
        if client is not None:
            await client.close()
        status = router.stop()
        kill_engine_of(engine, router.journal)
    assert status == 0
    assert not segment.exists()
