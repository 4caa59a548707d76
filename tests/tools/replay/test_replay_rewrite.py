"""SessionRewriter: fresh increasing ClOrdIDs, with cancels and replaces still pointing at their orders."""

from test_replay_support import cancel, order, replace

from udprouter._generated.messages import OrderCancelReplaceRequest, OrderCancelRequest
from udprouter.replay.recording import RecordedDatagram
from udprouter.replay.rewrite import UNMAPPED_ORIG_CL_ORD_ID, SessionRewriter


def datagram(*messages):
    return RecordedDatagram(1, 0, "s", 1, messages)


def test_cl_ord_ids_are_fresh_and_increasing_in_send_order():
    rewriter = SessionRewriter(first_cl_ord_id=1000)
    first = rewriter.rewrite(datagram(order(90), order(50)), loop=0, transact_time_ns=7)
    second = rewriter.rewrite(datagram(order(10)), loop=0, transact_time_ns=8)
    assert [m.cl_ord_id for m in first.messages + second.messages] == [1000, 1001, 1002]
    assert first.recorded_cl_ord_ids == (90, 50)
    assert [m.transact_time for m in first.messages + second.messages] == [7, 7, 8]


def test_cancel_and_replace_point_at_the_rewritten_orders():
    rewriter = SessionRewriter(first_cl_ord_id=1)
    rewriter.rewrite(datagram(order(100), order(200)), 0, 0)
    out = rewriter.rewrite(datagram(replace(300, 100), cancel(400, 300), cancel(500, 200)), 0, 0).messages
    assert [m.__class__ for m in out] == [OrderCancelReplaceRequest, OrderCancelRequest, OrderCancelRequest]
    assert [(m.cl_ord_id, m.orig_cl_ord_id) for m in out] == [(3, 1), (4, 3), (5, 2)]
    assert out[0].price == 99_000_000_000 and out[0].order_qty == 5
    assert rewriter.unmapped_orig == 0


def test_each_loop_maps_its_own_orders():
    rewriter = SessionRewriter(first_cl_ord_id=1)
    rewriter.rewrite(datagram(order(100)), 0, 0)
    rewriter.rewrite(datagram(order(100)), 1, 0)
    assert rewriter.rewrite(datagram(cancel(101, 100)), 1, 0).messages[0].orig_cl_ord_id == 2
    assert rewriter.rewrite(datagram(cancel(102, 100)), 0, 0).messages[0].orig_cl_ord_id == 1
    assert rewriter.new_cl_ord_id(1, 100) == 2


def test_only_the_latest_two_passes_are_remembered():
    rewriter = SessionRewriter(first_cl_ord_id=1)
    for loop in range(5):
        rewriter.rewrite(datagram(order(100), order(200)), loop, 0)
    assert rewriter.new_cl_ord_id(4, 100) == 9 and rewriter.new_cl_ord_id(3, 200) == 8
    assert rewriter.new_cl_ord_id(2, 100) is None
    assert len(rewriter._map) == 4


def test_cancel_of_an_order_placed_before_the_capture_is_sent_unmapped_and_counted():
    rewriter = SessionRewriter(first_cl_ord_id=1)
    (msg,) = rewriter.rewrite(datagram(cancel(9, 8)), 0, 0).messages
    assert msg.orig_cl_ord_id == UNMAPPED_ORIG_CL_ORD_ID
    assert rewriter.unmapped_orig == 1


def test_recorded_messages_are_not_modified():
    recorded = order(42)
    SessionRewriter(first_cl_ord_id=1).rewrite(datagram(recorded), 0, 5)
    assert recorded.cl_ord_id == 42


def test_a_mass_action_request_gets_a_fresh_cl_ord_id_and_its_report_is_its_answer():
    from udprouter._generated.messages import (
        MassActionRejectReason,
        MassActionResponse,
        MassActionScope,
        MassActionType,
        OrderMassActionReport,
        OrderMassActionRequest,
    )
    from udprouter.replay.outcome import OutcomeKind, answer_by_cl_ord_id

    rewriter = SessionRewriter(first_cl_ord_id=1)
    scope = MassActionScope.AllOrders
    request = OrderMassActionRequest(70, 0, None, MassActionType.CancelOrders, scope, None)
    (out,) = rewriter.rewrite(datagram(order(60), request), 0, 9).messages[1:]
    assert (out.cl_ord_id, out.transact_time, out.mass_action_scope) == (2, 9, MassActionScope.AllOrders)
    accepted = OrderMassActionReport(2, 0, 3, None, MassActionType.CancelOrders, MassActionScope.AllOrders,
                                     MassActionResponse.Accepted, None, None)
    assert answer_by_cl_ord_id(accepted)[1].kind is OutcomeKind.ACKNOWLEDGED
    refused = msgspec_replace(accepted, mass_action_response=MassActionResponse.Rejected,
                              mass_action_reject_reason=MassActionRejectReason.Other)
    assert str(answer_by_cl_ord_id(refused)[1]) == "rejected (MassActionRejectReason.Other)"


def msgspec_replace(msg, **changes):
    import msgspec

    return msgspec.structs.replace(msg, **changes)
