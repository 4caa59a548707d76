"""udprouter-store: the JetStream stream of engine events into PostgreSQL (tables in the README).

    udprouter-store --nats nats://127.0.0.1:4222 --dsn postgresql://user@127.0.0.1:5432/db
                    [--stream UDPROUTER_EXEC] [--batch 256]

Exactly once and in stream order: the database holds its own position in the stream
(store_position, written in the same transaction as the batch's rows), and the store reads the
stream from the message after it through a consumer it creates at start (and again after any
broker error). A crash before a commit loses nothing (the batch is read again), a crash after one
doubles nothing. Every write is also an idempotent upsert keyed by the engine's event identity
(engine_id, command_seq, event_index), and an order's row only moves forward (an update applies
only when its event is newer than the one the row holds), so even a second store on the same
database could not double or roll back a row.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

import nats
import nats.errors
import nats.js.errors
import psycopg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from udprouter.downstream.events import STREAM, decode
from udprouter.downstream.publisher import RETRY_BACKOFF_S, connect, server_urls
from udprouter.errors import ConfigError

log = logging.getLogger("udprouter.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    engine_id      integer  NOT NULL,
    command_seq    bigint   NOT NULL,
    event_index    integer  NOT NULL,
    kind           smallint NOT NULL,
    session_id     bigint   NOT NULL,
    account        bigint   NOT NULL,
    security_id    integer  NOT NULL,
    cl_ord_id      numeric(20) NOT NULL,
    orig_cl_ord_id numeric(20) NOT NULL,
    order_id       bigint   NOT NULL,
    side           smallint NOT NULL,
    price          bigint   NOT NULL,
    qty            bigint   NOT NULL,
    leaves_qty     bigint   NOT NULL,
    cum_qty        bigint   NOT NULL,
    reason         smallint NOT NULL,
    recv_time_ns   bigint   NOT NULL,
    stream_seq     bigint   NOT NULL,
    PRIMARY KEY (engine_id, command_seq, event_index)
);
CREATE TABLE IF NOT EXISTS trades (
    engine_id    integer  NOT NULL,
    command_seq  bigint   NOT NULL,
    event_index  integer  NOT NULL,
    order_id     bigint   NOT NULL,
    account      bigint   NOT NULL,
    session_id   bigint   NOT NULL,
    security_id  integer  NOT NULL,
    side         smallint NOT NULL,
    cl_ord_id    numeric(20) NOT NULL,
    last_px      bigint   NOT NULL,
    last_qty     bigint   NOT NULL,
    aggressor    boolean  NOT NULL,
    recv_time_ns bigint   NOT NULL,
    PRIMARY KEY (engine_id, command_seq, event_index)
);
CREATE TABLE IF NOT EXISTS orders (
    engine_id    integer  NOT NULL,
    order_id     bigint   NOT NULL,
    account      bigint   NOT NULL,
    session_id   bigint   NOT NULL,
    security_id  integer  NOT NULL,
    side         smallint NOT NULL,
    cl_ord_id    numeric(20),
    price        bigint,
    order_qty    bigint,
    leaves_qty   bigint   NOT NULL,
    cum_qty      bigint   NOT NULL,
    status       text     NOT NULL,
    command_seq  bigint   NOT NULL,
    event_index  integer  NOT NULL,
    PRIMARY KEY (engine_id, order_id)
);
CREATE TABLE IF NOT EXISTS admin_actions (
    engine_id       integer  NOT NULL,
    command_seq     bigint   NOT NULL,
    event_index     integer  NOT NULL,
    account         bigint   NOT NULL,
    control         smallint NOT NULL,
    value           bigint   NOT NULL,
    refused         boolean  NOT NULL,
    orders_canceled bigint   NOT NULL,
    session_id      bigint   NOT NULL,
    recv_time_ns    bigint   NOT NULL,
    stream_seq      bigint   NOT NULL,
    PRIMARY KEY (engine_id, command_seq, event_index)
);
CREATE TABLE IF NOT EXISTS store_position (
    stream     text   PRIMARY KEY,
    stream_seq bigint NOT NULL
);
"""
SAVE_POSITION = """
INSERT INTO store_position VALUES (%s, %s)
ON CONFLICT (stream) DO UPDATE SET stream_seq = GREATEST(store_position.stream_seq, EXCLUDED.stream_seq)
"""

INSERT_EXECUTION = """
INSERT INTO executions VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING
"""
INSERT_TRADE = """
INSERT INTO trades VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING
"""
INSERT_ADMIN_ACTION = """
INSERT INTO admin_actions VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING
"""
UPSERT_ORDER = """
INSERT INTO orders AS o VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (engine_id, order_id) DO UPDATE SET
    cl_ord_id = COALESCE(EXCLUDED.cl_ord_id, o.cl_ord_id), price = COALESCE(EXCLUDED.price, o.price),
    order_qty = COALESCE(EXCLUDED.order_qty, o.order_qty), leaves_qty = EXCLUDED.leaves_qty,
    cum_qty = EXCLUDED.cum_qty, status = EXCLUDED.status, command_seq = EXCLUDED.command_seq,
    event_index = EXCLUDED.event_index
WHERE (o.command_seq, o.event_index) < (EXCLUDED.command_seq, EXCLUDED.event_index)
"""
ACCEPTED, TRADE, CANCELED, REPLACED, REJECTED, CANCEL_REJECTED = range(1, 7)
SESSION_RESET = 10  # ring_abi.h UDR_EVT_SESSION_RESET (7-9 are mass action, order status, account)


def order_row(event) -> tuple | None:
    """The orders row an event leaves, None for an event that changes no order (CANCEL_REJECTED,
    SESSION_RESET: a released session id made ready for reuse; its orders' CANCELED come before it).
    A rejected NewOrderSingle has no OrderID: its row takes the one it would have had, its command_seq."""
    x = event.execution
    if x.kind == CANCEL_REJECTED or x.kind == SESSION_RESET:
        return None
    order_id = x.order_id or event.command_seq
    if x.kind == TRADE:
        status = "filled" if x.leaves_qty == 0 else "partially_filled"
        cl_ord_id = price = order_qty = None  # a trade's price is LastPx, not the order's
    else:
        status = {ACCEPTED: "new", CANCELED: "canceled", REPLACED: "replaced", REJECTED: "rejected"}[x.kind]
        cl_ord_id = None if x.kind == CANCELED else x.cl_ord_id  # a cancel carries the request's id
        price, order_qty = (None, None) if x.kind == CANCELED else (x.price, x.qty)
    return (event.engine_id, order_id, x.account, x.session_id, x.security_id, x.side, cl_ord_id, price,
            order_qty, x.leaves_qty, x.cum_qty, status, event.command_seq, event.event_index)


def rows(events: list[tuple[int, object]]) -> tuple[list, list, list, list]:
    """The batch's rows by table. Mass action reports are not stored: the cancels they announce are
    (executions and orders, reason MassCancel / CancelOnDisconnect); bodies newer than this store
    are skipped (protocol/DOWNSTREAM.md)."""
    executions, trades, orders, admin = [], [], [], []
    for stream_seq, e in events:
        body = e.WhichOneof("body")
        if body == "admin_action":
            a = e.admin_action
            admin.append((e.engine_id, e.command_seq, e.event_index, a.account, a.control, a.value, a.refused,
                          a.orders_canceled, a.session_id, e.recv_time_ns, stream_seq))
            continue
        if body != "execution":
            continue
        x = e.execution
        executions.append((e.engine_id, e.command_seq, e.event_index, x.kind, x.session_id, x.account,
                           x.security_id, x.cl_ord_id, x.orig_cl_ord_id, x.order_id, x.side, x.price, x.qty,
                           x.leaves_qty, x.cum_qty, x.reason, e.recv_time_ns, stream_seq))
        if x.kind == TRADE:
            trades.append((e.engine_id, e.command_seq, e.event_index, x.order_id, x.account, x.session_id,
                           x.security_id, x.side, x.cl_ord_id, x.price, x.qty, x.aggressor, e.recv_time_ns))
        if (row := order_row(e)) is not None:
            orders.append(row)
    return executions, trades, orders, admin


class Store:
    def __init__(self, servers: list[str], dsn: str, stream: str, batch: int) -> None:
        self.servers, self.dsn, self.stream, self.batch = servers, dsn, stream, batch
        self.stored = 0
        self.position = 0  # the last stream sequence written
        self.stopping = asyncio.Event()

    async def run(self) -> int:
        db = await psycopg.AsyncConnection.connect(self.dsn)
        nc = await connect(self.servers)
        try:
            async with db.transaction():
                await db.execute(SCHEMA)
                row = await (await db.execute("SELECT stream_seq FROM store_position WHERE stream = %s",
                                              (self.stream,))).fetchone()
            self.position = row[0] if row else 0
            js = nc.jetstream(timeout=10)
            print(f"STORING stream={self.stream} after={self.position}", flush=True)
            sub = None
            while not self.stopping.is_set():
                if sub is None:
                    sub = await self.subscribe(js)
                try:
                    msgs = await sub.fetch(self.batch, timeout=0.5)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                except (nats.errors.Error, nats.js.errors.Error) as exc:
                    log.warning("fetch failed (%s); reading again from %d", exc, self.position + 1)
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                    sub = None
                    await asyncio.sleep(RETRY_BACKOFF_S[0])
                    continue
                batch = [(m.metadata.sequence.stream, m.data) for m in msgs]
                batch = [(seq, decode(data)) for seq, data in batch if seq > self.position]
                if batch:
                    await self.write(db, batch)
            return 0
        finally:
            with contextlib.suppress(Exception):
                await nc.close()
            await db.close()

    async def subscribe(self, js):
        """A consumer of the stream from the message after our position (ephemeral: the database,
        not the broker, remembers where we are)."""
        delay = RETRY_BACKOFF_S[0]
        while True:
            try:
                return await js.pull_subscribe(
                    "", durable=None, stream=self.stream,
                    config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                          opt_start_seq=self.position + 1, ack_policy=AckPolicy.NONE,
                                          inactive_threshold=60.0))
            except (nats.errors.Error, nats.js.errors.Error) as exc:
                log.warning("stream %s not available (%s); retrying", self.stream, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_BACKOFF_S[1])

    async def write(self, db, events: list) -> None:
        executions, trades, orders, admin = rows(events)
        async with db.transaction():
            async with db.cursor() as cur:
                if executions:
                    await cur.executemany(INSERT_EXECUTION, executions)
                if admin:
                    await cur.executemany(INSERT_ADMIN_ACTION, admin)
                if trades:
                    await cur.executemany(INSERT_TRADE, trades)
                if orders:
                    await cur.executemany(UPSERT_ORDER, orders)
                await cur.execute(SAVE_POSITION, (self.stream, events[-1][0]))
        self.position = events[-1][0]
        self.stored += len(events)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="udprouter-store", description=__doc__.split("\n")[0])
    p.add_argument("--nats", default="nats://127.0.0.1:4222", help="comma-separated server URLs")
    p.add_argument("--dsn", required=True, help="PostgreSQL connection string")
    p.add_argument("--stream", default=STREAM)
    p.add_argument("--batch", type=int, default=256, help="messages per fetch and per transaction")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        if args.batch < 1:
            raise ConfigError(f"--batch: expected >= 1, got {args.batch}")
        servers = server_urls(args.nats)
    except ConfigError as exc:
        print(f"udprouter-store: {exc}", file=sys.stderr)
        return 2

    async def run() -> int:
        store = Store(servers, args.dsn, args.stream, args.batch)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, store.stopping.set)
        try:
            return await store.run()
        except psycopg.OperationalError as exc:
            print(f"udprouter-store: database: {exc}".strip(), file=sys.stderr)
            return 1
        finally:
            log.info("stored %d events", store.stored)

    return asyncio.run(run())


if __name__ == "__main__":
    raise SystemExit(main())
