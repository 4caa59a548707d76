"""[udp] answer_wait_us: a loop pass that offered commands waits for the engine's answer and sends
it in the same pass, instead of going back to epoll for the engine's eventfd; but not at a high
rate (over [engine] low_rate commands/s), asleep or awake as the engine may be. Seen from outside
through the metrics; every order is answered either way."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import urllib.request

import pytest

from udprouter._generated.messages import ExecutionReportNew, Side
from udprouter.client import Client

PRICE = 100_000_000_000
ORDERS = 20
ATTEMPTS = 20
BURST = 400  # in a few milliseconds: over [engine] low_rate (12,000 commands/s)


def metric(router, name: str) -> int:
    url = f"http://127.0.0.1:{router.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    match = re.search(rf"^{name} (\S+)", text, re.M)
    assert match, f"router exports no {name}"
    return int(float(match.group(1)))


async def send_one_at_a_time(router) -> None:
    client = await Client.connect(*router.udp, "demo", "demo-secret")
    try:
        for i in range(ORDERS):
            order = await client.send_order(1, Side.Buy, PRICE - i * 100_000_000, 1)
            assert isinstance(await client.first_ack(order), ExecutionReportNew)
    finally:
        await client.close()


async def test_orders_one_at_a_time_are_answered_in_the_pass_that_offered_them(start_router):
    # 10 ms: far longer than the engine takes, so only a stalled engine would let a wait run out.
    router = start_router("answer_wait_us = 10000\n")
    await send_one_at_a_time(router)
    waits = metric(router, "udprouter_answer_waits_total")
    answered = metric(router, "udprouter_answered_in_pass_total")
    # Most passes wait (not one whose drain already found events of an earlier command waiting).
    assert waits >= ORDERS // 2
    assert answered >= 1, "no answer ever arrived while its pass waited"
    assert answered <= waits
    # Each answer to a UDP session, with nothing else waiting, is built and sent by one C call.
    assert metric(router, "udprouter_replies_built_in_c_total") >= ORDERS // 2


@pytest.mark.parametrize("engine_wait", ["sleep", "spin"])
async def test_a_burst_does_not_wait_for_the_engine(start_router, engine_wait):
    # "sleep": the engine sleeps on its eventfd after every batch, so offers made while the client's
    # datagrams keep coming find it asleep. "spin": it never sleeps, and a pass that waited would
    # get its answer in microseconds; at this rate the pass still leaves the answer to the eventfd.
    router = start_router(f'answer_wait_us = 10000\n[engine]\nwait = "{engine_wait}"\n')
    client = await Client.connect(*router.udp, "demo", "demo-secret")
    try:
        for _ in range(ATTEMPTS):  # bounded: a loaded host may read a whole burst in one pass
            orders = [await client.send_order(1, Side.Buy, PRICE - i % 20 * 100_000_000, 1)
                      for i in range(BURST)]
            for order in orders:  # every order answered, waited for or not
                assert isinstance(await client.first_ack(order), ExecutionReportNew)
            if metric(router, "udprouter_answer_waits_skipped_total") >= 1:
                break
        assert metric(router, "udprouter_answer_waits_skipped_total") >= 1
    finally:
        await client.close()
    # Then a quiet 100 ms (the rate falls below low_rate) and orders one at a time, each after the
    # last one's answer: their passes wait again.
    await asyncio.sleep(0.1)
    skipped = metric(router, "udprouter_answer_waits_skipped_total")
    waits = metric(router, "udprouter_answer_waits_total")
    await send_one_at_a_time(router)
    assert metric(router, "udprouter_answer_waits_total") - waits >= ORDERS // 2
    assert metric(router, "udprouter_answer_waits_skipped_total") - skipped <= ORDERS // 2


async def test_without_the_wait_the_eventfd_brings_every_answer(start_router):
    router = start_router("answer_wait_us = 0\n")
    read_passes = metric(router, "udprouter_read_passes_total")
    await send_one_at_a_time(router)
    assert metric(router, "udprouter_answer_waits_total") == 0
    assert metric(router, "udprouter_answered_in_pass_total") == 0
    # Each order left after the last one's answer, so each was read by a pass of its own; the
    # answers came in those passes or in passes of the engine's eventfd (and the timer's).
    assert metric(router, "udprouter_read_passes_total") - read_passes >= ORDERS
    assert metric(router, "udprouter_event_passes_total") >= 1


async def test_a_datagram_that_arrives_during_the_wait_ends_it(start_router):
    # The engine frozen: no answer can end a 10 ms wait, only the client's next datagram (1 ms later).
    router = start_router("answer_wait_us = 10000\n")
    client = await Client.connect(*router.udp, "demo", "demo-secret")
    orders = []
    try:
        os.kill(router.engine_pid, signal.SIGSTOP)
        try:
            for i in range(ATTEMPTS):  # a loaded host may read both in one pass: try again, bounded
                orders.append(await client.send_order(1, Side.Buy, PRICE - i * 100_000_000, 1))
                await asyncio.sleep(0.001)
                orders.append(await client.send_order(1, Side.Buy, PRICE - i * 100_000_000, 1))
                await asyncio.sleep(0.02)
                if metric(router, "udprouter_answer_waits_ended_by_datagram_total") >= 1:
                    break
        finally:
            os.kill(router.engine_pid, signal.SIGCONT)
        assert metric(router, "udprouter_answer_waits_ended_by_datagram_total") >= 1
        for order in orders:  # and nothing was lost to the early end: every order answered once
            assert isinstance(await client.first_ack(order), ExecutionReportNew)
    finally:
        await client.close()
