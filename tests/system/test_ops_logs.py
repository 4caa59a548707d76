"""The router's operational log, read from a live `udprouter serve`: one structured line per event
(start, sessions, engine death and restart, each shutdown stage), timestamps in the engine's lines
too, no secrets, and a bounded number of lines under a flood of logins."""

from __future__ import annotations

import json
import os
import signal
import socket
import time

from ops_checks import log_events, named, wait_for_event

from udprouter._generated.messages import ExecutionReportNew, FlowType, Negotiate, Side
from udprouter.auth import sign
from udprouter.client import Client
from udprouter.codec import encode_message
from udprouter.ops.oplog import BURST, RATE_PER_S

PRICE = 100_000_000_000
SHUTDOWN_STAGES = ["shutdown_requested", "shutdown_begin", "shutdown_orders_drained", "engine_stopped",
                   "shutdown_engine_stopped", "shutdown_complete"]


async def test_engine_kill_restart_sessions_and_each_shutdown_stage_are_logged(start_router):
    router = start_router()
    (started,) = named(log_events(router.log_text()), "started")
    assert started["config"] == str(router.config) and started["journal_dir"] == str(router.journal)
    assert started["durability"] == "os" and started["version"]
    assert started["udp"] == f"127.0.0.1:{router.udp[1]}"
    client = await Client.connect(*router.udp, "demo", "demo-secret")
    try:
        port = client.transport.get_extra_info("sockname")[1]
        (negotiated,) = wait_for_event(router, "session_negotiated")
        (established,) = wait_for_event(router, "session_established")
        for line in (negotiated, established):
            assert line["key_id"] == "demo" and line["addr"] == f"127.0.0.1:{port}"
        old_engine = router.engine_pid
        os.kill(old_engine, signal.SIGKILL)
        (exited,) = wait_for_event(router, "engine_exited")
        assert exited["pid"] == str(old_engine) and exited["signal"] == "SIGKILL"
        assert exited["level"] == "error"
        (restarted,) = wait_for_event(router, "engine_restarted")
        assert restarted["pid"] != str(old_engine) and restarted["restarts"] == "1"
        ack = await client.first_ack(await client.send_order(1, Side.Buy, PRICE, 1))
        assert isinstance(ack, ExecutionReportNew)
    finally:
        await client.close()
    wait_for_event(router, "session_terminated")
    assert router.stop() == 0
    events = log_events(router.log_text())
    order = [e["event"] for e in events if e["event"] in SHUTDOWN_STAGES]
    assert order == SHUTDOWN_STAGES
    assert named(events, "shutdown_requested")[0]["signal"] == "SIGTERM"
    for event in events:
        assert event["ts"].endswith("Z") and event["level"] in ("debug", "info", "warning", "error")
    assert "demo-secret" not in router.log_text()
    engine_lines = (router.journal / "engine.log").read_text().splitlines()
    assert engine_lines and all(line.startswith("ts=") and " source=engine " in line for line in engine_lines)


def test_json_log_format_has_the_same_events(start_router, monkeypatch):
    monkeypatch.setenv("UDPROUTER_LOG_FORMAT", "json")
    router = start_router()
    assert router.stop() == 0
    lines = [line for line in router.log_text().splitlines() if line.startswith("{")]
    events = [json.loads(line) for line in lines]
    names = [e["event"] for e in events]
    assert "started" in names and names[-1] == "shutdown_complete"
    assert all({"ts", "level", "event"} <= e.keys() for e in events)


def _negotiate(session_id: bytes, secret: str) -> bytes:
    ts = time.time_ns()
    return encode_message(Negotiate(session_id, ts, FlowType.Idempotent, sign(secret, "Negotiate", session_id,
                                                                            ts, "demo")))


def test_a_flood_of_failed_logins_is_one_summary_not_a_line_per_datagram(start_router):
    router = start_router()
    flood = 400
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(flood):
            sock.sendto(_negotiate(i.to_bytes(16, "big"), "wrong-secret"), router.udp)
    # Every datagram is accounted for (signature refused or dropped over the login budget) before the stop.
    assert router.stop() == 0
    events = log_events(router.log_text())
    summaries = named(events, "login_failures")
    assert summaries, "one summary line at least"
    total = sum(int(s["count"]) for s in summaries)
    assert 0 < total <= flood  # loopback UDP may drop some: what arrived is what was counted
    by_reason = sum(int(s.get("bad_signature", 0)) + int(s.get("dropped_over_budget", 0)) for s in summaries)
    assert by_reason == total
    assert len(events) < 30, "a few lines, not one per datagram"


def test_log_volume_of_one_event_is_bounded_and_the_rest_counted(start_router):
    router = start_router()
    sessions = 300
    started = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        for i in range(sessions):
            sock.sendto(_negotiate(i.to_bytes(16, "big"), "demo-secret"), router.udp)
            sock.recv(2048)  # its NegotiationResponse: the next one goes once this one is done
    elapsed = time.monotonic() - started
    assert router.stop() == 0
    events = log_events(router.log_text())
    lines = named(events, "session_negotiated")
    suppressed = sum(int(e.get("suppressed", 0)) for e in lines)
    suppressed += sum(int(e["count"]) for e in named(events, "log_suppressed")
                      if e["of"] == "session_negotiated")
    assert len(lines) + suppressed == sessions, "each negotiation is a line or counted in one"
    assert len(lines) <= BURST + RATE_PER_S * (elapsed + 1) + 1
    if elapsed < (sessions - BURST) / RATE_PER_S - 1:  # faster than the budget refills: some were held back
        assert suppressed > 0


async def test_a_ring_full_episode_is_one_line_at_its_start_and_one_at_its_end(start_router):
    router = start_router("[engine]\ninbound_capacity = 8\n")
    client = await Client.connect(*router.udp, "demo", "demo-secret")
    try:
        os.kill(router.engine_pid, signal.SIGSTOP)  # the engine stops taking commands: the ring fills
        try:
            ids = await client.send_orders([dict(security_id=1, side=Side.Buy, price=PRICE - k * 10_000_000,
                                                 qty=1) for k in range(1, 20)])
            (start,) = wait_for_event(router, "ring_full_start")
            assert start["capacity"] == "8" and start["level"] == "warning"
        finally:
            os.kill(router.engine_pid, signal.SIGCONT)
        answers = [await client.first_ack(cl) for cl in ids]
        refused = sum(1 for a in answers if not isinstance(a, ExecutionReportNew))
        (end,) = wait_for_event(router, "ring_full_end")
        assert int(end["refused"]) == refused > 0
    finally:
        await client.close()
    assert len(named(log_events(router.log_text()), "ring_full_start")) == 1
