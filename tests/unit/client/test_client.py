"""Client flows: numbering, first-answer futures, resends, NotApplied renaming, in-order delivery."""

import asyncio

from udprouter._generated.messages import NewOrderSingle, OrdType, Sequence, Side, TimeInForce
from udprouter.client import flows as client_flow
from udprouter.client.flows import MAX_RESENDS, RETRANSMIT_WAIT_S, InboundFlow, OutboundFlow
from udprouter.codec import decode_frames


def nos(cl):
    return NewOrderSingle(cl, 0, 100_000_000_000, 1, 1, Side.Buy, OrdType.Limit, TimeInForce.Day)


async def test_datagram_starts_with_sequence_and_numbers_messages_consecutively():
    flow = OutboundFlow(0.5, True)
    loop = asyncio.get_running_loop()
    first = decode_frames(flow.datagram([nos(1), nos(2)], loop, 0.0))
    second = decode_frames(flow.datagram([nos(3)], loop, 0.0))
    assert first[0] == Sequence(1) and second[0] == Sequence(3)
    assert [m.cl_ord_id for m in first[1:] + second[1:]] == [1, 2, 3]
    assert flow.next_seq == 4


async def test_first_answer_resolves_the_future_and_stops_resends():
    flow = OutboundFlow(0.5, True)
    loop = asyncio.get_running_loop()
    flow.datagram([nos(1), nos(2)], loop, 0.0)
    future = flow.ack_future(1, loop)
    flow.answered(1, "ack-1")
    assert future.result() == "ack-1"
    assert flow.unanswered == 1
    flow.answered_seq(2, "reject-2")
    assert flow.ack_future(2, loop).result() == "reject-2"
    assert flow.due_resends(10.0) == []


async def test_a_long_running_flow_forgets_old_answers_but_keeps_pending_ones(monkeypatch):
    monkeypatch.setattr(client_flow, "KEEP_SENT", 64)
    flow = OutboundFlow(0.5, True)
    loop = asyncio.get_running_loop()
    for cl in range(1, 3 * 64 + 1):
        flow.datagram([nos(cl)], loop, 0.0)
        if cl != 5:
            flow.answered(cl, "ack")
    assert len(flow.futures) <= 2 * 64 + 1
    assert not flow.ack_future(5, loop).done()  # still unanswered: never dropped
    flow.answered(5, "late ack")
    assert flow.ack_future(5, loop).result() == "late ack"


async def test_unanswered_datagram_is_resent_with_the_same_bytes_a_bounded_number_of_times():
    flow = OutboundFlow(0.5, True)
    payload = flow.datagram([nos(1)], asyncio.get_running_loop(), 0.0)
    assert flow.due_resends(0.4) == []
    resent = []
    for i in range(MAX_RESENDS + 3):
        resent += flow.due_resends(1.0 * (i + 1))
    assert resent == [payload] * MAX_RESENDS


async def test_not_applied_orders_are_renamed_and_their_futures_follow():
    flow = OutboundFlow(0.5, True)
    loop = asyncio.get_running_loop()
    flow.datagram([nos(1), nos(2), nos(3)], loop, 0.0)
    future = flow.ack_future(2, loop)
    new_ids = iter([50, 51])
    resend = flow.not_applied(2, 2, lambda: next(new_ids))
    assert [m.cl_ord_id for m in resend] == [50, 51]
    assert flow.ack_future(2, loop) is future
    flow.answered(50, "ack")
    assert future.result() == "ack"


async def test_not_applied_without_resend_answers_with_the_original():
    flow = OutboundFlow(0.5, False)
    loop = asyncio.get_running_loop()
    flow.datagram([nos(1)], loop, 0.0)
    assert flow.not_applied(1, 1, lambda: 99) == []
    assert flow.ack_future(1, loop).result().cl_ord_id == 1


async def test_inbound_delivers_in_order_and_asks_for_a_gap_once_until_it_stalls():
    flow = InboundFlow()
    flow.receive(1, ["a", "b"])
    assert flow.drain() == ["a", "b"] and flow.gap(0.0) is None
    flow.receive(5, ["e"])
    assert flow.drain() == []
    assert flow.gap(1.0) == (3, 2)
    assert flow.gap(1.0 + RETRANSMIT_WAIT_S / 2) is None
    assert flow.gap(1.0 + RETRANSMIT_WAIT_S * 2) == (3, 2)
    flow.receive(3, ["c", "d"])
    assert flow.drain() == ["c", "d", "e"]
    assert flow.gap(10.0) is None


async def test_heartbeat_ahead_of_expectation_reveals_a_trailing_gap():
    flow = InboundFlow()
    flow.receive(4, [])
    assert flow.gap(0.5) == (1, 3)


async def test_duplicates_are_not_delivered_twice():
    flow = InboundFlow()
    flow.receive(1, ["a"])
    flow.drain()
    flow.receive(1, ["a"])
    assert flow.drain() == []


async def test_retransmit_reject_skips_the_lost_range():
    flow = InboundFlow()
    flow.receive(3, ["c"])
    flow.give_up_gap()
    assert flow.drain() == ["c"]


async def test_budget_refusal_asks_again_for_less_instead_of_skipping():
    flow = InboundFlow()
    flow.receive(5001, ["x"])
    assert flow.gap(10.0) == (1, 4096)
    assert flow.refused_for_budget(too_large=True)  # RequestLimitExceeded: half as many
    assert flow.gap(10.1) is None  # not before RETRANSMIT_WAIT_S
    assert flow.gap(10.5) == (1, 2048)
    assert flow.refused_for_budget(too_large=False)  # BudgetExceeded: the same, later
    assert flow.gap(11.0) == (1, 2048) and flow.expected == 1
    flow.max_request = 1
    assert not flow.refused_for_budget(too_large=True)  # cannot ask for less: the caller skips
