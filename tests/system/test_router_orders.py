"""Order behaviour end to end: UDP client -> router -> real engine -> reports on every session."""

from __future__ import annotations

import asyncio

import pytest

from tests.system.udp_clients import clients, no_more_reports, reports
from udprouter._generated.messages import (
    CancelReason,
    CxlRejReason,
    ExecutionReportCancel,
    ExecutionReportNew,
    ExecutionReportReject,
    ExecutionReportReplace,
    ExecutionReportTrade,
    OrderCancelReject,
    OrdRejReason,
    OrdType,
    Side,
    TimeInForce,
)

PRICE = 100_000_000_000  # 100.00, the default instruments' reference price
TICK = 10_000_000  # 0.01


@pytest.fixture(params=[True, False], ids=["fast_path", "python_path"])
def fast_path(request) -> bool:
    """Every scenario here runs against both ingest implementations ([udp] fast_path on and off)."""
    return request.param


async def test_new_order_is_acked_with_order_id_and_exec_id(router):
    async with clients(router, "demo") as (a,):
        cl = await a.send_order(1, Side.Buy, PRICE, 10)
        (ack,) = await reports(a, 1)
        assert isinstance(ack, ExecutionReportNew)
        fields = (ack.cl_ord_id, ack.price, ack.order_qty, ack.security_id, ack.side)
        assert fields == (cl, PRICE, 10, 1, Side.Buy)
        assert ack.order_id > 0
        assert ack.exec_id & ((1 << 40) - 1) == 1  # first server sequence number of this session
        assert await a.first_ack(cl) == ack


async def test_crossing_orders_trade_on_both_sessions_with_fills(router):
    async with clients(router, "demo", "demo2") as (a, b):
        buy = await a.send_order(2, Side.Buy, PRICE + TICK, 10)
        await reports(a, 1)
        sell = await b.send_order(2, Side.Sell, PRICE, 4)
        new_b, trade_b = await reports(b, 2)
        (trade_a,) = await reports(a, 1)
        assert isinstance(new_b, ExecutionReportNew)
        assert isinstance(trade_b, ExecutionReportTrade) and isinstance(trade_a, ExecutionReportTrade)
        # The resting order's price is the trade price.
        fills = [(t.cl_ord_id, t.last_px, t.last_qty, t.leaves_qty, t.cum_qty) for t in (trade_b, trade_a)]
        assert fills == [(sell, PRICE + TICK, 4, 0, 4), (buy, PRICE + TICK, 4, 6, 4)]
        assert trade_b.aggressor_indicator == 1
        assert trade_a.aggressor_indicator == 0
        assert trade_a.exec_id != trade_b.exec_id


async def test_partial_fills_accumulate_cum_qty(router):
    async with clients(router, "demo", "demo2") as (a, b):
        await a.send_order(3, Side.Sell, PRICE, 10)
        await reports(a, 1)
        for qty, cum in ((3, 3), (5, 8), (2, 10)):
            await b.send_order(3, Side.Buy, PRICE, qty)
            await reports(b, 2)
            (fill,) = await reports(a, 1)
            assert (fill.last_qty, fill.cum_qty, fill.leaves_qty) == (qty, cum, 10 - cum)


async def test_market_ioc_and_fok(router):
    async with clients(router, "demo", "demo2") as (a, b):
        ioc = TimeInForce.ImmediateOrCancel
        await b.send_order(1, Side.Buy, 0, 5, ord_type=OrdType.Market, time_in_force=ioc)
        new, cancel = await reports(b, 2)
        assert isinstance(new, ExecutionReportNew) and isinstance(cancel, ExecutionReportCancel)
        assert cancel.cancel_reason == CancelReason.ImmediateOrCancel and cancel.cum_qty == 0

        await a.send_order(1, Side.Sell, PRICE, 5)
        await reports(a, 1)
        await b.send_order(1, Side.Buy, PRICE, 8, time_in_force=TimeInForce.FillOrKill)
        new, cancel = await reports(b, 2)
        assert isinstance(cancel, ExecutionReportCancel) and cancel.cancel_reason == CancelReason.FillOrKill
        await no_more_reports(a)

        await b.send_order(1, Side.Buy, PRICE, 8, time_in_force=TimeInForce.ImmediateOrCancel)
        new, trade, cancel = await reports(b, 3)
        assert (trade.last_qty, trade.leaves_qty) == (5, 3)
        assert cancel.cancel_reason == CancelReason.ImmediateOrCancel and cancel.cum_qty == 5
        (fill,) = await reports(a, 1)
        assert fill.leaves_qty == 0

        await b.send_order(1, Side.Buy, 0, 1, ord_type=OrdType.Market, time_in_force=TimeInForce.Day)
        (reject,) = await reports(b, 1)
        assert isinstance(reject, ExecutionReportReject)
        assert reject.ord_rej_reason == OrdRejReason.UnsupportedOrderCharacteristic


async def test_cancel_removes_the_order(router):
    async with clients(router, "demo", "demo2") as (a, b):
        cl = await a.send_order(2, Side.Sell, PRICE, 7)
        await reports(a, 1)
        cancel_cl = await a.cancel(cl, 2, Side.Sell)
        (cancel,) = await reports(a, 1)
        assert isinstance(cancel, ExecutionReportCancel)
        assert (cancel.cl_ord_id, cancel.orig_cl_ord_id, cancel.cancel_reason) == \
            (cancel_cl, cl, CancelReason.ClientRequest)
        await b.send_order(2, Side.Buy, PRICE, 7, time_in_force=TimeInForce.ImmediateOrCancel)
        new, ioc_cancel = await reports(b, 2)
        assert isinstance(ioc_cancel, ExecutionReportCancel) and ioc_cancel.cum_qty == 0


async def test_cancel_of_unknown_or_another_sessions_order_is_rejected(router):
    async with clients(router, "demo", "demo2") as (a, b):
        cl = await a.send_order(3, Side.Buy, PRICE, 1)
        await reports(a, 1)
        await b.cancel(cl, 3, Side.Buy)  # a's ClOrdID is not an order of b's session
        (reject,) = await reports(b, 1)
        assert isinstance(reject, OrderCancelReject) and reject.cxl_rej_reason == CxlRejReason.UnknownOrder
        await a.cancel(cl + 1000, 3, Side.Buy)  # a ClOrdID a never sent
        (reject,) = await reports(a, 1)
        assert isinstance(reject, OrderCancelReject) and reject.cxl_rej_reason == CxlRejReason.UnknownOrder


async def test_replace_price_change_loses_priority_and_qty_decrease_keeps_it(router):
    async with clients(router, "demo", "demo2") as (a, b):
        first = await a.send_order(1, Side.Buy, PRICE, 5)
        second = await a.send_order(1, Side.Buy, PRICE, 5)
        await reports(a, 2)
        # Quantity decrease keeps first's place ahead of second.
        first_v2 = await a.replace(first, 1, Side.Buy, PRICE, 3)
        (replaced,) = await reports(a, 1)
        assert isinstance(replaced, ExecutionReportReplace)
        assert (replaced.cl_ord_id, replaced.orig_cl_ord_id, replaced.order_qty) == (first_v2, first, 3)
        await b.send_order(1, Side.Sell, PRICE, 1)
        await reports(b, 2)
        (fill,) = await reports(a, 1)
        assert fill.cl_ord_id == first_v2
        # A price change (away and back) sends first behind second.
        first_v3 = await a.replace(first_v2, 1, Side.Buy, PRICE - TICK, 2)
        first_v4 = await a.replace(first_v3, 1, Side.Buy, PRICE, 2)
        await reports(a, 2)
        await b.send_order(1, Side.Sell, PRICE, 1)
        await reports(b, 2)
        (fill,) = await reports(a, 1)
        assert fill.cl_ord_id == second
        assert first_v4 != second


async def test_risk_rejects_are_specific(router):
    async with clients(router, "demo") as (a,):
        cases = [
            (dict(security_id=99, side=Side.Buy, price=PRICE, qty=1), OrdRejReason.UnknownSymbol),
            (dict(security_id=1, side=Side.Buy, price=PRICE, qty=0), OrdRejReason.IncorrectQuantity),
            (dict(security_id=1, side=Side.Buy, price=PRICE + 1, qty=1), OrdRejReason.InvalidPriceIncrement),
            (dict(security_id=1, side=Side.Buy, price=PRICE * 2, qty=1),
             OrdRejReason.PriceExceedsCurrentPriceBand),
        ]
        ids = await a.send_orders([order for order, _ in cases])
        got = await asyncio.gather(*[a.first_ack(cl) for cl in ids])
        assert [r.ord_rej_reason for r in got] == [reason for _, reason in cases]
        await a.send_order(1, Side.Buy, PRICE, 1, cl_ord_id=ids[0])
        received = await reports(a, len(cases) + 1)
        assert received[-1].ord_rej_reason == OrdRejReason.DuplicateOrder
