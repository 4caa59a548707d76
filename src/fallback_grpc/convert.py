"""Conversions between the gRPC messages (protobuf) and the router's SBE message models (msgspec).

Field names are identical on both sides (the .proto mirrors protocol/orders.xml), so each direction
is one constructor call per message. Enum numbers are FIX's on both sides except FIX's 0, which the
proto carries as FIX_ZERO (1000: proto reserves 0 for *_UNSPECIFIED); from_fix() maps it.
Validation happens here, once, for gRPC requests: a request
that the SBE schema could not express (an enum value it does not define, a ClOrdID of 0, an
out-of-range integer) is refused with the field named, as INVALID_ARGUMENT by the service. Outcomes
are returned values: (message, None) or (None, "field: why").
"""

from __future__ import annotations

from udprouter._generated import messages as sbe
from udprouter.reports import ORD_STATUS_REJECTED, RESPONSE_TO_CANCEL, RESPONSE_TO_REPLACE
from udprouter.ring import (
    EV_CL_ORD_ID,
    EV_CUM_QTY,
    EV_FLAGS,
    EV_LEAVES_QTY,
    EV_ORDER_ID,
    EV_ORIG_CL_ORD_ID,
    EV_PRICE,
    EV_QTY,
    EV_REASON,
    EV_SECURITY_ID,
    EV_SIDE,
    EVT_ACCEPTED,
    EVT_CANCEL_REJECTED,
    EVT_CANCELED,
    EVT_MASS_ACTION_REPORT,
    EVT_ORDER_STATUS,
    EVT_REJECTED,
    EVT_REPLACED,
    FLAG_REFUSED,
    FLAG_TO_REPLACE,
)

from ._generated import order_entry_pb2 as pb

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
FIX_ZERO = 1000  # the proto number of an enum's FIX value 0 (order_entry.proto's header)


def from_fix(value: int) -> int:
    """A FIX enum value as the proto's number."""
    return value or FIX_ZERO


def _table(enum_cls) -> dict[int, object]:
    """proto number -> SBE enum member (0, *_UNSPECIFIED, is in no table: it is refused)."""
    return {from_fix(int(member)): member for member in enum_cls}


_SIDES = _table(sbe.Side)
_ORD_TYPES = _table(sbe.OrdType)
_TIME_IN_FORCE = _table(sbe.TimeInForce)


def _enum_error(field: str, value: int, enum_cls) -> str:
    valid = ", ".join(f"{from_fix(int(m))} {m.name}" for m in enum_cls)
    if value == 0:
        return f"{field}: unset (0 is {enum_cls.__name__} UNSPECIFIED); one of {valid}"
    return f"{field}: {value} is not a {enum_cls.__name__} ({valid})"


def new_order_from_proto(o: pb.NewOrderSingle) -> tuple[sbe.NewOrderSingle | None, str | None]:
    side = _SIDES.get(o.side)
    ord_type = _ORD_TYPES.get(o.ord_type)
    tif = _TIME_IN_FORCE.get(o.time_in_force)
    if side is None or ord_type is None or tif is None or o.cl_ord_id == 0:
        return None, _new_order_error(o)
    return sbe.NewOrderSingle(o.cl_ord_id, o.transact_time, o.price, o.order_qty, o.security_id,
                              side, ord_type, tif), None


def _new_order_error(o: pb.NewOrderSingle) -> str:
    if o.cl_ord_id == 0:
        return "cl_ord_id: must be > 0 (and above every ClOrdID the session sent before)"
    if o.side not in _SIDES:
        return _enum_error("side", o.side, sbe.Side)
    if o.ord_type not in _ORD_TYPES:
        return _enum_error("ord_type", o.ord_type, sbe.OrdType)
    return _enum_error("time_in_force", o.time_in_force, sbe.TimeInForce)


def cancel_from_proto(o: pb.OrderCancelRequest) -> tuple[sbe.OrderCancelRequest | None, str | None]:
    side = _SIDES.get(o.side)
    if o.cl_ord_id == 0:
        return None, "cl_ord_id: must be > 0"
    if o.orig_cl_ord_id == 0:
        return None, "orig_cl_ord_id: must name the order to cancel (> 0)"
    if side is None:
        return None, _enum_error("side", o.side, sbe.Side)
    return sbe.OrderCancelRequest(o.cl_ord_id, o.orig_cl_ord_id, o.transact_time, o.security_id, side), None


def replace_from_proto(
        o: pb.OrderCancelReplaceRequest) -> tuple[sbe.OrderCancelReplaceRequest | None, str | None]:
    side = _SIDES.get(o.side)
    if o.cl_ord_id == 0:
        return None, "cl_ord_id: must be > 0"
    if o.orig_cl_ord_id == 0:
        return None, "orig_cl_ord_id: must name the order to replace (> 0)"
    if side is None:
        return None, _enum_error("side", o.side, sbe.Side)
    return sbe.OrderCancelReplaceRequest(o.cl_ord_id, o.orig_cl_ord_id, o.transact_time, o.price, o.order_qty,
                                         o.security_id, side), None


_MASS_ACTION_TYPES = _table(sbe.MassActionType)
_MASS_ACTION_SCOPES = _table(sbe.MassActionScope)


def mass_action_from_proto(
        o: pb.OrderMassActionRequest) -> tuple[sbe.OrderMassActionRequest | None, str | None]:
    action = _MASS_ACTION_TYPES.get(o.mass_action_type)
    scope = _MASS_ACTION_SCOPES.get(o.mass_action_scope)
    if o.cl_ord_id == 0:
        return None, "cl_ord_id: must be > 0 (and above every ClOrdID the session sent before)"
    if action is None:
        return None, _enum_error("mass_action_type", o.mass_action_type, sbe.MassActionType)
    if scope is None:
        return None, _enum_error("mass_action_scope", o.mass_action_scope, sbe.MassActionScope)
    if o.side != 0 and o.side not in _SIDES:
        return None, _enum_error("side", o.side, sbe.Side) + " or 0 (both)"
    by_security = scope == sbe.MassActionScope.AllOrdersForASecurity
    return sbe.OrderMassActionRequest(o.cl_ord_id, o.transact_time, o.security_id if by_security else None,
                                      action, scope, _SIDES.get(o.side)), None


def status_from_proto(o: pb.OrderStatusRequest) -> tuple[sbe.OrderStatusRequest | None, str | None]:
    if o.cl_ord_id == 0:
        return None, "cl_ord_id: must name the order asked about (> 0)"
    return sbe.OrderStatusRequest(o.cl_ord_id, o.transact_time, o.security_id), None


# -- server -> client ---------------------------------------------------------------------------

def _fields(cls) -> tuple[str, ...]:
    return cls.__struct_fields__


_REPORTS = {  # SBE model -> (proto class, ExecutionReport oneof field)
    sbe.ExecutionReportNew: (pb.ExecutionReportNew, "accepted"),
    sbe.ExecutionReportTrade: (pb.ExecutionReportTrade, "trade"),
    sbe.ExecutionReportCancel: (pb.ExecutionReportCancel, "cancel"),
    sbe.ExecutionReportReplace: (pb.ExecutionReportReplace, "replace"),
    sbe.ExecutionReportReject: (pb.ExecutionReportReject, "reject"),
    sbe.OrderCancelReject: (pb.OrderCancelReject, "cancel_reject"),
    sbe.OrderMassActionReport: (pb.OrderMassActionReport, "mass_action_report"),
    sbe.ExecutionReportStatus: (pb.ExecutionReportStatus, "status"),
    sbe.BusinessMessageReject: (pb.BusinessMessageReject, ""),
}
_FIELDS = {cls: _fields(cls) for cls in _REPORTS}
STREAMED = frozenset(cls for cls, (_, field) in _REPORTS.items() if field)  # execution reports


# Enum fields whose FIX values include 0 (every other field is copied as it is).
_FIX_ZERO_FIELDS = frozenset(("cancel_reason", "cxl_rej_reason", "business_reject_reason",
                              "mass_action_response", "mass_action_reject_reason", "ord_status"))


def report_to_proto(msg):
    """The protobuf twin of an SBE report model (same field names; BooleanFlag becomes bool)."""
    proto_cls, _ = _REPORTS[type(msg)]
    # An optional SBE field left null (None) is the proto's 0: "every instrument", "both sides".
    values = {name: int(getattr(msg, name) or 0) for name in _FIELDS[type(msg)]}
    if "aggressor_indicator" in values:
        values["aggressor_indicator"] = bool(values["aggressor_indicator"])
    for name in _FIX_ZERO_FIELDS.intersection(values):
        values[name] = from_fix(values[name])
    return proto_cls(**values)


def execution_report(seq_no: int, msg) -> pb.ExecutionReport:
    """One StreamExecutions item: the report under its oneof name, with its server sequence number."""
    field = _REPORTS[type(msg)][1]
    return pb.ExecutionReport(seq_no=seq_no, **{field: report_to_proto(msg)})


# -- engine event tuple (reports.EVENT_LAYOUT) -> the answer of the call that sent its command ---
# The answer is built straight from the event, beside the SBE frame the session keeps, so the
# hot path does not decode what it just encoded; a system test checks both give the same report.

def _fill_new(out, ev, exec_id: int, now_ns: int) -> None:
    r = out.accepted
    r.cl_ord_id, r.order_id, r.exec_id, r.transact_time = ev[EV_CL_ORD_ID], ev[EV_ORDER_ID], exec_id, now_ns
    r.price, r.order_qty, r.security_id, r.side = ev[EV_PRICE], ev[EV_QTY], ev[EV_SECURITY_ID], ev[EV_SIDE]


def _fill_rejected(out, ev, exec_id: int, now_ns: int) -> None:
    r = out.rejected
    r.cl_ord_id, r.exec_id, r.transact_time, r.price = ev[EV_CL_ORD_ID], exec_id, now_ns, ev[EV_PRICE]
    r.order_qty, r.security_id, r.side = ev[EV_QTY], ev[EV_SECURITY_ID], ev[EV_SIDE]
    r.ord_rej_reason = ev[EV_REASON]


def _fill_canceled(out, ev, exec_id: int, now_ns: int) -> None:
    r = out.canceled
    r.cl_ord_id, r.orig_cl_ord_id, r.order_id = ev[EV_CL_ORD_ID], ev[EV_ORIG_CL_ORD_ID], ev[EV_ORDER_ID]
    r.exec_id, r.transact_time, r.cum_qty, r.security_id = exec_id, now_ns, ev[EV_CUM_QTY], ev[EV_SECURITY_ID]
    r.side, r.cancel_reason = ev[EV_SIDE], ev[EV_REASON] or FIX_ZERO


def _fill_replaced(out, ev, exec_id: int, now_ns: int) -> None:
    r = out.replaced
    r.cl_ord_id, r.orig_cl_ord_id, r.order_id = ev[EV_CL_ORD_ID], ev[EV_ORIG_CL_ORD_ID], ev[EV_ORDER_ID]
    r.exec_id, r.transact_time, r.price, r.order_qty = exec_id, now_ns, ev[EV_PRICE], ev[EV_QTY]
    r.leaves_qty, r.cum_qty = ev[EV_LEAVES_QTY], ev[EV_CUM_QTY]
    r.security_id, r.side = ev[EV_SECURITY_ID], ev[EV_SIDE]


def _fill_cancel_rejected(out, ev, exec_id: int, now_ns: int) -> None:
    r = out.cancel_rejected
    r.cl_ord_id, r.orig_cl_ord_id, r.order_id = ev[EV_CL_ORD_ID], ev[EV_ORIG_CL_ORD_ID], ev[EV_ORDER_ID]
    r.transact_time, r.security_id, r.cxl_rej_reason = now_ns, ev[EV_SECURITY_ID], ev[EV_REASON] or FIX_ZERO
    r.cxl_rej_response_to = RESPONSE_TO_REPLACE if ev[EV_FLAGS] & FLAG_TO_REPLACE else RESPONSE_TO_CANCEL


def _fill_mass_action_report(out, ev, exec_id: int, now_ns: int) -> None:
    r = out.report
    refused = bool(ev[EV_FLAGS] & FLAG_REFUSED)
    r.cl_ord_id, r.transact_time, r.total_affected_orders = ev[EV_CL_ORD_ID], now_ns, ev[EV_QTY]
    r.security_id, r.side = ev[EV_SECURITY_ID], ev[EV_SIDE]
    r.mass_action_type = sbe.MassActionType.CancelOrders
    r.mass_action_scope = (sbe.MassActionScope.AllOrdersForASecurity if ev[EV_SECURITY_ID]
                           else sbe.MassActionScope.AllOrders)
    r.mass_action_response = FIX_ZERO if refused else 1  # FIX Rejected (0) is FIX_ZERO in the proto
    r.mass_action_reject_reason = from_fix(ev[EV_REASON]) if refused else 0  # 0: none (accepted)


def _fill_status(out, ev, exec_id: int, now_ns: int) -> None:
    r = out.status
    unknown = bool(ev[EV_FLAGS] & FLAG_REFUSED)
    r.cl_ord_id, r.order_id, r.exec_id, r.transact_time = ev[EV_CL_ORD_ID], ev[EV_ORDER_ID], exec_id, now_ns
    r.price, r.leaves_qty, r.cum_qty = ev[EV_PRICE], ev[EV_LEAVES_QTY], ev[EV_CUM_QTY]
    r.security_id = ev[EV_SECURITY_ID]
    r.ord_status = ORD_STATUS_REJECTED if unknown else from_fix(ev[EV_REASON])
    r.side = 0 if unknown else ev[EV_SIDE]


FILL_FROM_EVENT = {
    EVT_MASS_ACTION_REPORT: _fill_mass_action_report,
    EVT_ORDER_STATUS: _fill_status,
    EVT_ACCEPTED: _fill_new,
    EVT_REJECTED: _fill_rejected,
    EVT_CANCELED: _fill_canceled,
    EVT_REPLACED: _fill_replaced,
    EVT_CANCEL_REJECTED: _fill_cancel_rejected,
}


def fill_from_reject(out, msg) -> None:
    """A router-side reject (risk, engine busy) as the call's answer."""
    kind = type(msg)
    if kind is sbe.ExecutionReportReject:
        field = out.rejected
    elif kind is sbe.OrderCancelReject:
        field = out.cancel_rejected
    elif kind is sbe.OrderMassActionReport:
        field = out.report
    else:
        field = out.business_reject
    for name in _FIELDS[kind]:
        value = int(getattr(msg, name) or 0)
        setattr(field, name, from_fix(value) if name in _FIX_ZERO_FIELDS else value)
