"""A gRPC session across a router restart (SIGKILL with its engine, or SIGTERM) on the default
durability (os), through the public interfaces: the gRPC client, a UDP client, the metrics port.

The key's gRPC flow is journaled in the router log like a UDP session: after the restart its server
sequence numbers (so its ExecIDs) continue and never repeat, StreamExecutions from an old seq_no
returns the reports sent before the crash unchanged, a UDP Negotiate with the flow's SessionId does
not take it over, and the events the new engine emits for commands the dead router never saw
answered are sequenced into the flow (none undeliverable).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import grpc
import pytest
from grpc_router import free_tcp_port
from report_checks import metric

from fallback_grpc._generated import order_entry_pb2 as pb
from fallback_grpc._generated import order_entry_pb2_grpc as pb_grpc
from fallback_grpc.client import OrderEntryClient, bearer_metadata
from udprouter.client import Client, SessionError
from udprouter.durability.session_store import grpc_session_uuid

KEY, SECRET = "demo", "demo-secret"
PRICE = 100_000_000_000
TICK = 10_000_000
SEQ_MASK = (1 << 40) - 1
CALL_TIMEOUT_S = 20.0
EXIT_TIMEOUT_S = 20.0


@pytest.fixture
def grpc_router(start_router):
    port = free_tcp_port()  # fixed: the restarted router serves gRPC where the first one did
    router = start_router(f'[grpc]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n')
    router.grpc_target = f"127.0.0.1:{port}"
    return router


def target(router) -> str:
    return router.grpc_target


def order(cl_ord_id: int) -> pb.NewOrderSingle:
    """A resting limit Day buy (below the reference price: nothing trades)."""
    return pb.NewOrderSingle(cl_ord_id=cl_ord_id, security_id=1, side=pb.SIDE_BUY, ord_type=pb.ORD_TYPE_LIMIT,
                             time_in_force=pb.TIME_IN_FORCE_DAY, price=PRICE - 10 * TICK, order_qty=5)


async def submit(router, cl_ord_id: int, packed: bool = False) -> int:
    """One order over gRPC (SubmitOrder, or SubmitOrdersPacked); its accepted ExecID."""
    async with OrderEntryClient(target(router), KEY, SECRET, timeout_s=CALL_TIMEOUT_S) as client:
        if packed:
            result = (await client.submit_batch([order(cl_ord_id)]))[0]
        else:
            result = await client.submit_unary(order(cl_ord_id))
    assert result.WhichOneof("result") == "accepted", result
    return result.accepted.exec_id


async def stream(router, from_seq_no: int, count: int, until=None) -> list[pb.ExecutionReport]:
    """The first count reports StreamExecutions delivers from from_seq_no (or up to the first one
    for which until(report) is true)."""
    async def read() -> list[pb.ExecutionReport]:
        reports = []
        async with OrderEntryClient(target(router), KEY, SECRET) as client:
            async for report in client.stream_executions(from_seq_no):
                reports.append(report)
                if len(reports) == count if until is None else until(report):
                    return reports
        return reports

    return await asyncio.wait_for(read(), CALL_TIMEOUT_S)


def exec_id(report: pb.ExecutionReport) -> int:
    return getattr(report, report.WhichOneof("report")).exec_id


def wait_gone(pid: int) -> None:
    deadline = time.monotonic() + EXIT_TIMEOUT_S
    while True:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if ") Z" in stat.read():
                    return
        except OSError:
            return
        assert time.monotonic() < deadline, f"process {pid} did not exit"
        time.sleep(0.01)


def crash(router, sig: int) -> None:
    """The router ends by sig; with SIGKILL its engine is SIGKILLed too (nothing shuts down)."""
    engine = router.engine_pid
    router.proc.send_signal(sig)
    if sig == signal.SIGKILL:
        os.kill(engine, signal.SIGKILL)
    router.proc.wait(EXIT_TIMEOUT_S)
    wait_gone(engine)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
async def test_grpc_numbers_and_reports_continue_across_a_restart(grpc_router, sig):
    router = grpc_router
    first = await submit(router, 1)
    second = await submit(router, 2, packed=True)
    assert second == first + 1
    before = await stream(router, 1, 2)
    assert [(r.seq_no, exec_id(r)) for r in before] == [(x & SEQ_MASK, x) for x in (first, second)]

    crash(router, sig)
    router.restart()

    after = await stream(router, 1, 2)  # the reports seen before the crash, the same bytes
    assert [r.SerializeToString() for r in after] == [r.SerializeToString() for r in before]
    third = await submit(router, 3)
    fourth = await submit(router, 4, packed=True)
    assert (third, fourth) == (second + 1, second + 2), "the numbering continues: no ExecID given twice"
    assert [(r.seq_no, exec_id(r)) for r in await stream(router, 1, 4)][2:] == \
        [(third & SEQ_MASK, third), (fourth & SEQ_MASK, fourth)]
    # The ClOrdID mark survived too: an old ClOrdID is a duplicate, not a new order.
    async with OrderEntryClient(target(router), KEY, SECRET, timeout_s=CALL_TIMEOUT_S) as client:
        again = await client.submit_unary(order(2))
    assert again.WhichOneof("result") == "rejected"


async def test_a_udp_negotiate_does_not_take_over_the_grpc_flow(grpc_router):
    router = grpc_router
    first = await submit(router, 1)
    flow_id = grpc_session_uuid(KEY)
    with pytest.raises(SessionError, match="DuplicateId"):
        await Client.connect(*router.udp, KEY, SECRET, session_id=flow_id, retries=2)

    crash(router, signal.SIGKILL)
    router.restart()

    with pytest.raises(SessionError, match="DuplicateId"):
        await Client.connect(*router.udp, KEY, SECRET, session_id=flow_id, retries=2)
    assert await submit(router, 2) == first + 1  # the flow is still the gRPC session's


async def test_another_key_cannot_take_a_grpc_flow_over_udp(grpc_router):
    """A hostile client holding a valid key (demo2) Negotiates with demo's gRPC flow SessionId
    before demo's first gRPC call: refused, so the flow's session id (and its reports) stay demo's."""
    router = grpc_router
    with pytest.raises(SessionError, match="DuplicateId"):
        await Client.connect(*router.udp, "demo2", "demo2-secret", session_id=grpc_session_uuid(KEY),
                             retries=2)
    first = await submit(router, 1)
    assert first & SEQ_MASK == 1  # demo's own flow, from its first number


async def test_a_grpc_flow_id_recorded_for_another_key_is_refused_not_shared(start_router, tmp_path):
    """A journal whose session store already gives demo's gRPC SessionId to demo2 (taken over UDP by
    a router from before the refusal above): demo's gRPC calls fail with FAILED_PRECONDITION naming
    it, instead of sharing demo2's session id."""
    journal = tmp_path / "journal"
    journal.mkdir()
    (journal / "sessions.log").write_text(f"1 {grpc_session_uuid(KEY).hex()} demo2\n")
    port = free_tcp_port()
    router = start_router(f'[grpc]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n', journal=journal)
    router.grpc_target = f"127.0.0.1:{port}"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await submit(router, 1)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "demo2" in refused.value.details()


async def test_events_of_an_order_the_dead_router_never_answered_reach_the_grpc_flow(grpc_router):
    """The engine is stopped while an order is in the ring; the router and the engine are killed.
    The new engine executes it after the restart: its report is sequenced into the restored flow
    right after the reports sent before the crash (nothing undeliverable)."""
    router = grpc_router
    first = await submit(router, 1)
    published = metric(router, "udprouter_commands_published_total")
    engine = router.engine_pid
    os.kill(engine, signal.SIGSTOP)
    try:
        call = asyncio.create_task(submit(router, 2))
        deadline = time.monotonic() + CALL_TIMEOUT_S
        while metric(router, "udprouter_commands_published_total") == published:
            assert time.monotonic() < deadline, "the order never reached the ring"
            await asyncio.sleep(0.02)
        crash(router, signal.SIGKILL)  # a stopped process dies of SIGKILL too
    except BaseException:
        os.kill(engine, signal.SIGCONT)  # the fixture's stop ends it with its router
        raise
    with pytest.raises(Exception):  # noqa: B017 - the call's router is gone: any RPC error
        await call
    router.restart()

    reports = await stream(router, 1, 2)
    assert [r.seq_no for r in reports] == [first & SEQ_MASK, (first & SEQ_MASK) + 1]
    assert reports[1].WhichOneof("report") == "accepted" and reports[1].accepted.cl_ord_id == 2
    assert metric(router, "udprouter_events_undeliverable_total") == 0
    assert await submit(router, 3) == first + 2



async def order_status(router, cl_ord_id: int) -> int:
    """The order's OrdStatus (OrderStatus opens no stream: it leaves an armed cancel armed)."""
    async with grpc.aio.insecure_channel(target(router)) as channel:
        response = await pb_grpc.OrderEntryStub(channel).OrderStatus(
            pb.OrderStatusRequest(cl_ord_id=cl_ord_id, security_id=1), metadata=bearer_metadata(KEY, SECRET),
            timeout=CALL_TIMEOUT_S)
    return response.result.status.ord_status


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
async def test_a_cancel_on_disconnect_asked_by_the_open_stream_outlives_the_router(grpc_router, sig):
    """SPEC 4.6.1 for a gRPC session: its stream asked for cancel on disconnect and was open when the
    router went, which is its disconnect: a stop cancels its orders before the engine stops, after a
    crash they are canceled one window after the restart."""
    router = grpc_router
    await submit(router, 1)
    async with grpc.aio.insecure_channel(target(router)) as channel:
        call = pb_grpc.OrderEntryStub(channel).StreamExecutions(
            pb.StreamExecutionsRequest(cancel_on_disconnect_type=pb.CANCEL_ON_DISCONNECT_TYPE_CANCEL_ON_DISCONNECT_ONLY,
                                       cod_timeout_window=200), metadata=bearer_metadata(KEY, SECRET))
        await call.initial_metadata()  # the stream is open: what it asked for is in router.log
        crash(router, sig)
        call.cancel()
    router.restart()

    deadline = time.monotonic() + CALL_TIMEOUT_S
    while await order_status(router, 1) != pb.ORD_STATUS_CANCELED:
        assert time.monotonic() < deadline, "the crash lost the cancel on disconnect"
        await asyncio.sleep(0.05)
    reports = await stream(router, 1, 0, until=lambda r: r.WhichOneof("report") == "cancel")
    assert reports[-1].cancel.cancel_reason == pb.CANCEL_REASON_CANCEL_ON_DISCONNECT
