"""The journal directory on a small filesystem (a 4 MB tmpfs) that fills up under orders: every order
gets an answer (acked, or rejected with JournalUnavailable once space runs low), one log line and one
metric episode, service resumes by itself when space returns, and after a restart the server's
sequence numbers go on from where the client saw them (its new reports are not discarded)."""

from __future__ import annotations

import asyncio
import re
import time

from tests.system.conftest import fill
from tests.system.report_checks import drain, metric
from udprouter._generated.messages import (
    BusinessMessageReject,
    BusinessRejectReason,
    ExecutionReportNew,
    Side,
)
from udprouter.client import Client
from udprouter.durability.router_log import LOW_SPACE_BYTES

PRICE = 100_000_000_000
TICK = 10_000_000
BATCH = 20
MAX_ORDERS = 40_000  # far more than the space left above the low-water mark holds
ACK_TIMEOUT_S = 20.0
HEADROOM = 600 << 10  # free space left above the low-water mark before the orders start
UNAVAILABLE_LINE = "cannot take new orders"


def orders(first: int, n: int) -> list[dict]:
    """Resting orders that never cross (all buys, below the reference price)."""
    return [dict(security_id=1 + i % 3, side=Side.Buy, price=PRICE - (1 + i % 5) * TICK, qty=1,
                 cl_ord_id=first + i) for i in range(n)]


async def send_and_answer(client: Client, batch: list[dict]) -> list:
    ids = await client.send_orders(batch)
    return await asyncio.wait_for(asyncio.gather(*(client.first_ack(cl) for cl in ids)), ACK_TIMEOUT_S)


async def assert_resumes(router, client: Client, first_id: int) -> None:
    """Once space returned: the router takes orders again by itself, still in its one episode."""
    deadline = time.monotonic() + 10
    while metric(router, "udprouter_journal_unavailable") == 1:
        assert time.monotonic() < deadline, "the router did not resume once space returned"
        await asyncio.sleep(0.05)
    resumed = await send_and_answer(client, orders(first_id, BATCH))
    assert all(isinstance(a, ExecutionReportNew) for a in resumed)
    assert metric(router, "udprouter_journal_unavailable_episodes_total") == 1


def restart_on_same_port(router, kill: bool = False) -> None:
    port = router.udp[1]
    if kill:
        router.proc.kill()
        router.proc.wait()
    else:
        assert router.stop() == 0
    udp = r"(\[udp\]\nhost = \"127.0.0.1\"\n)port = \d+"
    text = re.sub(udp, rf"\g<1>port = {port}", router.config.read_text())
    router.config.write_text(text)
    router.log.rename(router.work / "router.log.1")  # start() looks for the new listening line
    router.start()


async def test_full_disk_rejects_new_orders_resumes_and_keeps_sequence_numbers(start_router, small_disk):
    journal = small_disk / "journal"
    router = start_router(journal=journal)
    filler = fill(small_disk, LOW_SPACE_BYTES + HEADROOM)
    client = await Client.connect(*router.udp, "demo", "demo-secret", keepalive_ms=1000)
    try:
        answers, next_id = [], 1_000
        while len(answers) < MAX_ORDERS:  # until the router refuses new orders
            batch = await send_and_answer(client, orders(next_id, BATCH))
            next_id += BATCH
            answers += batch
            if any(isinstance(a, BusinessMessageReject) for a in batch):
                break
        rejects = [a for a in answers if isinstance(a, BusinessMessageReject)]
        assert rejects, "the disk filled up without any order being refused"
        assert {r.business_reject_reason for r in rejects} == {BusinessRejectReason.JournalUnavailable}
        assert all(isinstance(a, (ExecutionReportNew, BusinessMessageReject)) for a in answers)
        # More orders while full: each gets the same reject (none unanswered, none applied).
        more = await send_and_answer(client, orders(next_id, BATCH))
        next_id += BATCH
        assert all(isinstance(a, BusinessMessageReject) and
                   a.business_reject_reason == BusinessRejectReason.JournalUnavailable for a in more)
        assert metric(router, "udprouter_journal_unavailable") == 1
        assert metric(router, "udprouter_journal_unavailable_episodes_total") == 1
        assert router.log_text().count(UNAVAILABLE_LINE) == 1, "one log line per episode"
        assert "Traceback" not in router.log_text()

        filler.unlink()  # space returns: the router takes orders again by itself
        await assert_resumes(router, client, next_id)
        next_id += BATCH

        seen_through = client.inbound.expected  # one past the last server number the client holds
        restart_on_same_port(router)
        after = await send_and_answer(client, orders(next_id, BATCH))  # the client re-establishes
        assert all(isinstance(a, ExecutionReportNew) for a in after), \
            "reports after the restart reach the client (their sequence numbers went on)"
        assert client.inbound.expected >= seen_through + BATCH
        assert "Traceback" not in router.log_text()
    finally:
        await client.close()


async def test_failed_writes_hold_their_answers_and_a_killed_router_resumes_where_the_client_is(
        start_router, small_disk):
    """The disk fills up completely: orders go on until a router log write itself fails (the last
    page's slack used up). Those answers wait; once space returns every order has exactly one
    answer. Then the router is SIGKILLed and restarted: what the client saw was in the log, so the
    next reports carry the next sequence numbers and reach the client."""
    router = start_router(journal=small_disk / "journal")
    client = await Client.connect(*router.udp, "demo", "demo-secret", keepalive_ms=1000)
    try:
        warm = await send_and_answer(client, orders(1_000, BATCH))
        assert all(isinstance(a, ExecutionReportNew) for a in warm)
        filler = fill(small_disk, 0)
        pending, next_id = [], 2_000
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while metric(router, "udprouter_journal_write_failures_total") == 0:
            assert time.monotonic() < deadline, "no write failed on a full disk"
            ids = await client.send_orders(orders(next_id, BATCH))
            next_id += BATCH
            pending.append(asyncio.gather(*(client.first_ack(cl) for cl in ids)))
            await asyncio.wait([pending[-1]], timeout=0.2)  # answered, or held by a failed write
        filler.unlink()
        batches = await asyncio.wait_for(asyncio.gather(*pending), ACK_TIMEOUT_S)
        for answer in (a for batch in batches for a in batch):
            assert isinstance(answer, ExecutionReportNew) or (
                isinstance(answer, BusinessMessageReject)
                and answer.business_reject_reason == BusinessRejectReason.JournalUnavailable)
        await assert_resumes(router, client, next_id)
        next_id += BATCH
        log_text = router.log_text()
        assert log_text.count(UNAVAILABLE_LINE) == 1 and "Traceback" not in log_text
        assert "journal append failed" not in log_text, "the engine never met the full disk"

        seen_through = client.inbound.expected
        restart_on_same_port(router, kill=True)
        after = await send_and_answer(client, orders(next_id, BATCH))
        assert all(isinstance(a, ExecutionReportNew) for a in after), \
            "reports after the restart reach the client (their sequence numbers went on)"
        assert client.inbound.expected >= seen_through + BATCH
        news = [r.cl_ord_id for r in drain(client) if isinstance(r, ExecutionReportNew)]
        assert len(news) == len(set(news)), "no order applied twice"
    finally:
        await client.close()
