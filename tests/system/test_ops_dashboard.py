"""The dashboard and alert rules in deploy/ query metrics that exist: after a short run that exercises
each of them (fills, router and engine rejects, NotApplied, retransmission, gRPC, fsync journal),
every metric named by a panel or a rule has a sample on the live router's /metrics. promtool checks
the rules and the exposition (CI installs it; without it those two checks are skipped)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ops_checks import http_get

from udprouter._generated.messages import (
    ExecutionReportNew,
    ExecutionReportReject,
    ExecutionReportTrade,
    OrderCancelReject,
    OrdRejReason,
    Side,
)
from udprouter.client import Client, SessionError
from udprouter.config import REPO_ROOT

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "udprouter-dashboard.json"
RULES = REPO_ROOT / "deploy" / "prometheus" / "udprouter-alerts.yml"
METRIC_NAME = re.compile(r"\b((?:udprouter|process|python)_[a-z0-9_]+)\b")
PRICE = 100_000_000_000
TICK = 10_000_000


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def rule_exprs() -> list[str]:
    return re.findall(r"expr: (\|\n(?:\s{10}.*\n)+|.*)", RULES.read_text())


def queried_metrics() -> set[str]:
    return {name for expr in dashboard_exprs() + rule_exprs() for name in METRIC_NAME.findall(expr)}


async def exercise(router, grpc_port: int) -> None:
    a = await Client.connect(*router.udp, "demo", "demo-secret")
    b = await Client.connect(*router.udp, "demo2", "demo2-secret")
    try:
        buy = await a.send_order(1, Side.Buy, PRICE, 2)
        assert isinstance(await a.first_ack(buy), ExecutionReportNew)
        sell = await b.send_order(1, Side.Sell, PRICE, 2)
        assert isinstance(await b.first_ack(sell), ExecutionReportNew)
        while not isinstance(await b.next_report(10), ExecutionReportTrade):
            pass
        late = await a.first_ack(await a.cancel(buy, 1, Side.Buy))  # filled: the engine says too late
        assert isinstance(late, OrderCancelReject)
        # max_orders = 2: a's and b's resting orders fill the book (each session may hold both)
        for client, side, price in ((a, Side.Buy, PRICE - TICK), (b, Side.Sell, PRICE + TICK)):
            ack = await client.first_ack(await client.send_order(2, side, price, 1))
            assert isinstance(ack, ExecutionReportNew)
        full = await a.first_ack(await a.send_order(2, Side.Buy, PRICE - 2 * TICK, 1))
        assert isinstance(full, ExecutionReportReject) and full.ord_rej_reason == OrdRejReason.OrderBookFull
        zero = await a.first_ack(await a.send_order(3, Side.Buy, PRICE, 0))
        assert zero.ord_rej_reason == OrdRejReason.IncorrectQuantity  # the router's own check
        a.out.next_seq += 3  # a gap: those numbers are declared NotApplied
        await a.first_ack(await a.send_order(3, Side.Sell, PRICE + TICK, 0))
        a._request_retransmit(1, 2)
        await asyncio.sleep(0)
        with pytest.raises(SessionError):
            await Client.connect(*router.udp, "demo", "wrong-secret", retries=1, timeout=0.3)
    finally:
        await a.close()
        await b.close()
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)


def sample_names(text: str) -> set[str]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return {line.split("{")[0].split(" ")[0] for line in lines}


def has_sample(names: set[str], metric: str) -> bool:
    return metric in names or f"{metric}_total" in names


async def test_every_metric_the_dashboard_and_alert_rules_query_exists_after_a_short_run(start_router):
    router = start_router('[grpc]\nenabled = true\nport = 0\n[journal]\ndurability = "fsync"\n'
                          "[engine]\nmax_orders = 2\n[session]\nmax_open_orders = 2\n")
    grpc_port = int(re.search(r"grpc=(\d+)", router.log_text()).group(1))
    await exercise(router, grpc_port)
    deadline = asyncio.get_running_loop().time() + 30
    while True:  # the retransmit request and the refused login are counted as they arrive
        status, text = http_get(router.metrics_port, "/metrics")
        assert status == 200
        if ("udprouter_retransmit_requests_total 1.0" in text and "udprouter_login_failures_total{" in text) \
                or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    names = sample_names(text)
    wanted = queried_metrics()
    assert len(wanted) >= 25
    missing = sorted(m for m in wanted if not has_sample(names, m))
    assert not missing, f"queried but not exported: {missing}"
    for line in ('udprouter_fills_total{instrument="ALPHA"} 1.0',
                 'udprouter_fill_volume_total{instrument="ALPHA"} 2.0',
                 'udprouter_cancel_rejects_total{reason="TooLateToCancel",request="cancel",source="engine"} '
                 "1.0",
                 'udprouter_order_rejects_total{reason="OrderBookFull",source="engine"} 1.0',
                 'udprouter_order_rejects_total{reason="IncorrectQuantity",source="router"} 2.0',
                 "udprouter_not_applied_total 3.0",
                 "udprouter_retransmit_requests_total 1.0",
                 "udprouter_retransmitted_frames_total 2.0",
                 'udprouter_login_failures_total{reason="bad_signature"} 1.0',
                 "udprouter_engine_up 1.0"):
        assert line in text, line
    # One set of reject metrics: the split ones above, not the old udprouter_rejects{reason} beside them.
    assert "udprouter_rejects_total" not in names and "udprouter_rejects" not in names
    assert re.search(r'^udprouter_grpc_calls_total\{code="OK",method="/grpc.health.v1.Health/Check"\} 1.0',
                     text, re.M)
    assert re.search(r"^udprouter_journal_fsync_seconds_count [1-9]", text, re.M)
    assert re.search(r"^udprouter_journal_append_seconds_count [1-9]", text, re.M)
    assert re.search(r"^process_resident_memory_bytes \d", text, re.M)
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (CI installs the prometheus package)")
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                             timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_accepts_the_alert_rules():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (CI installs the prometheus package)")
    checked = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True,
                             timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 11 rules found" in checked.stdout
