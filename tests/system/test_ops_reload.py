"""SIGHUP reload against a live router with a session connected through the wire: a good config
changes keys and instrument limits at once without dropping the session; a bad one is refused with
one log line and the old config stays in force."""

from __future__ import annotations

import asyncio
import signal

import pytest
from conftest import RouterProcess
from ops_checks import http_get, log_events, named, wait_for_event

from udprouter._generated.messages import ExecutionReportNew, ExecutionReportReject, OrdRejReason, Side
from udprouter.client import Client, SessionError

PRICE = 100_000_000_000


def keys_and_instruments(max_qty: int, extra_key: bool) -> str:
    text = ('[[keys]]\nkey_id = "demo"\nsecret = "demo-secret"\naccount = 1\n'
            '[[instruments]]\nsecurity_id = 1\nsymbol = "ALPHA"\ntick = "0.01"\nreference_price = "100.00"\n'
            f'band = "0.10"\nmax_qty = {max_qty}\n')
    if extra_key:
        text += '[[keys]]\nkey_id = "ops2"\nsecret = "ops2-secret"\naccount = 2\n'
    return text


@pytest.fixture
def reloadable_router(tmp_path):
    router = RouterProcess(tmp_path)
    base = router.config.read_text()
    router.config.write_text(base + keys_and_instruments(1000, extra_key=False))
    router.start()
    try:
        yield router, base
    finally:
        router.stop()


def sighup(router, base: str, tail: str, outcome: str, count: int) -> dict:
    router.config.write_text(base + tail)
    router.proc.send_signal(signal.SIGHUP)
    return wait_for_event(router, outcome, count)[-1]


async def order_outcome(client: Client, qty: int):
    return await asyncio.wait_for(client.first_ack(await client.send_order(1, Side.Buy, PRICE, qty)), 10)


async def test_reload_applies_new_limits_and_keys_without_dropping_the_session(reloadable_router):
    router, base = reloadable_router
    client = await Client.connect(*router.udp, "demo", "demo-secret")
    try:
        assert isinstance(await order_outcome(client, 500), ExecutionReportNew)
        with pytest.raises(SessionError):
            await Client.connect(*router.udp, "ops2", "ops2-secret", retries=1, timeout=0.3)
        line = sighup(router, base, keys_and_instruments(100, extra_key=True), "config_reloaded", 1)
        assert line["changed"] == "keys,instruments" and line["file"] == str(router.config)
        # The same session, never re-established: the new max_qty applies to its next order at once.
        reject = await order_outcome(client, 500)
        assert isinstance(reject, ExecutionReportReject)
        assert reject.ord_rej_reason == OrdRejReason.IncorrectQuantity
        assert isinstance(await order_outcome(client, 50), ExecutionReportNew)
        other = await Client.connect(*router.udp, "ops2", "ops2-secret")  # the new key logs in
        await other.close()
        assert client.server_terminations == 0 and client.reestablishments == 0
    finally:
        await client.close()
    events = log_events(router.log_text())
    assert len(named(events, "session_established")) == 2  # the first client once, the new key once
    assert "ops2-secret" not in router.log_text()


async def test_a_bad_config_is_refused_with_one_line_and_the_old_one_stays(reloadable_router):
    router, base = reloadable_router
    client = await Client.connect(*router.udp, "demo", "demo-secret")
    try:
        limits = keys_and_instruments(100, False)
        bad_files = [  # (file, the key its one log line names)
            (base + "[[instruments]\nnot toml", "<toml>"),
            (base + limits.replace('tick = "0.01"', "tick = 0.01"), "instruments[0].tick"),
            (base.replace("port = 0", "port = 1", 1) + limits, "udp.port"),  # [udp] comes first
        ]
        for count, (text, key) in enumerate(bad_files, start=1):
            line = sighup(router, text, "", "config_reload_refused", count)
            assert line["error"].startswith(key) and line["level"] == "error"
            # The old limits (max_qty 1000) and the session stay.
            assert isinstance(await order_outcome(client, 500), ExecutionReportNew)
        assert client.server_terminations == 0 and client.reestablishments == 0
    finally:
        await client.close()
    events = log_events(router.log_text())
    assert len(named(events, "config_reload_refused")) == 3 and not named(events, "config_reloaded")
    metrics = http_get(router.metrics_port, "/metrics")[1]
    assert 'udprouter_config_reloads_total{outcome="refused"} 3.0' in metrics
