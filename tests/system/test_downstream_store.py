"""udprouter-store: the stream into a real PostgreSQL server (initdb'd in a temp dir), the store
SIGKILLed mid-stream and restarted: every event one executions row, every trade one trades row, and
every order's row equal to the state its events in stream order leave."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from tests.system.downstream_checks import (
    DEADLINE_S,
    PublisherProcess,
    assert_stream_exact,
    read_stream,
    seeded_flow,
    wait_for_stream_count,
)
from udprouter.config import REPO_ROOT
from udprouter.downstream.local import NatsServer, PostgresServer, stop_pid
from udprouter.downstream.store import order_row

SEED = 160
ROUNDS = 30


@pytest.fixture
def postgres():
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


class StoreProcess:
    def __init__(self, work, urls: str, dsn: str) -> None:
        self.log = work / "store.log"
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "udprouter.downstream.store", "--nats", urls, "--dsn", dsn,
                 "--batch", "32"],
                cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def count(dsn: str, table: str) -> int:
    with psycopg.connect(dsn) as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


async def wait_for_rows(dsn: str, table: str, at_least: int) -> int:
    deadline = time.monotonic() + DEADLINE_S
    seen = -1
    while time.monotonic() < deadline:
        try:
            seen = count(dsn, table)
        except psycopg.errors.UndefinedTable:
            seen = -1
        if seen >= at_least:
            return seen
        await asyncio.sleep(0.1)
    return seen


async def test_store_killed_mid_stream_misses_and_doubles_no_row(router, tmp_path, postgres):
    nats_server = NatsServer(tmp_path / "nats").start()
    publisher = PublisherProcess(tmp_path, router, nats_server.url).start()
    stores = [StoreProcess(tmp_path, nats_server.url, postgres.dsn)]
    try:
        stored = [0]

        async def kill_store(r: int) -> None:
            if r in (8, 17, 25):  # SIGKILL once it has written more rows, then start another
                stored.append(await wait_for_rows(postgres.dsn, "executions", stored[-1] + 1))
                stop_pid(stores[-1].proc, signal.SIGKILL)
                stores.append(StoreProcess(tmp_path, nats_server.url, postgres.dsn))

        reports = await seeded_flow(router, SEED, ROUNDS, kill_store)
        total = sum(len(r) for r in reports.values())
        assert await wait_for_stream_count(nats_server.url, total) == total
        messages = await read_stream(nats_server.url)
        assert_stream_exact(messages, reports)
        rows = await wait_for_rows(postgres.dsn, "executions", total)
        assert rows == total, stores[-1].log.read_text()[-2000:]
        await asyncio.sleep(0.5)

        with psycopg.connect(postgres.dsn) as db:
            executions = db.execute("SELECT engine_id, command_seq, event_index, stream_seq, kind, cl_ord_id "
                                    "FROM executions ORDER BY command_seq, event_index").fetchall()
            trades = db.execute("SELECT command_seq, event_index, last_px, last_qty FROM trades "
                                "ORDER BY command_seq, event_index").fetchall()
            orders = db.execute("SELECT * FROM orders ORDER BY order_id").fetchall()
        expected_exec = [(e.engine_id, e.command_seq, e.event_index, i + 1, e.execution.kind,
                          e.execution.cl_ord_id) for i, (_, e) in enumerate(messages)]
        assert executions == expected_exec
        expected_trades = [(e.command_seq, e.event_index, e.execution.price, e.execution.qty)
                           for _, e in messages if e.execution.kind == 2]
        assert trades == expected_trades and trades
        assert orders == final_orders(messages)
        assert {row[11] for row in orders} >= {"new", "filled", "partially_filled", "canceled"}
    finally:
        for store in stores:
            stop_pid(store.proc)
        publisher.stop()
        nats_server.stop()


def final_orders(messages: list) -> list[tuple]:
    """Each order's row after its events in stream order (a column an event leaves unset keeps its own)."""
    orders: dict[int, list] = {}
    for _, event in messages:
        row = order_row(event)
        if row is None:
            continue
        if row[1] in orders:
            old = orders[row[1]]
            row = tuple(old[i] if row[i] is None else row[i] for i in range(len(row)))
        orders[row[1]] = list(row)
    return [tuple(orders[k]) for k in sorted(orders)]
