"""Trading safety controls end to end over UDP (both ingest paths): self-match prevention on by
default, mass cancel by scope, order status, and the account limits of [[accounts]] at their
boundaries, through the real router and engine."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from tests.system.test_router_crash import engine_alive
from tests.system.udp_clients import clients, no_more_reports, reports
from udprouter._generated.messages import (
    BusinessMessageReject,
    CancelReason,
    CxlRejReason,
    ExecutionReportCancel,
    ExecutionReportNew,
    ExecutionReportReject,
    ExecutionReportReplace,
    ExecutionReportStatus,
    ExecutionReportTrade,
    MassActionRejectReason,
    MassActionResponse,
    MassActionScope,
    OrderCancelReject,
    OrderMassActionReport,
    OrdRejReason,
    OrdStatus,
    OrdType,
    Side,
    TimeInForce,
)

PRICE = 100_000_000_000  # 100.00
TICK = 10_000_000
ENGINE_RESTART_S = 30.0


@pytest.fixture(params=[True, False], ids=["fast_path", "python_path"])
def fast_path(request) -> bool:
    return request.param


async def test_self_match_prevention_is_on_by_default_and_cancels_the_resting_order(router):
    async with clients(router, "demo") as (a,):
        resting = await a.send_order(1, Side.Sell, PRICE, 5)
        await reports(a, 1)
        incoming = await a.send_order(1, Side.Buy, PRICE, 5)
        new, cancel = await reports(a, 2)
        assert isinstance(new, ExecutionReportNew) and new.cl_ord_id == incoming
        assert isinstance(cancel, ExecutionReportCancel)
        assert (cancel.cl_ord_id, cancel.cancel_reason) == (resting, CancelReason.SelfMatchPrevention)
        status = await a.order_status(incoming, 1)
        (live,) = await reports(a, 1)
        assert (live.cl_ord_id, live.ord_status, live.leaves_qty) == (status, OrdStatus.New, 5)


SMP_CONFIG = """
[[accounts]]
account = 1
smp = "{mode}"
"""


@pytest.mark.parametrize("mode,resting_canceled,incoming_canceled", [
    ("cancel_resting", True, False), ("cancel_aggressing", False, True), ("cancel_both", True, True),
    ("none", False, False)])
async def test_each_self_match_prevention_mode(start_router, mode, resting_canceled, incoming_canceled):
    router = start_router(SMP_CONFIG.format(mode=mode))
    async with clients(router, "demo") as (a,):
        resting = await a.send_order(2, Side.Sell, PRICE, 5)
        await reports(a, 1)
        incoming = await a.send_order(2, Side.Buy, PRICE, 5)
        got = await reports(a, 1 + (2 if mode == "none" else resting_canceled + incoming_canceled))
        assert isinstance(got[0], ExecutionReportNew)
        cancels = {(r.cl_ord_id, r.cancel_reason) for r in got[1:] if isinstance(r, ExecutionReportCancel)}
        want = set()
        if resting_canceled:
            want.add((resting, CancelReason.SelfMatchPrevention))
        if incoming_canceled:
            want.add((incoming, CancelReason.SelfMatchPreventionAggressor))
        assert cancels == want
        if mode == "none":
            assert [type(r) for r in got[1:]] == [ExecutionReportTrade, ExecutionReportTrade]
        await no_more_reports(a)


async def test_mass_cancel_by_security_and_side_then_all_only_touches_the_sessions_orders(router):
    async with clients(router, "demo", "demo2") as (a, b):
        mine = [await a.send_order(sec, side, PRICE - TICK if side == Side.Buy else PRICE + TICK, 1)
                for sec in (1, 2) for side in (Side.Buy, Side.Sell)]
        await reports(a, 4)
        other = await b.send_order(1, Side.Buy, PRICE - TICK, 1)
        await reports(b, 1)

        request = await a.cancel_all(security_id=1, side=Side.Sell)
        report, cancel = await reports(a, 2)
        assert isinstance(report, OrderMassActionReport)
        assert (report.cl_ord_id, report.mass_action_response, report.total_affected_orders) == (
            request, MassActionResponse.Accepted, 1)
        assert (report.mass_action_scope, report.security_id, report.side) == (
            MassActionScope.AllOrdersForASecurity, 1, Side.Sell)
        assert (cancel.cl_ord_id, cancel.cancel_reason) == (mine[1], CancelReason.MassCancel)

        await a.cancel_all(security_id=1)
        report, cancel = await reports(a, 2)
        assert report.total_affected_orders == 1 and cancel.cl_ord_id == mine[0]

        await a.cancel_all()
        report, *cancels = await reports(a, 3)
        assert report.mass_action_scope == MassActionScope.AllOrders and report.total_affected_orders == 2
        assert sorted(c.cl_ord_id for c in cancels) == mine[2:]
        await no_more_reports(b)
        await b.order_status(other, 1)
        (status,) = await reports(b, 1)
        assert status.ord_status == OrdStatus.New


async def test_mass_cancel_of_an_unknown_security_is_rejected(router):
    async with clients(router, "demo") as (a,):
        await a.cancel_all(security_id=99)
        (report,) = await reports(a, 1)
        assert (report.mass_action_response, report.mass_action_reject_reason) == (
            MassActionResponse.Rejected, MassActionRejectReason.InvalidOrUnknownSecurity)


async def test_order_status_of_live_partly_filled_and_unknown_orders(router):
    async with clients(router, "demo", "demo2") as (a, b):
        cl = await a.send_order(3, Side.Sell, PRICE, 10)
        await reports(a, 1)
        await a.order_status(cl, 3)
        (status,) = await reports(a, 1)
        assert isinstance(status, ExecutionReportStatus)
        assert (status.ord_status, status.leaves_qty, status.cum_qty, status.price, status.side) == (
            OrdStatus.New, 10, 0, PRICE, Side.Sell)
        await b.send_order(3, Side.Buy, PRICE, 4)
        await reports(b, 2)
        await reports(a, 1)
        await a.order_status(cl, 3)
        (status,) = await reports(a, 1)
        assert (status.ord_status, status.leaves_qty, status.cum_qty) == (OrdStatus.PartiallyFilled, 6, 4)
        await a.order_status(cl + 1000, 3)
        (unknown,) = await reports(a, 1)
        assert (unknown.cl_ord_id, unknown.ord_status, unknown.side) == (cl + 1000, OrdStatus.Rejected, None)



async def test_order_status_of_filled_and_canceled_orders(router):
    """Orders that left the book (filled in full, resting or aggressing; canceled by the client)
    still answer with their final state: OrdStatus Filled or Canceled, LeavesQty 0, their CumQty."""
    async with clients(router, "demo", "demo2") as (a, b):
        filled = await a.send_order(3, Side.Sell, PRICE, 10)
        canceled = await a.send_order(3, Side.Sell, PRICE + TICK, 7)
        new_filled, new_canceled = await reports(a, 2)
        aggressor = await b.send_order(3, Side.Buy, PRICE, 10)
        await reports(b, 2)
        await reports(a, 1)
        await a.cancel(canceled, 3, Side.Sell)
        (cancel,) = await reports(a, 1)
        assert isinstance(cancel, ExecutionReportCancel)

        await a.order_status(filled, 3)
        (status,) = await reports(a, 1)
        assert isinstance(status, ExecutionReportStatus) and status.cl_ord_id == filled
        assert (status.ord_status, status.order_id, status.side, status.price, status.leaves_qty,
                status.cum_qty) == (OrdStatus.Filled, new_filled.order_id, Side.Sell, PRICE, 0, 10)
        await b.order_status(aggressor, 3)
        (status,) = await reports(b, 1)
        assert (status.ord_status, status.side, status.leaves_qty, status.cum_qty) == (
            OrdStatus.Filled, Side.Buy, 0, 10)
        await a.order_status(canceled, 3)
        (status,) = await reports(a, 1)
        assert (status.ord_status, status.order_id, status.side, status.price, status.leaves_qty,
                status.cum_qty) == (OrdStatus.Canceled, new_canceled.order_id, Side.Sell, PRICE + TICK, 0, 0)
        # Another session's ClOrdID, or another SecurityID, stays unknown.
        await b.order_status(filled, 3)
        (unknown,) = await reports(b, 1)
        assert unknown.ord_status == OrdStatus.Rejected
        await a.order_status(filled, 1)
        (unknown,) = await reports(a, 1)
        assert unknown.ord_status == OrdStatus.Rejected
        # A terminal order's ClOrdID is not reusable (ClOrdIDs rise within a session): a new order
        # under it is a duplicate, and the filled order still answers.
        await a.send_order(3, Side.Sell, PRICE, 1, cl_ord_id=filled)
        (reject,) = await reports(a, 1)
        assert isinstance(reject, ExecutionReportReject)
        assert reject.ord_rej_reason == OrdRejReason.DuplicateOrder
        await a.order_status(filled, 3)
        (status,) = await reports(a, 1)
        assert (status.ord_status, status.cum_qty) == (OrdStatus.Filled, 10)


async def status_from_a_running_engine(client, cl_ord_id: int, security_id: int):
    """The order's ExecutionReportStatus, asked again while the engine is not serving (bounded)."""
    deadline = time.monotonic() + ENGINE_RESTART_S
    while time.monotonic() < deadline:
        await client.order_status(cl_ord_id, security_id)
        (answer,) = await reports(client, 1, timeout=ENGINE_RESTART_S)
        if isinstance(answer, ExecutionReportStatus):
            return answer
        assert isinstance(answer, BusinessMessageReject), answer
        await asyncio.sleep(0.1)
    raise AssertionError(f"no order status within {ENGINE_RESTART_S} s of the engine crash")


@pytest.mark.parametrize("snapshot_every", [0, 4], ids=["journal_replay", "from_snapshot"])
async def test_order_status_of_filled_and_canceled_orders_after_an_engine_crash(start_router, snapshot_every):
    """The terminal orders are engine state: SIGKILL the engine, the router restarts it, it recovers
    from its journal (from the start, or from a snapshot that carries the terminal table) and answers
    as before."""
    router = start_router(f"[journal]\nsnapshot_every = {snapshot_every}\n")
    async with clients(router, "demo", "demo2") as (a, b):
        filled = await a.send_order(3, Side.Sell, PRICE, 10)
        canceled = await a.send_order(3, Side.Sell, PRICE + TICK, 7)
        await reports(a, 2)
        await b.send_order(3, Side.Buy, PRICE, 10)
        await reports(b, 2)
        await reports(a, 1)
        await a.cancel(canceled, 3, Side.Sell)
        await reports(a, 1)
        live = await a.send_order(3, Side.Sell, PRICE + 2 * TICK, 3)
        await reports(a, 1)
        before = [await status_from_a_running_engine(a, cl, 3) for cl in (filled, canceled, live)]
        assert [s.ord_status for s in before] == [OrdStatus.Filled, OrdStatus.Canceled, OrdStatus.New]

        engine = router.engine_pid
        os.kill(engine, signal.SIGKILL)
        deadline = time.monotonic() + ENGINE_RESTART_S
        while engine_alive(engine) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not engine_alive(engine)
        after = [await status_from_a_running_engine(a, cl, 3) for cl in (filled, canceled, live)]
        fields = ("cl_ord_id", "order_id", "ord_status", "side", "price", "leaves_qty", "cum_qty")
        def rows(statuses):
            return [[getattr(s, f) for f in fields] for s in statuses]
        assert rows(after) == rows(before)
    if snapshot_every:
        assert list(router.journal.glob("snapshot-*.bin")), "no snapshot written: the test would not cover it"

LIMITS_CONFIG = """
[[accounts]]
account = 1
max_order_notional = 1000
max_open_notional = 1500
max_position = 10
max_orders_per_s = 0
"""


async def test_account_limits_from_the_config_at_and_one_past_each_boundary(start_router):
    router = start_router(LIMITS_CONFIG)
    async with clients(router, "demo", "demo2", "demo") as (a, b, a2):
        # Fat finger: 10 x 100.00 = 1000 is the limit; 10 x 100.01 is past it.
        await a.send_order(1, Side.Buy, PRICE + TICK, 10)
        (reject,) = await reports(a, 1)
        assert isinstance(reject, ExecutionReportReject)
        assert reject.ord_rej_reason == OrdRejReason.ExceededMaxNotionalOrderAmt
        await a.send_order(1, Side.Buy, PRICE - 100 * TICK, 10)  # 990: rests, open buy notional 990
        (new,) = await reports(a, 1)
        assert isinstance(new, ExecutionReportNew)
        # Credit: 990 + 5 x 100.00 = 1490 fits; + 1 x 99.00 would be 1589 > 1500.
        await a.send_order(2, Side.Buy, PRICE, 5)
        assert isinstance((await reports(a, 1))[0], ExecutionReportNew)
        await a.send_order(2, Side.Buy, PRICE - 100 * TICK, 1)
        (reject,) = await reports(a, 1)
        assert reject.ord_rej_reason == OrdRejReason.InsufficientCreditLimit
        # Another session of the same account meets the same credit limit.
        await a2.send_order(1, Side.Buy, PRICE - 100 * TICK, 1)
        (reject,) = await reports(a2, 1)
        assert reject.ord_rej_reason == OrdRejReason.InsufficientCreditLimit
        # Position: buy 10 against demo2 fills to +10 (the limit); one more is past it.
        await b.send_order(3, Side.Sell, PRICE, 20)
        await reports(b, 1)
        await a.send_order(3, Side.Buy, PRICE, 10, time_in_force=TimeInForce.ImmediateOrCancel)
        new, trade = await reports(a, 2)
        assert isinstance(trade, ExecutionReportTrade) and trade.cum_qty == 10
        await a.send_order(3, Side.Buy, PRICE, 1, time_in_force=TimeInForce.ImmediateOrCancel)
        (reject,) = await reports(a, 1)
        assert reject.ord_rej_reason == OrdRejReason.PositionLimitExceeded
        await a.send_order(3, Side.Sell, PRICE, 1, ord_type=OrdType.Limit,
                           time_in_force=TimeInForce.ImmediateOrCancel)
        assert isinstance((await reports(a, 1))[0], ExecutionReportNew)



async def test_a_replace_meets_the_account_limits_like_a_new_order(start_router):
    """OrderCancelReplaceRequest is checked against the account's limits as the order would stand
    after it: Price x OrderQty per order, the side's open notional with the order's own share
    replaced, and the position if the order's remainder filled. The boundary passes, one past it
    is an OrderCancelReject with that limit's reason, and the order stays as it was."""
    router = start_router(LIMITS_CONFIG)

    async def replace(client, orig, sec, price, qty):
        await client.replace(orig, sec, Side.Buy, price, qty)
        (answer,) = await reports(client, 1)
        return answer

    async with clients(router, "demo") as (a,):
        order = await a.send_order(1, Side.Buy, PRICE - 1000 * TICK, 5)  # 5 x 90.00 = 450
        assert isinstance((await reports(a, 1))[0], ExecutionReportNew)
        # Fat finger: 10 x 100.01 is past 1000; 10 x 100.00 is the limit.
        reject = await replace(a, order, 1, PRICE + TICK, 10)
        assert isinstance(reject, OrderCancelReject)
        assert reject.orig_cl_ord_id == order
        assert reject.cxl_rej_reason == CxlRejReason.ExceededMaxNotionalOrderAmt
        replaced = await replace(a, order, 1, PRICE, 10)
        assert isinstance(replaced, ExecutionReportReplace) and replaced.leaves_qty == 10
        order = replaced.cl_ord_id
        # Position: 10 bought if it filled is the limit; 11 (990 notional) is past it.
        reject = await replace(a, order, 1, PRICE - 1000 * TICK, 11)
        assert isinstance(reject, OrderCancelReject)
        assert reject.cxl_rej_reason == CxlRejReason.PositionLimitExceeded
        # Credit: 1000 resting + 5 x 90.00 = 1450; replaced to 6 x 90.00 it would be 1540 > 1500,
        # to 5 x 100.00 exactly 1500.
        other = await a.send_order(2, Side.Buy, PRICE - 1000 * TICK, 5)
        assert isinstance((await reports(a, 1))[0], ExecutionReportNew)
        reject = await replace(a, other, 2, PRICE - 1000 * TICK, 6)
        assert isinstance(reject, OrderCancelReject)
        assert reject.cxl_rej_reason == CxlRejReason.InsufficientCreditLimit
        assert isinstance(await replace(a, other, 2, PRICE, 5), ExecutionReportReplace)
        # The refused replaces changed nothing: the first order still rests at 10 x 100.00.
        await a.order_status(order, 1)
        (status,) = await reports(a, 1)
        assert (status.ord_status, status.price, status.leaves_qty) == (OrdStatus.New, PRICE, 10)

RATE_CONFIG = """
[[accounts]]
account = 2
max_orders_per_s = 3
"""


async def test_account_order_rate_refuses_one_past_the_limit(start_router):
    router = start_router(RATE_CONFIG)
    async with clients(router, "demo2") as (b,):
        # One datagram: its orders share the router's receive time, so all four fall in one window
        # whatever the machine's load (the engine tests cover windows across sessions and seconds).
        await b.send_orders([dict(security_id=1, side=Side.Buy, price=PRICE - TICK * i, qty=1)
                             for i in range(4)])
        got = await reports(b, 4)
        kinds = [type(r).__name__ for r in got]
        assert kinds.count("ExecutionReportNew") == 3 and kinds.count("ExecutionReportReject") == 1
        (reject,) = [r for r in got if isinstance(r, ExecutionReportReject)]
        assert reject.ord_rej_reason == OrdRejReason.OrderRateExceeded
