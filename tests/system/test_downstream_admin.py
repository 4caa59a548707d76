"""Admin actions on the JetStream stream and in the store: a kill switch on and off, a limit change
and an admin mass cancel through `udprouter admin` against the real router and engine, a real
nats-server and a real PostgreSQL. Each is on the stream exactly once with its own body on
udprouter.admin.<account> (reads such as `limits get` are not), also with the publisher SIGKILLed
and restarted in between, and in the store's admin_actions table exactly once."""

from __future__ import annotations

import signal

import nats
import psycopg
from nats.js.api import StreamConfig

from tests.system.downstream_checks import PublisherProcess, read_messages, wait_for_stream_count
from tests.system.test_admin import CONFIG, PRICE, TICK, connect, ok, report
from tests.system.test_downstream_store import StoreProcess, postgres, wait_for_rows  # noqa: F401 (fixture)
from udprouter._generated.messages import (
    CancelReason,
    ExecutionReportCancel,
    ExecutionReportNew,
    ExecutionReportStatus,
    OrderMassActionReport,
    Side,
)
from udprouter.downstream.events import STREAM, decode
from udprouter.downstream.local import NatsServer, stop_pid

KILL_SWITCH, MAX_ORDER_NOTIONAL = 6, 1  # downstream_events.proto AccountControl
CANCELED = 3  # ExecKind
KILL_SWITCH_REASON, MASS_CANCEL_REASON = int(CancelReason.KillSwitch), int(CancelReason.MassCancel)


async def read_subjects(url: str) -> list[tuple[str, object]]:
    """Every message of the stream in stream order: (subject, EngineEvent)."""
    return [(msg.subject, decode(msg.data)) for msg in await read_messages(url)]


async def stream_has(url: str, count: int) -> None:
    assert await wait_for_stream_count(url, count) >= count


async def test_admin_actions_once_on_the_stream_and_in_the_store(start_router, tmp_path, postgres):  # noqa: F811
    router = start_router(CONFIG)
    server = NatsServer(tmp_path / "nats").start()
    publisher = PublisherProcess(tmp_path, router, server.url).start().wait_publishing()
    store = StoreProcess(tmp_path, server.url, postgres.dsn)
    a = await connect(router, "demo")
    try:
        for i in range(2):
            await a.send_order(1, Side.Buy, PRICE - (i + 1) * TICK, 1)
            assert isinstance(await report(a), ExecutionReportNew)
        assert ok(router, "kill-switch", "on", "--account", "1")["canceled_orders"] == 2
        for _ in range(2):
            assert (await report(a)).cancel_reason == CancelReason.KillSwitch
        await stream_has(server.url, 5)  # 2 accepted, the admin action, its 2 cancels

        publisher.stop(signal.SIGKILL)
        assert ok(router, "kill-switch", "off", "--account", "1")["canceled_orders"] == 0
        assert ok(router, "limits", "get", "--account", "1")["limits"]["kill_switch"] is False  # a read
        publisher = PublisherProcess(tmp_path, router, server.url).start().wait_publishing()
        limits = ok(router, "limits", "set", "--account", "1", "--max-order-notional", "500")["limits"]
        assert limits["max_order_notional"] == "500"
        await a.send_order(2, Side.Sell, PRICE + TICK, 1)
        assert isinstance(await report(a), ExecutionReportNew)
        assert ok(router, "mass-cancel", "--account", "1") == {"canceled_orders": 1}
        assert isinstance(await report(a), ExecutionReportCancel)
        # The last order's ACCEPTED is on the stream after everything before it (engine order).
        await a.send_order(3, Side.Buy, PRICE - TICK, 1)
        assert isinstance(await report(a), ExecutionReportNew)
        await stream_has(server.url, 11)
        messages = await read_subjects(server.url)
        bodies = [e.WhichOneof("body") for _, e in messages]
        assert bodies.count("execution") == 7, bodies
        ids = [(e.command_seq, e.event_index) for _, e in messages]
        assert len(set(ids)) == len(ids) == 11 and ids == sorted(ids)

        admin = [(s, e.admin_action) for s, e in messages if e.WhichOneof("body") == "admin_action"]
        assert [(s, x.account, x.control, x.value, x.refused, x.orders_canceled, x.session_id)
                for s, x in admin] == [
            ("udprouter.admin.1", 1, KILL_SWITCH, 1, False, 2, 0),
            ("udprouter.admin.1", 1, KILL_SWITCH, 0, False, 0, 0),
            ("udprouter.admin.1", 1, MAX_ORDER_NOTIONAL, 500, False, 0, 0)]
        (subject, mass), = [(s, e.mass_action) for s, e in messages if e.WhichOneof("body") == "mass_action"]
        assert (subject, mass.session_id, mass.account, mass.orders_canceled, mass.refused) == (
            "udprouter.admin.1", 0, 1, 1, False)
        cancels = [(s, e.execution.reason) for s, e in messages
                   if e.WhichOneof("body") == "execution" and e.execution.kind == CANCELED]
        assert cancels == [("udprouter.exec.1.1", KILL_SWITCH_REASON)] * 2 + [
            ("udprouter.exec.1.2", MASS_CANCEL_REASON)]
        assert all(e.execution.account == 1 for _, e in messages if e.WhichOneof("body") == "execution")

        assert await wait_for_rows(postgres.dsn, "executions", 7) == 7, store.log.read_text()[-2000:]
        assert await wait_for_rows(postgres.dsn, "admin_actions", 3) == 3, store.log.read_text()[-2000:]
        with psycopg.connect(postgres.dsn) as db:
            rows = db.execute("SELECT account, control, value, refused, orders_canceled FROM admin_actions "
                              "ORDER BY command_seq, event_index").fetchall()
        assert rows == [(1, KILL_SWITCH, 1, False, 2), (1, KILL_SWITCH, 0, False, 0),
                        (1, MAX_ORDER_NOTIONAL, 500, False, 0)]
        assert store.proc.poll() is None, store.log.read_text()[-2000:]
    finally:
        await a.close()
        stop_pid(store.proc)
        publisher.stop()
        server.stop()



async def create_stream_before_admin_subjects(url: str) -> None:
    """The stream as publishers before admin subjects created it: udprouter.exec.> only."""
    nc = await nats.connect(servers=[url], connect_timeout=2)
    try:
        await nc.jetstream(timeout=10).add_stream(StreamConfig(name=STREAM, subjects=["udprouter.exec.>"]))
    finally:
        await nc.close()


async def test_a_sessions_mass_cancel_keeps_its_account_and_order_status_is_left_out(router, tmp_path):
    """Also: a stream created before admin subjects existed gets them when the publisher starts."""
    server = NatsServer(tmp_path / "nats").start()
    await create_stream_before_admin_subjects(server.url)
    publisher = PublisherProcess(tmp_path, router, server.url).start()
    a = await connect(router, "demo")
    try:
        for security_id in (1, 2):
            cl = await a.send_order(security_id, Side.Buy, PRICE - TICK, 1)
            assert isinstance(await report(a), ExecutionReportNew)
        await a.order_status(cl, 2)
        assert isinstance(await report(a), ExecutionReportStatus)
        mass_cl = await a.cancel_all()
        assert isinstance(await report(a), OrderMassActionReport)
        for _ in range(2):
            assert (await report(a)).cancel_reason == CancelReason.MassCancel
        await a.send_order(3, Side.Buy, PRICE - TICK, 1)  # after everything above in engine order
        assert isinstance(await report(a), ExecutionReportNew)
        await stream_has(server.url, 6)
        messages = await read_subjects(server.url)
        assert len(messages) == 6
        assert [s for s, _ in messages] == [
            "udprouter.exec.1.1", "udprouter.exec.1.2", "udprouter.admin.1", "udprouter.exec.1.1",
            "udprouter.exec.1.2", "udprouter.exec.1.3"]
        mass = messages[2][1].mass_action
        assert (mass.account, mass.cl_ord_id, mass.orders_canceled, mass.refused) == (1, mass_cl, 2, False)
        assert mass.session_id == messages[0][1].execution.session_id != 0
        assert [e.execution.reason for _, e in messages[3:5]] == [MASS_CANCEL_REASON] * 2
        assert all(e.execution.account == 1 for _, e in messages if e.WhichOneof("body") == "execution")
    finally:
        await a.close()
        publisher.stop()
        server.stop()
