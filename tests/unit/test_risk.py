"""Pre-trade risk: each failure is its specific reject reason; passing orders move the ClOrdID mark."""

from udprouter._generated.messages import (
    CxlRejReason,
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    OrdRejReason,
    OrdType,
    Side,
    TimeInForce,
)
from udprouter.config import instruments_of, load_config
from udprouter.risk import Risk
from udprouter.server_session import SessionContext

PX = 100_000_000_000
TICK = 10_000_000


def _risk(max_open=100, throttle=1000):
    return Risk(instruments_of(load_config(None)), max_open, throttle)


def nos(cl=10, sec=1, price=PX, qty=5, ord_type=OrdType.Limit, tif=TimeInForce.Day):
    return NewOrderSingle(cl, 0, price, qty, sec, Side.Buy, ord_type, tif)


def test_valid_limit_order_passes_and_moves_the_high_water_mark():
    ctx = SessionContext(1, 1)
    assert _risk().check_new(ctx, nos(cl=10)) is None
    assert ctx.cl_ord_hwm == 10


def test_cl_ord_id_not_above_the_mark_is_a_duplicate():
    risk, ctx = _risk(), SessionContext(1, 1)
    risk.check_new(ctx, nos(cl=10))
    assert risk.check_new(ctx, nos(cl=10)) is OrdRejReason.DuplicateOrder
    assert risk.check_new(ctx, nos(cl=9)) is OrdRejReason.DuplicateOrder
    assert risk.rejects["DuplicateOrder"] == 2


def test_each_bad_field_gets_its_reason():
    cases = [
        (nos(sec=99), OrdRejReason.UnknownSymbol),
        (nos(ord_type=OrdType.Market, price=0), OrdRejReason.UnsupportedOrderCharacteristic),
        (nos(qty=0), OrdRejReason.IncorrectQuantity),
        (nos(qty=1_000_001), OrdRejReason.IncorrectQuantity),
        (nos(price=PX + TICK // 2), OrdRejReason.InvalidPriceIncrement),
        (nos(price=110_010_000_000), OrdRejReason.PriceExceedsCurrentPriceBand),
        (nos(price=89_990_000_000), OrdRejReason.PriceExceedsCurrentPriceBand),
    ]
    for cl, (msg, reason) in enumerate(cases, 1):
        msg.cl_ord_id = cl
        assert _risk().check_new(SessionContext(1, 1), msg) is reason, msg


def test_band_edges_are_inside_the_band():
    for price in (90_000_000_000, 110_000_000_000):
        assert _risk().check_new(SessionContext(1, 1), nos(price=price)) is None


def test_market_ioc_and_fok_pass_and_ignore_price():
    for tif in (TimeInForce.ImmediateOrCancel, TimeInForce.FillOrKill):
        assert _risk().check_new(SessionContext(1, 1), nos(ord_type=OrdType.Market, price=7, tif=tif)) is None


def test_open_order_limit_is_order_exceeds_limit():
    ctx = SessionContext(1, 1)
    ctx.open_orders = 2
    assert _risk(max_open=2).check_new(ctx, nos()) is OrdRejReason.OrderExceedsLimit


def test_cancel_checks_cl_ord_id_and_orig():
    risk, ctx = _risk(), SessionContext(1, 1)
    risk.check_new(ctx, nos(cl=10))
    assert risk.check_cancel(ctx, OrderCancelRequest(11, 10, 0, 1, Side.Buy)) is None
    assert risk.check_cancel(ctx, OrderCancelRequest(11, 10, 0, 1, Side.Buy)) is CxlRejReason.DuplicateClOrdID
    assert risk.check_cancel(ctx, OrderCancelRequest(12, 50, 0, 1, Side.Buy)) is CxlRejReason.UnknownOrder
    assert risk.check_cancel(ctx, OrderCancelRequest(13, 10, 0, 99, Side.Buy)) is CxlRejReason.UnknownOrder


def test_replace_checks_quantity_and_price():
    risk, ctx = _risk(), SessionContext(1, 1)
    risk.check_new(ctx, nos(cl=10))
    cases = [
        (0, PX, CxlRejReason.IncorrectQuantity),
        (5, PX + 1, CxlRejReason.InvalidPriceIncrement),
        (5, 120_000_000_000, CxlRejReason.PriceExceedsCurrentPriceBand),
        (5, PX + TICK, None),
    ]
    for cl, (qty, price, reason) in enumerate(cases, 11):
        msg = OrderCancelReplaceRequest(cl, 10, 0, price, qty, 1, Side.Buy)
        assert risk.check_replace(ctx, msg) is reason


def test_throttle_admits_a_second_of_burst_then_refills_with_time():
    risk, ctx = _risk(throttle=10), SessionContext(1, 1)
    assert risk.admit(ctx, 8, 0) == 8
    assert risk.admit(ctx, 8, 0) == 2
    assert risk.admit(ctx, 8, 500_000_000) == 5
    assert risk.rejects["Throttled"] == 9
