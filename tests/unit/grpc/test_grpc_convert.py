"""Conversions between the gRPC messages and the SBE models: field for field, invalid fields named."""

import pytest

from fallback_grpc import convert
from fallback_grpc._generated import order_entry_pb2 as pb
from udprouter._generated import messages as sbe
from udprouter.reports import EVENT_LAYOUT, EVT_ACCEPTED, EVT_CANCEL_REJECTED, FLAG_LAST, FLAG_TO_REPLACE


def limit_order(**changes):
    fields = dict(cl_ord_id=7, transact_time=11, price=100_010_000_000, order_qty=5, security_id=2,
                  side=pb.SIDE_SELL, ord_type=pb.ORD_TYPE_LIMIT, time_in_force=pb.TIME_IN_FORCE_FILL_OR_KILL)
    fields.update(changes)
    return pb.NewOrderSingle(**fields)


def test_new_order_converts_field_for_field_with_schema_enums():
    msg, error = convert.new_order_from_proto(limit_order())
    assert error is None
    assert msg == sbe.NewOrderSingle(7, 11, 100_010_000_000, 5, 2, sbe.Side.Sell, sbe.OrdType.Limit,
                                     sbe.TimeInForce.FillOrKill)


@pytest.mark.parametrize("changes, field", [
    ({"side": pb.SIDE_UNSPECIFIED}, "side: unset (0 is Side UNSPECIFIED)"),
    ({"side": 9}, "side: 9 is not a Side"),
    ({"ord_type": 0}, "ord_type: unset (0 is OrdType UNSPECIFIED)"),
    ({"time_in_force": 1}, "time_in_force: 1 is not a TimeInForce"),
    ({"time_in_force": 0}, "time_in_force: unset (0 is TimeInForce UNSPECIFIED)"),
    ({"time_in_force": 1000}, None),  # FIX's Day (0) is 1000 in the proto
    ({"cl_ord_id": 0}, "cl_ord_id: must be > 0"),
])
def test_an_order_the_schema_cannot_express_is_refused_naming_the_field(changes, field):
    msg, error = convert.new_order_from_proto(limit_order(**changes))
    if field is None:
        assert error is None and msg.time_in_force == sbe.TimeInForce.Day
        return
    assert msg is None
    assert error.startswith(field)


def test_fix_zero_values_are_1000_in_the_proto_both_ways():
    cancel = sbe.ExecutionReportCancel(1, 0, 2, 3, 4, 0, 1, sbe.Side.Buy, sbe.CancelReason(0))
    assert convert.execution_report(1, cancel).cancel.cancel_reason == pb.CANCEL_REASON_CLIENT_REQUEST == 1000
    for enum in (pb.TimeInForce, pb.CancelReason, pb.CxlRejReason, pb.BusinessRejectReason):
        assert enum.Name(0).endswith("_UNSPECIFIED")


def test_cancel_and_replace_need_the_order_they_act_on():
    _, error = convert.cancel_from_proto(pb.OrderCancelRequest(cl_ord_id=2, side=1))
    assert error.startswith("orig_cl_ord_id")
    msg, error = convert.replace_from_proto(pb.OrderCancelReplaceRequest(
        cl_ord_id=3, orig_cl_ord_id=2, price=5, order_qty=4, security_id=1, side=pb.SIDE_BUY))
    assert error is None
    assert msg == sbe.OrderCancelReplaceRequest(3, 2, 0, 5, 4, 1, sbe.Side.Buy)


def test_every_sbe_report_has_a_proto_twin_with_the_same_values():
    trade = sbe.ExecutionReportTrade(1, 2, 3, 4, 5, 6, 7, 8, 9, sbe.Side.Sell, sbe.BooleanFlag(1))
    report = convert.execution_report(42, trade)
    assert report.seq_no == 42 and report.WhichOneof("report") == "trade"
    assert (report.trade.last_px, report.trade.cum_qty, report.trade.side) == (5, 8, pb.SIDE_SELL)
    assert report.trade.aggressor_indicator is True


def event(**fields):
    values = dict(command_seq=5, cl_ord_id=7, orig_cl_ord_id=0, order_id=5, price=100_000_000_000,
                  session_id=3, security_id=1, qty=10, leaves_qty=10, cum_qty=0, kind=EVT_ACCEPTED, side=1,
                  reason=0, flags=FLAG_LAST)
    values.update(fields)
    return EVENT_LAYOUT.unpack(EVENT_LAYOUT.pack(*values.values()))


def test_an_accepted_event_fills_the_order_result_with_exec_id_and_time():
    result = pb.OrderResult()
    convert.FILL_FROM_EVENT[EVT_ACCEPTED](result, event(), exec_id=99, now_ns=123)
    assert result.accepted == pb.ExecutionReportNew(cl_ord_id=7, order_id=5, exec_id=99, transact_time=123,
                                                    price=100_000_000_000, order_qty=10, security_id=1,
                                                    side=pb.SIDE_BUY)


def test_a_cancel_rejected_event_says_whether_it_answers_a_replace():
    result = pb.ReplaceResult()
    ev = event(kind=EVT_CANCEL_REJECTED, orig_cl_ord_id=4, reason=1, flags=FLAG_LAST | FLAG_TO_REPLACE)
    convert.FILL_FROM_EVENT[EVT_CANCEL_REJECTED](result, ev, exec_id=0, now_ns=1)
    rej = result.cancel_rejected
    assert (rej.orig_cl_ord_id, rej.cxl_rej_reason) == (4, pb.CXL_REJ_REASON_UNKNOWN_ORDER)
    assert rej.cxl_rej_response_to == pb.CXL_REJ_RESPONSE_TO_ORDER_CANCEL_REPLACE_REQUEST


def test_a_router_reject_fills_the_matching_result_field():
    result = pb.OrderResult()
    convert.fill_from_reject(result, sbe.ExecutionReportReject(7, 8, 9, 10, 11, 1, sbe.Side.Buy,
                                                               sbe.OrdRejReason.DuplicateOrder))
    assert result.rejected.ord_rej_reason == pb.ORD_REJ_REASON_DUPLICATE_ORDER
    assert result.rejected.exec_id == 8
    busy = pb.OrderResult()
    convert.fill_from_reject(busy, sbe.BusinessMessageReject(3, 1, 101, sbe.BusinessRejectReason.EngineBusy))
    assert busy.business_reject.business_reject_reason == pb.BUSINESS_REJECT_REASON_ENGINE_BUSY
    assert busy.business_reject.ref_seq_num == 3
