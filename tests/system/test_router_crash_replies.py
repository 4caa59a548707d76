"""Router SIGKILLed after a pass's write-ahead record and offer but before its commit, with a reply
the router made itself in that pass (a risk reject; NotApplied and throttle rejects take the same
way): once restarted, every message the server accepted has its answer, sent or retransmitted, and
none is consumed silently.

The window is made wide and certain by strace: one of the router log's writes after attaching (the
pass's write-ahead record, or its commit) is held for seconds, before it runs or after it, and the
router is killed while it waits. The engine has the pass's commands by then (they were offered after
the write-ahead record, as the router's metrics show during the hold), so the restarted router
takes that record as confirmed. The client's keepalive is long enough that no heartbeat of its own
(a router log write) comes between the attach and the datagram.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import PRICE, TICK, RouterProcess

from tests.system.report_checks import drain, metric
from tests.system.test_router_crash import kill
from udprouter._generated.messages import ExecutionReportNew, ExecutionReportReject, OrdRejReason, Side
from udprouter.client import Client

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")

ANSWER_TIMEOUT_S = 20.0
HOLD_WRITE_US = 60_000_000  # the held write never happens: the router is killed first
HOLD_EACH_US = 1_000_000  # every write held this long: datagrams queue meanwhile, a kill lands inside
HELD_FOR_S = 0.2  # stopped in the tracer this long: the held write, not a traced one passing
ATTACH_TIMEOUT_S = 10.0
KEEPALIVE_MS = 10_000  # the client heartbeats after 5 s of silence: never while strace attaches
# The pass waits up to 10 ms for the engine's events, so its commit (the second write) holds the
# reports and the reject. With the default 50 us, a busy machine's engine answers after the wait:
# the pass then sends the reject (already in its write-ahead record) with no write of its own,
# and the second write is the next pass's commit.
ANSWER_IN_PASS = "[udp]\nanswer_wait_us = 10000\n"


def hold_log_write(pid: int, path, nth: int | str, moment: str,
                   hold_us: int = HOLD_WRITE_US) -> subprocess.Popen:
    """strace on pid's main thread: its nth write() to path is held hold_us before it runs
    (moment "enter") or after it ran, before the router goes on (moment "exit")."""
    tracer = subprocess.Popen(
        ["strace", "-p", str(pid), "-P", str(path), "-e", "trace=write",
         "-e", f"inject=write:delay_{moment}={hold_us}:when={nth}", "-o", "/dev/null"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + ATTACH_TIMEOUT_S
    while time.monotonic() < deadline:  # attached: the main thread's TracerPid is strace's
        if f"TracerPid:\t{tracer.pid}" in Path(f"/proc/{pid}/status").read_text():
            return tracer
        if tracer.poll() is not None:
            why = tracer.stderr.read()
            tracer.stderr.close()
            if "Operation not permitted" in why:
                pytest.skip(f"ptrace is not permitted here: {why.strip()}")
            raise AssertionError(f"strace could not attach: {why}")
        time.sleep(0.01)
    stop_tracer(tracer)
    raise AssertionError("strace did not attach in time")


def hold_every_log_write(pid: int, path) -> subprocess.Popen:
    """hold_log_write for each write() to path from the first on, HOLD_EACH_US before it runs."""
    return hold_log_write(pid, path, "1+", "enter", HOLD_EACH_US)


def stop_tracer(tracer: subprocess.Popen) -> None:
    if tracer.poll() is None:
        tracer.kill()
    tracer.wait(10)
    tracer.stderr.close()


async def held_in_tracer(pid: int) -> None:
    """Until pid's main thread has stayed stopped by its tracer (state t) for HELD_FOR_S."""
    deadline = time.monotonic() + ATTACH_TIMEOUT_S
    since = None
    while True:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        now = time.monotonic()
        since = (since or now) if state == "t" else None
        if since is not None and now - since >= HELD_FOR_S:
            return
        assert now < deadline, "the router's commit was never held"
        await asyncio.sleep(0.02)


async def until(predicate, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


# The pass's first router log write is its write-ahead record, the second its commit. Killed before
# the write-ahead record is written, or after it but before the offer: the engine has nothing, the
# record (if any) is rolled back with the reject frame in it, and the client resends it all. Killed
# before the commit is written, or after it but before the send: the engine has the commands, the
# write-ahead record is confirmed, and the reject and the reports come by retransmission.
@pytest.mark.parametrize(("held_write", "moment", "published"), [
    pytest.param(1, "enter", 1, id="before-write-ahead"),
    pytest.param(1, "exit", 1, id="after-write-ahead"),
    pytest.param(2, "enter", 3, id="before-commit"),
    pytest.param(2, "exit", 3, id="after-commit")])
async def test_router_killed_inside_a_pass_still_answers_each_message_once(tmp_path, held_write, moment,
                                                                          published):
    router = RouterProcess(tmp_path, ANSWER_IN_PASS).start()
    tracer = None
    try:
        client = await Client.connect(*router.udp, "demo", "demo-secret", keepalive_ms=KEEPALIVE_MS)
        try:
            warm = await client.send_orders([dict(security_id=1, side=Side.Buy, price=PRICE, qty=1)])
            await asyncio.wait_for(client.first_ack(warm[0]), ANSWER_TIMEOUT_S)
            drain(client)

            tracer = hold_log_write(router.proc.pid, router.journal / "router.log", held_write, moment)
            # One datagram: an order, one the router rejects itself (off the tick), an order.
            ids = await client.send_orders([
                dict(security_id=1, side=Side.Buy, price=PRICE - TICK, qty=2),
                dict(security_id=1, side=Side.Buy, price=PRICE - TICK // 2, qty=3),
                dict(security_id=1, side=Side.Buy, price=PRICE - 2 * TICK, qty=4)])
            await held_in_tracer(router.proc.pid)
            # The metrics thread still answers: whether the pass's two commands were offered.
            assert metric(router, "udprouter_commands_published_total") == published
            assert client.inbound.queue.empty(), "nothing leaves before the commit"
            os.kill(router.proc.pid, signal.SIGKILL)
            stop_tracer(tracer)  # a traced process is reaped only once its tracer lets go
            kill(router)
            router.restart()

            futures = [client.first_ack(i) for i in ids]
            await asyncio.wait(futures, timeout=ANSWER_TIMEOUT_S)
            answers = [type(f.result()) if f.done() else None for f in futures]
            assert answers == [ExecutionReportNew, ExecutionReportReject, ExecutionReportNew], \
                "every message of the killed pass answered (None: never)"
            answers = [f.result() for f in futures]
            assert answers[1].ord_rej_reason == OrdRejReason.InvalidPriceIncrement
            await until(lambda: client.inbound.expected >= client.inbound.highest, ANSWER_TIMEOUT_S)
            reports = drain(client)
            answered = [r.cl_ord_id for r in reports
                        if isinstance(r, ExecutionReportNew | ExecutionReportReject)]
            assert sorted(answered) == sorted(ids), "each message answered exactly once"
        finally:
            await client.close()
    finally:
        if tracer is not None:
            stop_tracer(tracer)
        router.stop()


async def test_a_neighbours_reject_in_the_killed_pass_is_answered_too(tmp_path):
    """Two sessions in one pass: B's order the router rejects itself and A's order, read in one
    batch while the router was held in an earlier write. Every router log write is held a second
    (strace); the router is killed once the pass has offered A's order, inside the pass's held
    commit. B's reject, made in a pass that offered only A's command, is answered after the
    restart: the write-ahead record holds every session's replies, not only the offering one's."""
    router = RouterProcess(tmp_path).start()
    tracer = None
    clients = []
    try:
        for key in ("demo", "demo2"):
            clients.append(await Client.connect(*router.udp, key, f"{key}-secret", keepalive_ms=KEEPALIVE_MS))
        a, b = clients
        warm = await a.send_orders([dict(security_id=1, side=Side.Buy, price=PRICE, qty=1)])
        await asyncio.wait_for(a.first_ack(warm[0]), ANSWER_TIMEOUT_S)
        drain(a)

        tracer = hold_every_log_write(router.proc.pid, router.journal / "router.log")
        first = await a.send_orders([dict(security_id=2, side=Side.Buy, price=PRICE, qty=1)])
        await held_in_tracer(router.proc.pid)  # the first order's pass, held in its write-ahead record
        rejected = await b.send_orders([dict(security_id=1, side=Side.Sell, price=PRICE + TICK // 2, qty=3)])
        second = await a.send_orders([dict(security_id=1, side=Side.Buy, price=PRICE - TICK, qty=2)])
        await until(lambda: metric(router, "udprouter_commands_published_total") == 3, ANSWER_TIMEOUT_S)
        os.kill(router.proc.pid, signal.SIGKILL)  # the second pass's commit is held for a second
        stop_tracer(tracer)
        kill(router)
        router.restart()

        futures = {"first": a.first_ack(first[0]), "rejected": b.first_ack(rejected[0]),
                   "second": a.first_ack(second[0])}
        await asyncio.wait(futures.values(), timeout=ANSWER_TIMEOUT_S)
        answers = {name: type(f.result()).__name__ if f.done() else None for name, f in futures.items()}
        assert answers == {"first": "ExecutionReportNew", "rejected": "ExecutionReportReject",
                           "second": "ExecutionReportNew"}, "every message answered (None: never)"
        for client, ids in ((a, first + second), (b, rejected)):
            await until(lambda c=client: c.inbound.expected >= c.inbound.highest, ANSWER_TIMEOUT_S)
            answered = [r.cl_ord_id for r in drain(client)
                        if isinstance(r, ExecutionReportNew | ExecutionReportReject)]
            assert sorted(answered) == sorted(ids), "each message answered exactly once"
    finally:
        for client in clients:
            await client.close()
        if tracer is not None:
            stop_tracer(tracer)
        router.stop()
