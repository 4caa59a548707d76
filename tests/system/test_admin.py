"""The Admin API through its CLI (`udprouter admin ...`) against the real router and engine, with
UDP sessions connected: kill switch on and off (by account and by trading key), mass cancel by
account and instrument, limits read and changed, sessions listed and disconnected, admin keys kept
apart from trading keys, and admin actions surviving an engine crash and a router crash."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from udprouter._generated.messages import (
    CancelReason,
    ExecutionReportCancel,
    ExecutionReportNew,
    ExecutionReportReject,
    OrdRejReason,
    Side,
)
from udprouter.client import Client, SessionError

PRICE = 100_000_000_000
TICK = 10_000_000
REPORT_TIMEOUT_S = 5.0
DEADLINE_S = 30.0
ADMIN = "ops:ops-secret"
CONFIG = """[grpc]
enabled = true
port = 0
[[admin_keys]]
key_id = "ops"
secret = "ops-secret"
"""
GRPC_PORT = re.compile(r"grpc=(\d+)")


def admin(router, *args: str, key: str = ADMIN) -> tuple[int, dict | str]:
    """Runs `udprouter admin` against the router; (exit status, parsed JSON or the error line)."""
    port = GRPC_PORT.findall(router.log_text())[-1]
    done = subprocess.run([sys.executable, "-m", "udprouter.cli", "admin", "--target", f"127.0.0.1:{port}",
                           "--admin-key", key, *args], capture_output=True, text=True, timeout=60)
    if done.returncode == 0:
        return 0, json.loads(done.stdout)
    return done.returncode, done.stderr.strip()


def ok(router, *args: str) -> dict:
    status, out = admin(router, *args)
    assert status == 0, out
    return out


async def connect(router, key: str) -> Client:
    return await Client.connect(*router.udp, key, f"{key}-secret")


async def report(client: Client):
    return await client.next_report(REPORT_TIMEOUT_S)


async def test_kill_switch_cancels_blocks_and_releases_an_account_across_its_sessions(start_router):
    router = start_router(CONFIG)
    a1, a2, b = await connect(router, "demo"), await connect(router, "demo"), await connect(router, "demo2")
    try:
        await a1.send_order(1, Side.Buy, PRICE - TICK, 5)
        await a2.send_order(2, Side.Sell, PRICE + TICK, 5)
        await b.send_order(1, Side.Buy, PRICE - 2 * TICK, 5)
        for c in (a1, a2, b):
            assert isinstance(await report(c), ExecutionReportNew)
        out = ok(router, "kill-switch", "on", "--account", "1")
        assert out == {"account": 1, "enabled": True, "canceled_orders": 2}
        for c in (a1, a2):
            cancel = await report(c)
            assert isinstance(cancel, ExecutionReportCancel)
            assert cancel.cancel_reason == CancelReason.KillSwitch
        await a2.send_order(3, Side.Buy, PRICE, 1)
        reject = await report(a2)
        assert isinstance(reject, ExecutionReportReject)
        assert reject.ord_rej_reason == OrdRejReason.AccountKillSwitch
        await b.send_order(3, Side.Buy, PRICE - TICK, 1)  # another account trades on
        assert isinstance(await report(b), ExecutionReportNew)
        assert ok(router, "kill-switch", "off", "--trading-key", "demo")["canceled_orders"] == 0
        await a1.send_order(3, Side.Buy, PRICE - TICK, 1)
        assert isinstance(await report(a1), ExecutionReportNew)
        assert ok(router, "limits", "get", "--account", "1")["limits"]["kill_switch"] is False
        assert "kill switch ON for account 1" in router.log_text() and "admin ops" in router.log_text()
    finally:
        for c in (a1, a2, b):
            await c.close()


async def test_mass_cancel_by_account_and_instrument_reaches_every_session_of_the_account(start_router):
    router = start_router(CONFIG)
    a1, a2, b = await connect(router, "demo"), await connect(router, "demo"), await connect(router, "demo2")
    try:
        for c, sec in ((a1, 1), (a2, 1), (a2, 2), (b, 1)):
            await c.send_order(sec, Side.Buy, PRICE - TICK, 1)
            assert isinstance(await report(c), ExecutionReportNew)
        assert ok(router, "mass-cancel", "--account", "1", "--security-id", "1") == {"canceled_orders": 2}
        for c in (a1, a2):
            cancel = await report(c)
            assert (cancel.security_id, cancel.cancel_reason) == (1, CancelReason.MassCancel)
        assert ok(router, "mass-cancel", "--account", "1", "--side", "sell") == {"canceled_orders": 0}
        assert ok(router, "mass-cancel", "--account", "1") == {"canceled_orders": 1}
        assert (await report(a2)).security_id == 2
        with pytest.raises(TimeoutError):
            await b.next_report(0.3)  # account 2's order stays
    finally:
        for c in (a1, a2, b):
            await c.close()


async def test_limits_are_read_and_changed_at_run_time(start_router):
    router = start_router(CONFIG)
    a = await connect(router, "demo")
    try:
        before = ok(router, "limits", "get", "--account", "1")["limits"]
        assert before["max_order_notional"] == "0" and before["self_match_prevention"] == \
            "SELF_MATCH_PREVENTION_MODE_CANCEL_RESTING"
        after = ok(router, "limits", "set", "--account", "1", "--max-order-notional", "500", "--smp", "none")
        assert after["limits"]["max_order_notional"] == "500"
        assert after["limits"]["self_match_prevention"] == "SELF_MATCH_PREVENTION_MODE_NONE"
        await a.send_order(1, Side.Buy, PRICE, 5)  # 500.00: at the limit
        assert isinstance(await report(a), ExecutionReportNew)
        await a.send_order(1, Side.Buy, PRICE + TICK, 5)  # 500.05: past it
        reject = await report(a)
        assert reject.ord_rej_reason == OrdRejReason.ExceededMaxNotionalOrderAmt
        assert "account 1 limits max_order_notional=500, smp=0" in router.log_text()
    finally:
        await a.close()


async def test_sessions_are_listed_and_an_admin_can_disconnect_one(start_router):
    router = start_router(CONFIG)
    a = await connect(router, "demo")
    try:
        sessions = ok(router, "sessions")["sessions"]
        (mine,) = [s for s in sessions if s["key_id"] == "demo"]
        assert mine["state"] == "SESSION_STATE_ESTABLISHED" and mine["address"].startswith("127.0.0.1:")
        assert ok(router, "disconnect", str(mine["session_id"])) == {"disconnected": True}
        deadline = time.monotonic() + DEADLINE_S
        while a.server_terminations == 0:  # this client establishes again after a server Terminate
            assert time.monotonic() < deadline, "the client never got the Terminate"
            await asyncio.sleep(0.02)
        assert f"admin ops: disconnect session {mine['session_id']} (terminated)" in router.log_text()
        status, error = admin(router, "disconnect", "999")
        assert status == 1 and "NOT_FOUND" in error
    finally:
        await a.close()


async def test_admin_and_trading_keys_are_kept_apart(start_router):
    router = start_router(CONFIG)
    status, error = admin(router, "sessions", key="demo:demo-secret")
    assert status == 1 and "UNAUTHENTICATED" in error
    status, error = admin(router, "sessions", key="ops:wrong")
    assert status == 1 and "UNAUTHENTICATED" in error
    with pytest.raises(SessionError, match="Credentials"):
        await Client.connect(*router.udp, "ops", "ops-secret", retries=2)


def wait_for(check, what: str):
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            result = check()
        except AssertionError:
            result = None
        if result:
            return result
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


async def test_admin_actions_survive_an_engine_crash_and_a_router_crash(start_router):
    router = start_router(CONFIG + "[engine]\nrestart_backoff_s = 0.02\n")
    ok(router, "limits", "set", "--account", "2", "--max-position", "7")
    ok(router, "kill-switch", "on", "--account", "1")
    expected = {"max_position": "7", "kill_switch": False}

    def limits_hold(r, account=2):
        status, out = admin(r, "limits", "get", "--account", str(account))
        return status == 0 and all(out["limits"][k] == v for k, v in expected.items())

    os.kill(router.engine_pid, signal.SIGKILL)
    wait_for(lambda: limits_hold(router), "limits lost after the engine crash")
    assert ok(router, "limits", "get", "--account", "1")["limits"]["kill_switch"] is True

    journal = router.journal
    router.proc.kill()
    router.proc.wait()
    again = start_router(CONFIG, journal=journal)
    wait_for(lambda: limits_hold(again), "limits lost after the router crash")
    assert ok(again, "limits", "get", "--account", "1")["limits"]["kill_switch"] is True
    a = await connect(again, "demo")
    try:
        await a.send_order(1, Side.Buy, PRICE, 1)
        assert (await report(a)).ord_rej_reason == OrdRejReason.AccountKillSwitch
    finally:
        await a.close()
