"""The send plan: FIXP sequencing, rising ClOrdIDs, cancels of live orders, datagram limits."""

from collections import defaultdict

import pytest

from udprouter._generated import messages as m
from udprouter.codec import decode_datagram
from udprouter.loadgen.order_flow import IntentKind, build_order_flow
from udprouter.loadgen.plan import MAX_DATAGRAM, build_plan


def _decoded(plan):
    return [decode_datagram(d) for d in plan.datagrams]


@pytest.mark.parametrize("per_datagram, sessions", [(1, 1), (20, 1), (7, 3)])
def test_every_datagram_starts_with_sequence_and_numbers_run_on_per_session(per_datagram, sessions):
    plan = build_plan(build_order_flow(300, sessions=sessions, seed=5), per_datagram, sessions=sessions,
                      seq_start=[10 + s for s in range(sessions)])
    next_seq = {s: 10 + s for s in range(sessions)}
    for session, msgs in zip(plan.fd_index, _decoded(plan), strict=True):
        assert isinstance(msgs[0], m.Sequence)
        assert msgs[0].next_seq_no == next_seq[session]
        assert 1 <= len(msgs) - 1 <= per_datagram
        next_seq[session] += len(msgs) - 1
    assert sum(next_seq.values()) - sum(10 + s for s in range(sessions)) == plan.n_orders == 300


def test_cl_ord_ids_are_base_plus_send_order_and_rise_within_each_session():
    plan = build_plan(build_order_flow(400, sessions=2, seed=9), 5, sessions=2, cl_ord_id_base=1000)
    seen = defaultdict(list)
    order = 0
    for session, msgs in zip(plan.fd_index, _decoded(plan), strict=True):
        for msg in msgs[1:]:
            assert msg.cl_ord_id == 1000 + order
            seen[session].append(msg.cl_ord_id)
            order += 1
    assert all(ids == sorted(set(ids)) for ids in seen.values())


def test_cancels_name_an_earlier_add_of_the_same_session():
    plan = build_plan(build_order_flow(2000, sessions=2, seed=3), 1, sessions=2)
    adds: dict[int, tuple[int, int]] = {}
    cancels = 0
    for session, msgs in zip(plan.fd_index, _decoded(plan), strict=True):
        msg = msgs[1]
        if isinstance(msg, m.NewOrderSingle) and msg.time_in_force == m.TimeInForce.Day:
            adds[msg.cl_ord_id] = (session, msg.security_id)
        elif isinstance(msg, m.OrderCancelRequest):
            assert adds.pop(msg.orig_cl_ord_id) == (session, msg.security_id)  # each add cancelled once
            cancels += 1
    assert cancels > 300


def test_flow_mixes_adds_crosses_and_cancels_over_three_instruments():
    flow = build_order_flow(3000, seed=1)
    kinds = {k: sum(1 for f in flow if f.kind is k) for k in IntentKind}
    assert all(count > 200 for count in kinds.values())
    assert {f.security_id for f in flow} == {1, 2, 3}
    assert build_order_flow(3000, seed=1) == flow  # seeded: the same flow every run


def test_twenty_orders_fit_one_datagram_and_the_seq_table_maps_numbers_to_orders():
    plan = build_plan(build_order_flow(100, seed=2), 20, seq_start=[5])
    assert max(len(d) for d in plan.datagrams) <= MAX_DATAGRAM
    assert len(plan.datagrams) == 5
    assert list(plan.seq_orders) == list(range(100)) and list(plan.seq_start) == [5]
    assert list(plan.order_datagram())[::20] == [0, 1, 2, 3, 4]
