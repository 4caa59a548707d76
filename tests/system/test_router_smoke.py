"""`udprouter serve` as `make run` starts it (built-in defaults, ephemeral ports): log in, trade,
metrics, capture, graceful stop; and the clear errors for a bad config or a missing engine."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request

from udprouter._generated.messages import ExecutionReportNew, ExecutionReportTrade, Side
from udprouter.client import Client
from udprouter.config import ENGINE_BIN_ENV, REPO_ROOT

PRICE = 100_000_000_000
CLI_TIMEOUT_S = 30


def metrics_text(router) -> str:
    url = f"http://127.0.0.1:{router.metrics_port}/metrics"
    return urllib.request.urlopen(url, timeout=5).read().decode()


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


async def test_demo_clients_log_in_and_trade_then_sigterm_stops_router_and_engine(start_router, tmp_path):
    capture = tmp_path / "router.pcapng"
    router = start_router(capture=capture)
    a = await Client.connect(*router.udp, "demo", "demo-secret")
    b = await Client.connect(*router.udp, "demo2", "demo2-secret")
    try:
        buy = await a.send_order(1, Side.Buy, PRICE, 5)
        assert isinstance(await a.first_ack(buy), ExecutionReportNew)
        sell = await b.send_order(1, Side.Sell, PRICE, 5)
        assert isinstance(await b.first_ack(sell), ExecutionReportNew)
        reports = [await a.next_report(3.0) for _ in range(2)]
        assert isinstance(reports[1], ExecutionReportTrade) and reports[1].leaves_qty == 0
    finally:
        await a.close()
        await b.close()
    text = metrics_text(router)
    assert re.search(r"^udprouter_datagrams_in_total [1-9]", text, re.M)
    assert re.search(r"^udprouter_order_ack_latency_seconds_count [1-9]", text, re.M)
    # The startup heap is frozen out of garbage collection; the collections that remain are counted.
    assert re.search(r"^udprouter_gc_frozen_objects [1-9]", text, re.M)
    assert re.search(r'^python_gc_collections_total\{generation="2"\} \d', text, re.M)
    assert "demo-secret" not in text
    engine_pid = router.engine_pid
    assert router.stop() == 0
    assert not process_alive(engine_pid)
    data = capture.read_bytes()
    assert data[:4] == bytes.fromhex("0a0d0d0a") and len(data) > 1000


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "udprouter.cli", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=CLI_TIMEOUT_S, env=dict(os.environ, **(env or {})))


def test_bad_config_exits_2_naming_the_key(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[[instruments]]\nsecurity_id = 1\nsymbol = "A"\ntick = 0.01\n'
                      'reference_price = "100"\nband = "0.1"\nmax_qty = 5\n')
    result = run_cli("serve", "--config", str(config))
    assert result.returncode == 2
    assert "instruments[0].tick: expected a decimal string" in result.stderr


def test_missing_engine_binary_names_the_path_and_the_make_target(tmp_path):
    missing = tmp_path / "no-such-engine"
    config = tmp_path / "router.toml"
    config.write_text(f'[udp]\nport = 0\n[metrics]\nenabled = false\n[grpc]\nenabled = false\n'
                      f'[journal]\ndir = "{tmp_path / "journal"}"\n')
    result = run_cli("serve", "--config", str(config), env={ENGINE_BIN_ENV: str(missing)})
    assert result.returncode == 2
    assert str(missing) in result.stderr and "make engine" in result.stderr


def test_engine_exiting_before_ready_is_reported_with_its_status(tmp_path):
    config = tmp_path / "router.toml"
    config.write_text(f'[udp]\nport = 0\n[metrics]\nenabled = false\n[grpc]\nenabled = false\n'
                      f'[journal]\ndir = "{tmp_path / "journal"}"\n')
    result = run_cli("serve", "--config", str(config), env={ENGINE_BIN_ENV: "/bin/false"})
    assert result.returncode == 1
    assert "engine exited with status 1 before READY" in result.stderr
