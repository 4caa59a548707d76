"""Reports: engine events encode into the right message with ExecID and TransactTime per contract."""



from udprouter._generated.messages import (
    BooleanFlag,
    BusinessMessageReject,
    BusinessRejectReason,
    CancelReason,
    CxlRejReason,
    CxlRejResponseTo,
    ExecutionReportCancel,
    ExecutionReportNew,
    ExecutionReportReject,
    ExecutionReportReplace,
    ExecutionReportStatus,
    ExecutionReportTrade,
    MassActionRejectReason,
    MassActionResponse,
    MassActionScope,
    MassActionType,
    OrderCancelReject,
    OrderMassActionReport,
    OrdRejReason,
    OrdStatus,
    Side,
)
from udprouter.codec import decode_frames
from udprouter.reports import business_reject, encode_event, exec_id
from udprouter.ring import (
    EVT_ACCEPTED,
    EVT_CANCEL_REJECTED,
    EVT_CANCELED,
    EVT_MASS_ACTION_REPORT,
    EVT_ORDER_STATUS,
    EVT_REJECTED,
    EVT_REPLACED,
    EVT_TRADE,
    FLAG_AGGRESSOR,
    FLAG_LAST,
    FLAG_REFUSED,
    FLAG_TO_REPLACE,
)

NOW = 1_800_000_000_123_456_789
PX = 101_230_000_000


def event(kind, flags=FLAG_LAST, reason=0, **kw):
    fields = dict(command_seq=9, cl_ord_id=77, orig_cl_ord_id=0, order_id=5, price=PX, session_id=3,
                  security_id=2, qty=40, leaves_qty=60, cum_qty=40, kind=kind, side=Side.Sell, reason=reason,
                  flags=flags)
    fields.update(kw)
    return tuple(fields.values())


def decode(frame):
    (msg,) = decode_frames(frame)
    return msg


def test_exec_id_is_session_shifted_40_or_server_seq():
    assert exec_id(3, 17) == (3 << 40) | 17


def test_accepted_is_execution_report_new():
    assert decode(encode_event(event(EVT_ACCEPTED), 17, NOW)) == ExecutionReportNew(
        77, 5, exec_id(3, 17), NOW, PX, 40, 2, Side.Sell)


def test_trade_is_execution_report_trade_with_aggressor_flag():
    msg = decode(encode_event(event(EVT_TRADE, flags=FLAG_LAST | FLAG_AGGRESSOR), 18, NOW))
    expected = ExecutionReportTrade(77, 5, exec_id(3, 18), NOW, PX, 40, 60, 40, 2, Side.Sell, BooleanFlag(1))
    assert msg == expected
    passive = decode(encode_event(event(EVT_TRADE), 19, NOW))
    assert passive.aggressor_indicator == 0


def test_canceled_carries_reason_and_orig():
    ev = event(EVT_CANCELED, reason=CancelReason.FillOrKill, orig_cl_ord_id=70)
    msg = decode(encode_event(ev, 20, NOW))
    reason = CancelReason.FillOrKill
    assert msg == ExecutionReportCancel(77, 70, 5, exec_id(3, 20), NOW, 40, 2, Side.Sell, reason)


def test_replaced_is_execution_report_replace():
    msg = decode(encode_event(event(EVT_REPLACED, orig_cl_ord_id=70), 21, NOW))
    assert msg == ExecutionReportReplace(77, 70, 5, exec_id(3, 21), NOW, PX, 40, 60, 40, 2, Side.Sell)


def test_rejected_is_execution_report_reject():
    msg = decode(encode_event(event(EVT_REJECTED, reason=OrdRejReason.OrderBookFull), 22, NOW))
    reason = OrdRejReason.OrderBookFull
    assert msg == ExecutionReportReject(77, exec_id(3, 22), NOW, PX, 40, 2, Side.Sell, reason)


def test_cancel_rejected_answers_cancel_or_replace_by_flag():
    ev = event(EVT_CANCEL_REJECTED, reason=CxlRejReason.UnknownOrder, orig_cl_ord_id=70)
    cancel = decode(encode_event(ev, 23, NOW))
    assert cancel == OrderCancelReject(77, 70, 5, NOW, 2, CxlRejResponseTo.OrderCancelRequest,
                                       CxlRejReason.UnknownOrder)
    replace = decode(encode_event(event(EVT_CANCEL_REJECTED, flags=FLAG_LAST | FLAG_TO_REPLACE,
                                        reason=CxlRejReason.TooLateToCancel), 24, NOW))
    assert replace.cxl_rej_response_to == CxlRejResponseTo.OrderCancelReplaceRequest


def test_business_reject_names_seq_and_template():
    assert decode(business_reject(12, 101, BusinessRejectReason.Throttled, NOW)) == BusinessMessageReject(
        12, NOW, 101, BusinessRejectReason.Throttled)


def test_mass_action_report_carries_the_count_and_null_filters_for_any():
    ev = event(EVT_MASS_ACTION_REPORT, qty=3, security_id=0, side=0)
    msg = decode(encode_event(ev, 23, NOW))
    assert msg == OrderMassActionReport(77, NOW, 3, None, MassActionType.CancelOrders,
                                        MassActionScope.AllOrders, MassActionResponse.Accepted, None, None)
    by_security = event(EVT_MASS_ACTION_REPORT, qty=1, security_id=2, side=Side.Buy)
    by_security = decode(encode_event(by_security, 24, NOW))
    assert (by_security.security_id, by_security.mass_action_scope, by_security.side) == (
        2, MassActionScope.AllOrdersForASecurity, Side.Buy)


def test_refused_mass_action_report_says_rejected_with_its_reason():
    ev = event(EVT_MASS_ACTION_REPORT, flags=FLAG_LAST | FLAG_REFUSED, qty=0, security_id=9, side=0,
               reason=MassActionRejectReason.InvalidOrUnknownSecurity)
    msg = decode(encode_event(ev, 25, NOW))
    assert (msg.mass_action_response, msg.mass_action_reject_reason, msg.total_affected_orders) == (
        MassActionResponse.Rejected, MassActionRejectReason.InvalidOrUnknownSecurity, 0)


def test_order_status_is_execution_report_status_and_an_unknown_order_is_rejected():
    msg = decode(encode_event(event(EVT_ORDER_STATUS, reason=OrdStatus.PartiallyFilled), 26, NOW))
    assert msg == ExecutionReportStatus(77, 5, exec_id(3, 26), NOW, PX, 60, 40, 2, OrdStatus.PartiallyFilled,
                                        Side.Sell)
    unknown = decode(encode_event(event(EVT_ORDER_STATUS, flags=FLAG_LAST | FLAG_REFUSED, side=0), 27, NOW))
    assert (unknown.ord_status, unknown.side) == (OrdStatus.Rejected, None)
