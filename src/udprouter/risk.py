"""Pre-trade risk: the checks an order passes before it reaches the ring, each failure a specific reject.

Outcomes are returned values (None = pass, else the schema's reason enum), never exceptions. Checks,
in order, for NewOrderSingle: duplicate ClOrdID, unknown SecurityID, unsupported OrdType/TimeInForce
(Market must be IOC or FOK: a Market Day order would have nothing to rest at, so it is rejected with
UnsupportedOrderCharacteristic), quantity 0 or above the instrument's maximum, limit price off tick,
limit price outside the band, the session's open-order limit. A Market order's Price is ignored.
Cancel and replace check the ClOrdID, that OrigClOrdID is one the session used, the SecurityID, and
(replace) the new quantity and price. The message-rate throttle is a token bucket per session.
"""

from __future__ import annotations

from collections import Counter

from udprouter._generated.messages import (
    CxlRejReason,
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    OrdRejReason,
    OrdType,
    TimeInForce,
)
from udprouter._ring_cffi import ffi
from udprouter.config import Instrument

_MARKET = int(OrdType.Market)
_LIMIT = int(OrdType.Limit)
_DAY = int(TimeInForce.Day)


class SessionContext:
    """Per-session order-entry state shared by the UDP and gRPC paths (one per durable session_id).

    The mutable marks live in a cffi-allocated udr_fp_session (src/udprouter/fastpath/fast_ingest.h) that
    the C fast path reads and writes in place: one copy of the truth for C and Python alike.
    """

    __slots__ = ("session_id", "account", "key_id", "fp")

    def __init__(self, session_id: int, account: int, key_id: str = "") -> None:
        self.session_id = session_id
        self.account = account
        self.key_id = key_id
        fp = self.fp = ffi.new("udr_fp_session *")
        fp.session_id, fp.account = session_id, account
        fp.next_inbound = 1  # the client sequence number expected next (ServerSession.next_inbound)
        fp.tokens = -1.0  # throttle bucket; negative = not yet started

    @property
    def cl_ord_hwm(self) -> int:
        """Highest ClOrdID the session sent (contract: strictly increasing)."""
        return self.fp.cl_ord_hwm

    @cl_ord_hwm.setter
    def cl_ord_hwm(self, value: int) -> None:
        self.fp.cl_ord_hwm = value

    @property
    def open_orders(self) -> int:
        """Orders sent to the engine and not yet known done (from the events)."""
        return self.fp.open_orders

    @open_orders.setter
    def open_orders(self, value: int) -> None:
        self.fp.open_orders = value

    @property
    def tokens(self) -> float:
        return self.fp.tokens

    @tokens.setter
    def tokens(self, value: float) -> None:
        self.fp.tokens = value

    @property
    def refill_ns(self) -> int:
        return self.fp.refill_ns

    @refill_ns.setter
    def refill_ns(self, value: int) -> None:
        self.fp.refill_ns = value


class Risk:
    def __init__(self, instruments: dict[int, Instrument], max_open_orders: int, throttle_per_s: int) -> None:
        self.instruments = instruments
        self.max_open_orders = max_open_orders
        self.throttle_per_s = float(throttle_per_s)
        self.rejects: Counter[str] = Counter()  # by reason name; read by metrics at scrape time

    def admit(self, ctx: SessionContext, count: int, now_ns: int) -> int:
        """How many of count messages the throttle lets through now (burst = one second's rate)."""
        rate = self.throttle_per_s
        if ctx.tokens < 0:
            ctx.tokens, ctx.refill_ns = rate, now_ns
        elif now_ns > ctx.refill_ns:
            ctx.tokens = min(rate, ctx.tokens + (now_ns - ctx.refill_ns) * rate / 1e9)
            ctx.refill_ns = now_ns
        allowed = min(count, int(ctx.tokens))
        ctx.tokens -= allowed
        if allowed < count:
            self.rejects["Throttled"] += count - allowed
        return allowed

    def check_new(self, ctx: SessionContext, msg: NewOrderSingle) -> OrdRejReason | None:
        reason = self._new_reason(ctx, msg)
        if reason is not None:
            self.rejects[reason.name] += 1
        return reason

    def _new_reason(self, ctx: SessionContext, msg: NewOrderSingle) -> OrdRejReason | None:
        if msg.cl_ord_id <= ctx.cl_ord_hwm:
            return OrdRejReason.DuplicateOrder
        ctx.cl_ord_hwm = msg.cl_ord_id
        inst = self.instruments.get(msg.security_id)
        if inst is None:
            return OrdRejReason.UnknownSymbol
        if msg.ord_type == _MARKET and msg.time_in_force == _DAY:
            return OrdRejReason.UnsupportedOrderCharacteristic
        if msg.order_qty == 0 or msg.order_qty > inst.max_qty:
            return OrdRejReason.IncorrectQuantity
        if msg.ord_type == _LIMIT:
            if msg.price % inst.tick:
                return OrdRejReason.InvalidPriceIncrement
            if not inst.min_price <= msg.price <= inst.max_price:
                return OrdRejReason.PriceExceedsCurrentPriceBand
        if ctx.open_orders >= self.max_open_orders:
            return OrdRejReason.OrderExceedsLimit
        return None

    def check_cancel(self, ctx: SessionContext, msg: OrderCancelRequest) -> CxlRejReason | None:
        reason = self._cancel_reason(ctx, msg.cl_ord_id, msg.orig_cl_ord_id, msg.security_id)
        if reason is not None:
            self.rejects["Cxl" + reason.name] += 1
        return reason

    def check_replace(self, ctx: SessionContext, msg: OrderCancelReplaceRequest) -> CxlRejReason | None:
        reason = self._cancel_reason(ctx, msg.cl_ord_id, msg.orig_cl_ord_id, msg.security_id)
        if reason is None:
            inst = self.instruments[msg.security_id]
            if msg.order_qty == 0 or msg.order_qty > inst.max_qty:
                reason = CxlRejReason.IncorrectQuantity
            elif msg.price % inst.tick:
                reason = CxlRejReason.InvalidPriceIncrement
            elif not inst.min_price <= msg.price <= inst.max_price:
                reason = CxlRejReason.PriceExceedsCurrentPriceBand
        if reason is not None:
            self.rejects["Rpl" + reason.name] += 1  # a replace's reject, counted apart from a cancel's
        return reason

    def _cancel_reason(self, ctx: SessionContext, cl_ord_id: int, orig: int,
                       security_id: int) -> CxlRejReason | None:
        sent_before = ctx.cl_ord_hwm
        if cl_ord_id <= sent_before:
            return CxlRejReason.DuplicateClOrdID
        ctx.cl_ord_hwm = cl_ord_id
        # An OrigClOrdID the session never sent, or one for an unknown instrument, names no order.
        if orig == 0 or orig > sent_before or security_id not in self.instruments:
            return CxlRejReason.UnknownOrder
        return None
