"""Cancel on disconnect across a router crash (SIGKILL, then a restart on the same journal): an armed
cancel falls due at the window's end measured from the original disconnect (at once if that has
passed), a session established with cancel on silence counts as silent from the restart on, and a
session that establishes again within its window keeps its orders (SPEC 4.6.1, router crash)."""

from __future__ import annotations

import asyncio
import time

from tests.system.test_cancel_on_disconnect import (
    PRICE,
    REPORT_TIMEOUT_S,
    cancel_seen_on_return,
    connect,
    probe_fills,
    wait_until_gone,
)
from tests.system.test_router_crash import kill, kill_and_restart
from udprouter._generated.messages import CancelOnDisconnectType, CancelReason, ExecutionReportNew, Side

ON_TERMINATE = CancelOnDisconnectType.CancelOnTerminateOnly
ON_SILENCE = CancelOnDisconnectType.CancelOnDisconnectOnly
BOTH = CancelOnDisconnectType.CancelOnDisconnectOrTerminate
LAPSE = 3  # keepalive intervals of silence before the router ends a session (SPEC 4.5)
RESTING_QTY = 10_000  # every probe until the cancel buys 1 of it: never all of it


async def rest_order(client, security_id: int) -> int:
    cl = await client.send_order(security_id, Side.Sell, PRICE, RESTING_QTY)
    report = await client.next_report(REPORT_TIMEOUT_S)
    assert isinstance(report, ExecutionReportNew) and report.cl_ord_id == cl, report
    return cl


async def assert_canceled_on_disconnect(router, session_id: bytes, cl: int, security_id: int,
                                        not_before_ns: int) -> None:
    probe = await connect(router, "demo2")
    try:
        await wait_until_gone(probe, security_id)
    finally:
        await probe.close()
    cancel = await cancel_seen_on_return(router, session_id, cl)
    assert cancel.cancel_reason == CancelReason.CancelOnDisconnect
    # TransactTime is the router's clock when it sent the cancel: not before the window's end.
    assert cancel.transact_time >= not_before_ns


async def test_terminate_then_crash_cancels_at_the_end_of_the_original_window(router):
    window_ms = 4000
    a = await connect(router, "demo", cancel_on_disconnect=ON_TERMINATE, cod_window_ms=window_ms)
    cl = await rest_order(a, 1)
    terminated_ns = time.time_ns()
    await a.close()  # Terminate: armed window_ms ahead
    kill_and_restart(router)
    await assert_canceled_on_disconnect(router, a.session_id, cl, 1, terminated_ns + window_ms * 1_000_000)


async def test_a_window_that_passed_during_the_crash_cancels_at_once(router):
    window_ms = 300
    a = await connect(router, "demo", cancel_on_disconnect=BOTH, cod_window_ms=window_ms)
    cl = await rest_order(a, 2)
    terminated_ns = time.time_ns()
    await a.close()
    kill(router)
    # The condition is the clock, not an event: the router is down until the window has passed.
    await asyncio.sleep(max(0.0, (terminated_ns + window_ms * 1_000_000 - time.time_ns()) / 1e9) + 0.1)
    router.restart()
    await assert_canceled_on_disconnect(router, a.session_id, cl, 2, terminated_ns + window_ms * 1_000_000)


async def test_establishing_again_after_the_crash_within_the_window_keeps_the_orders(router):
    window_ms = 8000
    a = await connect(router, "demo", cancel_on_disconnect=BOTH, cod_window_ms=window_ms)
    await rest_order(a, 3)
    terminated_at = time.monotonic()
    await a.close()
    kill_and_restart(router)
    back = await connect(router, "demo", session_id=a.session_id, cancel_on_disconnect=BOTH,
                         cod_window_ms=window_ms)
    probe = await connect(router, "demo2")
    try:
        assert time.monotonic() - terminated_at < window_ms / 1000, "re-established too late to test"
        # The window's end is the condition, not an event: wait until it has passed (plus a few
        # router timer ticks), then the order must still rest.
        await asyncio.sleep(window_ms / 1000 + 0.5 - (time.monotonic() - terminated_at))
        assert await probe_fills(probe, 3) == 1
    finally:
        await back.close(terminate=False)
        await probe.close()


async def test_a_session_established_with_cancel_on_silence_at_the_crash_is_silent_after_it(router):
    keepalive_ms, window_ms = 100, 200
    a = await connect(router, "demo", keepalive_ms=keepalive_ms, cancel_on_disconnect=ON_SILENCE,
                      cod_window_ms=window_ms)
    cl = await rest_order(a, 1)
    killed_ns = time.time_ns()
    kill(router)
    await a.close(terminate=False)  # the client is gone too: it never comes back by itself
    router.restart()
    await assert_canceled_on_disconnect(router, a.session_id, cl, 1, killed_ns)


async def test_a_session_with_cancel_on_silence_that_comes_back_after_the_crash_keeps_its_orders(router):
    keepalive_ms, window_ms = 200, 5000
    a = await connect(router, "demo", keepalive_ms=keepalive_ms, cancel_on_disconnect=ON_SILENCE,
                      cod_window_ms=window_ms)
    probe = None
    try:
        await rest_order(a, 2)
        kill_and_restart(router)
        restarted_at = time.monotonic()
        deadline = restarted_at + 20.0
        while a.reestablishments == 0:  # the client notices the silence and establishes again
            assert time.monotonic() < deadline, "the client never re-established"
            await asyncio.sleep(0.02)
        probe = await connect(router, "demo2")
        # Past the restart + lapse + window (the condition is the clock): the order still rests.
        due_s = (LAPSE * keepalive_ms + window_ms) / 1000
        await asyncio.sleep(max(0.0, restarted_at + due_s + 0.5 - time.monotonic()))
        assert await probe_fills(probe, 2) == 1
    finally:
        await a.close(terminate=False)
        if probe is not None:
            await probe.close()
