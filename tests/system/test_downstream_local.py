"""The one documented command: `udprouter-downstream --config FILE --store` beside a router starts a
local nats-server, the publisher, a PostgreSQL server and the store; a router's trade reaches the
trades table; SIGTERM stops all of it."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time

import psycopg

from tests.system.downstream_checks import ACK_TIMEOUT_S, DEADLINE_S, PRICE
from udprouter._generated.messages import Side
from udprouter.client import Client
from udprouter.config import REPO_ROOT
from udprouter.downstream.local import stop_pid


async def test_one_command_starts_broker_publisher_and_store(router, tmp_path):
    log = tmp_path / "downstream.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "udprouter.downstream.local_run", "--config",
                                 str(router.config), "--store", "--dir", str(tmp_path / "nats")],
                                cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        buyer = await Client.connect(*router.udp, "demo", "demo-secret")
        seller = await Client.connect(*router.udp, "demo2", "demo2-secret")
        try:
            buy = await buyer.send_order(1, Side.Buy, PRICE, 7)
            await asyncio.wait_for(buyer.first_ack(buy), ACK_TIMEOUT_S)
            sell = await seller.send_order(1, Side.Sell, PRICE, 7)
            await asyncio.wait_for(seller.first_ack(sell), ACK_TIMEOUT_S)
        finally:
            await buyer.close()
            await seller.close()
        deadline = time.monotonic() + DEADLINE_S
        trades: list = []
        while time.monotonic() < deadline and len(trades) < 2:
            match = re.search(r"dsn=(\S+)", log.read_text())
            if match:
                try:
                    with psycopg.connect(match.group(1)) as db:
                        trades = db.execute("SELECT account, side, last_qty, aggressor FROM trades "
                                            "ORDER BY account").fetchall()
                except psycopg.Error:  # the store has not created its tables yet
                    pass
            assert proc.poll() is None, log.read_text()
            await asyncio.sleep(0.1)
        assert trades == [(1, Side.Buy, 7, False), (2, Side.Sell, 7, True)], log.read_text()[-2000:]
    finally:
        stop_pid(proc, signal.SIGTERM)
    assert proc.returncode == 0, log.read_text()[-2000:]
