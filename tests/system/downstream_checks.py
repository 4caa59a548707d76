"""Downstream system tests' shared parts: a seeded order flow whose reports are the oracle, the
publisher and store processes, and reading a JetStream stream back in full."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import nats

from tests.system.report_checks import drain
from udprouter._generated.messages import (
    ExecutionReportCancel,
    ExecutionReportNew,
    ExecutionReportReject,
    ExecutionReportReplace,
    ExecutionReportTrade,
    OrderCancelReject,
    Side,
)
from udprouter.client import Client
from udprouter.config import ENGINE_BIN_ENV, REPO_ROOT
from udprouter.downstream.events import STREAM, decode
from udprouter.downstream.local import stop_pid

PRICE = 100_000_000_000
TICK = 10_000_000
ACCOUNTS = {"demo": 1, "demo2": 2}  # the default config's keys
KINDS = {ExecutionReportNew: 1, ExecutionReportTrade: 2, ExecutionReportCancel: 3, ExecutionReportReplace: 4,
         ExecutionReportReject: 5, OrderCancelReject: 6}
ACK_TIMEOUT_S = 40.0
DEADLINE_S = 90.0


def round_messages(rng: random.Random, client: Client, live: list) -> list:
    """A seeded mix: resting and crossing limit orders, cancels (some of orders already filled)."""
    msgs: list = []
    for _ in range(rng.randrange(3, 8)):
        side = rng.choice((Side.Buy, Side.Sell))
        price = PRICE + rng.randrange(-3, 4) * TICK
        msgs.append(dict(security_id=rng.randrange(1, 4), side=side, price=price, qty=rng.randrange(1, 20)))
    # No off-band orders: the router's risk checks refuse those before the engine, so they are in
    # no journal and on no stream (protocol/DOWNSTREAM.md).
    if live and rng.random() < 0.5:
        target = live.pop(rng.randrange(len(live)))
        msgs.append(_cancel(client, target))
    return msgs


def _cancel(client: Client, target: tuple[int, int, int]):
    from udprouter._generated.messages import OrderCancelRequest

    cl, security_id, side = target
    return lambda: OrderCancelRequest(client.next_cl_ord_id(), cl, time.time_ns(), security_id, side)


async def seeded_flow(router, seed: int, rounds: int, on_round=None) -> dict[int, list[tuple[int, int]]]:
    """Two clients (accounts 1 and 2) trade `rounds` seeded rounds; on_round(r) runs after each.
    Returns, per account, every report received as (ExecKind, ClOrdID), in order."""
    rng = random.Random(seed)
    clients = {acct: await Client.connect(*router.udp, key, f"{key}-secret", keepalive_ms=200)
               for key, acct in ACCOUNTS.items()}
    live: dict[int, list] = {acct: [] for acct in clients}
    reports: dict[int, list] = {acct: [] for acct in clients}
    try:
        for r in range(rounds):
            for acct, client in clients.items():
                msgs = round_messages(rng, client, live[acct])
                ids = await client.send_messages(msgs)
                await asyncio.wait_for(asyncio.gather(*(client.first_ack(cl) for cl in ids)), ACK_TIMEOUT_S)
                for m, cl in zip(msgs, ids, strict=True):
                    if isinstance(m, dict):
                        live[acct].append((cl, m["security_id"], m["side"]))
            if on_round is not None:
                await on_round(r)
        # A last request per client, one after the other: its answer comes after every report of
        # the commands before it (one session's reports are in engine order), so nothing is in flight.
        for client in clients.values():
            cl = (await client.send_messages([_cancel(client, (1, 1, Side.Buy))]))[0]
            await asyncio.wait_for(client.first_ack(cl), ACK_TIMEOUT_S)
        for acct, client in clients.items():
            reports[acct] += [(KINDS[type(m)], m.cl_ord_id) for m in drain(client)]
        return reports
    finally:
        for client in clients.values():
            await client.close()


class PublisherProcess:
    """`python -m udprouter.downstream.publisher` against a router's config; stopped by pid."""

    def __init__(self, work: Path, router, urls: str, *extra: str) -> None:
        self.work, self.router, self.urls, self.extra = work, router, urls, extra
        self.proc: subprocess.Popen | None = None
        self.log = work / "publisher.log"

    def start(self) -> PublisherProcess:
        env = dict(os.environ, **{ENGINE_BIN_ENV: os.environ.get(ENGINE_BIN_ENV) or str(engine_bin())})
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "udprouter.downstream.publisher", "--config", str(self.router.config),
                 "--nats", self.urls, *self.extra], cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                env=env, stdin=subprocess.DEVNULL)
        return self

    def wait_publishing(self) -> PublisherProcess:
        """Until it has found its place in the stream and holds the journal (its PUBLISHING line)."""
        deadline = time.monotonic() + DEADLINE_S
        while "PUBLISHING" not in self.log.read_text():
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "the publisher did not start"
            time.sleep(0.05)
        return self

    def stop(self, sig=None) -> None:
        if sig is None:
            stop_pid(self.proc)
        else:
            stop_pid(self.proc, sig)


def engine_bin() -> Path:
    from tests.system.conftest import engine_binary

    return engine_binary()


async def read_stream(urls: str, stream: str = STREAM) -> list:
    """Every message of the stream, in stream order: (headers, EngineEvent)."""
    return [(msg.headers, decode(msg.data)) for msg in await read_messages(urls, stream)]


async def read_messages(urls: str, stream: str = STREAM) -> list:
    """Every message of the stream, in stream order, as JetStream returns it (subject, headers, data)."""
    nc = await nats.connect(servers=urls.split(","), connect_timeout=2, max_reconnect_attempts=20,
                            reconnect_time_wait=0.2)
    try:
        js = nc.jetstream(timeout=10)
        info = await js.stream_info(stream)
        return [await js.get_msg(stream, seq) for seq in range(info.state.first_seq, info.state.last_seq + 1)]
    finally:
        await nc.close()


async def wait_for_stream_count(urls: str, count: int, stream: str = STREAM,
                                timeout: float = DEADLINE_S) -> int:
    """Polls the stream's message count until it reaches count (bounded); returns the last count seen."""
    nc = await nats.connect(servers=urls.split(","), connect_timeout=2, max_reconnect_attempts=-1,
                            reconnect_time_wait=0.2)
    seen = -1
    try:
        js = nc.jetstream(timeout=5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                seen = (await js.stream_info(stream)).state.messages
            except Exception:  # the stream not created yet, or a leader election
                seen = -1
            if seen >= count:
                return seen
            await asyncio.sleep(0.1)
        return seen
    finally:
        await nc.close()


def assert_stream_exact(messages: list, reports: dict[int, list[tuple[int, int]]],
                        engine_id: int = 1) -> None:
    """Every report of the run exactly once in the stream, per account in the order the client got it,
    and every identity unique and increasing."""
    ids = [(e.command_seq, e.event_index) for _, e in messages]
    assert len(set(ids)) == len(ids), "an event is in the stream twice"
    assert ids == sorted(ids), "the stream holds the engine's events in engine order"
    assert all(e.engine_id == engine_id for _, e in messages)
    assert all(h["Nats-Msg-Id"] == f"{engine_id}-{e.command_seq}-{e.event_index}" for h, e in messages)
    for account, expected in reports.items():
        got = [(e.execution.kind, e.execution.cl_ord_id) for _, e in messages
               if e.execution.account == account]
        assert got == expected, f"account {account}: the stream differs from the reports the client received"
    assert len(messages) == sum(len(r) for r in reports.values())
