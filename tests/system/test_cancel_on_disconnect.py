"""Cancel on disconnect end to end: after the peer goes silent past its keepalive lapse, after its
Terminate, and not when it establishes again within CODTimeoutWindow. A second account's IOC order
shows from outside whether the resting order is still there; the session itself gets the cancel in
its own flow when it comes back (by retransmission)."""

from __future__ import annotations

import asyncio
import time

from udprouter._generated.messages import (
    CancelOnDisconnectType,
    CancelReason,
    ExecutionReportCancel,
    ExecutionReportTrade,
    Side,
    TimeInForce,
)
from udprouter.client import Client

PRICE = 100_000_000_000
DEADLINE_S = 20.0
REPORT_TIMEOUT_S = 5.0


async def connect(router, key: str, **kw) -> Client:
    return await Client.connect(*router.udp, key, f"{key}-secret", **kw)


async def probe_fills(probe: Client, security_id: int) -> int:
    """An IOC buy of 1 at PRICE: 1 when a resting sell was there to trade with, else 0."""
    cl = await probe.send_order(security_id, Side.Buy, PRICE, 1, time_in_force=TimeInForce.ImmediateOrCancel)
    while True:
        report = await probe.next_report(REPORT_TIMEOUT_S)
        if report.cl_ord_id != cl:
            continue
        if isinstance(report, ExecutionReportTrade):
            return report.last_qty
        if isinstance(report, ExecutionReportCancel):
            return 0


async def wait_until_gone(probe: Client, security_id: int) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while await probe_fills(probe, security_id):
        assert time.monotonic() < deadline, "the resting order was never canceled"
        await asyncio.sleep(0.05)


async def cancel_seen_on_return(router, session_id: bytes, cl_ord_id: int) -> ExecutionReportCancel:
    """The session comes back (same SessionId) and gets its missed reports by retransmission."""
    back = await connect(router, "demo", session_id=session_id, replay_from=1)
    try:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            report = await back.next_report(REPORT_TIMEOUT_S)
            if isinstance(report, ExecutionReportCancel) and report.cl_ord_id == cl_ord_id:
                return report
        raise AssertionError("no cancel in the session's flow")
    finally:
        await back.close()


async def test_silence_past_the_keepalive_lapse_cancels_the_sessions_orders(router):
    a = await connect(router, "demo", keepalive_ms=100,
                      cancel_on_disconnect=CancelOnDisconnectType.CancelOnDisconnectOnly, cod_window_ms=0)
    probe = await connect(router, "demo2")
    try:
        cl = await a.send_order(1, Side.Sell, PRICE, 50)
        await a.next_report(REPORT_TIMEOUT_S)
        await a.close(terminate=False)  # silent, as a crashed client
        await wait_until_gone(probe, 1)
        cancel = await cancel_seen_on_return(router, a.session_id, cl)
        assert cancel.cancel_reason == CancelReason.CancelOnDisconnect
    finally:
        await probe.close()


async def test_terminate_cancels_the_sessions_orders_and_only_those(router):
    a = await connect(router, "demo", cancel_on_disconnect=CancelOnDisconnectType.CancelOnTerminateOnly)
    other = await connect(router, "demo")  # the same account, another session without cancel on disconnect
    probe = await connect(router, "demo2")
    try:
        cl = await a.send_order(2, Side.Sell, PRICE, 50)
        await a.next_report(REPORT_TIMEOUT_S)
        await other.send_order(3, Side.Sell, PRICE, 50)
        await other.next_report(REPORT_TIMEOUT_S)
        await a.close()  # Terminate
        await wait_until_gone(probe, 2)
        assert await probe_fills(probe, 3) == 1  # the other session's order still rests
        cancel = await cancel_seen_on_return(router, a.session_id, cl)
        assert cancel.cancel_reason == CancelReason.CancelOnDisconnect
    finally:
        await other.close()
        await probe.close()


WINDOW_MS = 3000


async def test_no_cancel_without_it_or_after_a_reestablish_within_the_window(router):
    both = CancelOnDisconnectType.CancelOnDisconnectOrTerminate
    a = await connect(router, "demo", cancel_on_disconnect=both, cod_window_ms=WINDOW_MS)
    plain = await connect(router, "demo")
    probe = await connect(router, "demo2")
    try:
        await a.send_order(1, Side.Sell, PRICE, 50)
        await a.next_report(REPORT_TIMEOUT_S)
        await plain.send_order(2, Side.Sell, PRICE, 50)
        await plain.next_report(REPORT_TIMEOUT_S)
        session_id = a.session_id
        await a.close()  # Terminate: the cancel is armed WINDOW_MS ahead
        terminated_at = time.monotonic()
        await plain.close()  # no cancel on disconnect asked: nothing armed
        back = await connect(router, "demo", session_id=session_id, cancel_on_disconnect=both,
                             cod_window_ms=WINDOW_MS)
        try:
            assert time.monotonic() - terminated_at < WINDOW_MS / 1000, "re-established too late to test"
            # The window's end is the condition here, not an event: wait until it has passed (plus
            # a few router timer ticks), then both orders must still rest.
            await asyncio.sleep(WINDOW_MS / 1000 + 0.5 - (time.monotonic() - terminated_at))
            assert await probe_fills(probe, 1) == 1
            assert await probe_fills(probe, 2) == 1
        finally:
            await back.close(terminate=False)
    finally:
        await probe.close()
