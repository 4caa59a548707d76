"""OrderEntry against a real ring segment, with the test standing in as the engine's side."""

import os

import pytest

from udprouter._generated.messages import (
    BusinessRejectReason,
    ExecutionReportReject,
    NewOrderSingle,
    OrderCancelRequest,
    OrdRejReason,
    OrdType,
    Side,
    TimeInForce,
)
from udprouter.config import instruments_of, load_config
from udprouter.order_entry import OrderEntry
from udprouter.ring import EVT_ACCEPTED, EVT_CANCELED, EVT_TRADE, FLAG_LAST, RingSegment
from udprouter.risk import Risk
from udprouter.server_session import SessionContext

PX = 100_000_000_000


@pytest.fixture
def ring():
    segment = RingSegment.create(f"udprouter-unit-{os.getpid()}", 8, 16)
    yield segment
    segment.unlink()
    segment.close()


@pytest.fixture
def entry(ring):
    oe = OrderEntry(Risk(instruments_of(load_config(None)), 100, 1000), clock=lambda: 7)
    oe.ring = ring
    return oe


def nos(cl, qty=5):
    return NewOrderSingle(cl, 0, PX, qty, 1, Side.Buy, OrdType.Limit, TimeInForce.Day)


def commands(ring, n=16):
    array = ring.new_commands(n)
    got = ring.poll_commands(array, n)
    return [array[i] for i in range(got)]


def publish(ring, *events):
    array = ring.new_events(len(events))
    for i, fields in enumerate(events):
        for name, value in fields.items():
            setattr(array[i], name, value)
    assert ring.offer_events(array, len(events)) == len(events)


def test_submitted_orders_reach_the_ring_in_one_batch_with_increasing_command_seq(entry, ring):
    ctx = SessionContext(3, 9)
    entry.engine_ready(41)
    assert [entry.submit(ctx, nos(10), 99), entry.submit(ctx, OrderCancelRequest(11, 10, 0, 1, Side.Buy))] \
        == [41, 42]
    assert commands(ring) == []  # nothing offered before flush
    assert entry.flush() == 2
    new, cancel = commands(ring)
    assert (new.command_seq, new.cl_ord_id, new.price, new.order_qty, new.session_id, new.account, new.kind,
            new.recv_time_ns) == (41, 10, PX, 5, 3, 9, 1, 99)
    assert (cancel.command_seq, cancel.kind, cancel.orig_cl_ord_id, cancel.order_qty) == (42, 2, 10, 0)
    assert ctx.open_orders == 1


def test_risk_reject_is_returned_and_consumes_no_command_seq(entry):
    ctx = SessionContext(1, 1)
    reject = entry.submit(ctx, nos(10, qty=0))
    assert isinstance(reject, ExecutionReportReject)
    assert reject.ord_rej_reason == OrdRejReason.IncorrectQuantity
    assert entry.submit(ctx, nos(11)) == 1


def test_full_ring_is_engine_busy_and_consumes_no_command_seq(entry, ring):
    ctx = SessionContext(1, 1)
    results = [entry.submit(ctx, nos(cl)) for cl in range(1, 11)]
    assert results[:8] == list(range(1, 9))
    assert [r.business_reject_reason for r in results[8:]] == [BusinessRejectReason.EngineBusy] * 2
    assert entry.flush() == 8 and entry.engine_busy == 2


def test_unavailable_engine_is_application_not_available(entry):
    entry.available = False
    reject = entry.submit(SessionContext(1, 1), nos(1))
    assert reject.business_reject_reason == BusinessRejectReason.ApplicationNotAvailable


def test_events_are_routed_to_their_session_sink_and_close_open_orders(entry, ring):
    got = {1: [], 2: []}
    ctx1, ctx2 = SessionContext(1, 1), SessionContext(2, 2)
    entry.register_sink(1, got[1].extend, ctx1)
    entry.register_sink(2, got[2].extend, ctx2)
    entry.submit(ctx1, nos(10))
    entry.submit(ctx2, nos(20))
    entry.flush()
    publish(ring,
            dict(command_seq=1, session_id=1, cl_ord_id=10, kind=EVT_ACCEPTED, flags=FLAG_LAST),
            dict(command_seq=2, session_id=2, cl_ord_id=20, kind=EVT_ACCEPTED),
            dict(command_seq=2, session_id=2, cl_ord_id=20, kind=EVT_TRADE, leaves_qty=0),
            dict(command_seq=2, session_id=1, cl_ord_id=10, kind=EVT_TRADE, leaves_qty=0, flags=FLAG_LAST),
            dict(command_seq=3, session_id=9, kind=EVT_CANCELED, flags=FLAG_LAST))
    assert entry.drain() == 5
    assert [ev[1] for ev in got[1]] == [10, 10] and [ev[1] for ev in got[2]] == [20, 20]
    assert (ctx1.open_orders, ctx2.open_orders) == (0, 0)
    assert entry.undeliverable == 1 and entry.done_through == 3 and entry.outstanding == 0


def test_events_re_emitted_by_a_restarted_engine_are_routed_once(entry, ring):
    got = []
    entry.register_sink(1, got.extend, SessionContext(1, 1))
    publish(ring, dict(command_seq=1, session_id=1, kind=EVT_ACCEPTED, flags=FLAG_LAST),
            dict(command_seq=2, session_id=1, cl_ord_id=5, kind=EVT_ACCEPTED))
    entry.drain()
    entry.engine_restarting()  # the engine died after publishing part of command 2's events
    publish(ring, dict(command_seq=1, session_id=1, kind=EVT_ACCEPTED, flags=FLAG_LAST),
            dict(command_seq=2, session_id=1, cl_ord_id=5, kind=EVT_ACCEPTED),
            dict(command_seq=2, session_id=1, cl_ord_id=5, kind=EVT_TRADE, flags=FLAG_LAST))
    entry.drain()
    assert [(ev[0], ev[10]) for ev in got] == [(1, EVT_ACCEPTED), (2, EVT_ACCEPTED), (2, EVT_TRADE)]


def test_after_a_restart_the_routing_position_counts_the_events_routed_before_it(entry, ring):
    """The position the router log commits (done_through, partial) must count every event of the
    partial command routed so far, those before the engine restart included: a second restart while
    that command is still partial would otherwise have the engine's re-emitted events routed twice."""
    got = []
    entry.register_sink(1, got.extend, SessionContext(1, 1))
    publish(ring, dict(command_seq=1, session_id=1, kind=EVT_ACCEPTED, flags=FLAG_LAST),
            dict(command_seq=2, session_id=1, cl_ord_id=5, kind=EVT_ACCEPTED),
            dict(command_seq=2, session_id=1, cl_ord_id=5, kind=EVT_TRADE))
    entry.drain()
    assert (entry.done_through, entry.partial) == (1, (2, 2))
    entry.engine_restarting()  # the engine died with command 2 partial: it re-emits all of it
    publish(ring, dict(command_seq=2, session_id=1, cl_ord_id=5, kind=EVT_ACCEPTED),
            dict(command_seq=2, session_id=1, cl_ord_id=5, kind=EVT_TRADE),
            dict(command_seq=2, session_id=1, cl_ord_id=5, kind=EVT_TRADE))
    entry.drain()
    assert (entry.done_through, entry.partial) == (1, (2, 3))  # 2 before the restart, 1 after
    entry.engine_restarting()  # and dies again, command 2 still partial
    publish(ring, dict(command_seq=2, session_id=1, cl_ord_id=5, kind=EVT_ACCEPTED),
            dict(command_seq=2, session_id=1, cl_ord_id=5, kind=EVT_TRADE),
            dict(command_seq=2, session_id=1, cl_ord_id=5, kind=EVT_TRADE),
            dict(command_seq=2, session_id=1, cl_ord_id=5, kind=EVT_CANCELED, flags=FLAG_LAST))
    entry.drain()
    assert [ev[10] for ev in got] == [EVT_ACCEPTED, EVT_ACCEPTED, EVT_TRADE, EVT_TRADE, EVT_CANCELED]
    assert (entry.done_through, entry.partial) == (2, (0, 0))


def test_a_restarted_router_resumes_the_partial_count_from_its_log(entry, ring):
    got = []
    entry.register_sink(1, got.extend, SessionContext(1, 1))
    entry.resume_routing(1, (2, 2))  # the log: command 1 done, 2 events of command 2 routed
    publish(ring, dict(command_seq=2, session_id=1, cl_ord_id=5, kind=EVT_ACCEPTED),
            dict(command_seq=2, session_id=1, cl_ord_id=5, kind=EVT_TRADE),
            dict(command_seq=2, session_id=1, cl_ord_id=5, kind=EVT_TRADE))
    entry.drain()
    assert [ev[10] for ev in got] == [EVT_TRADE]
    assert (entry.done_through, entry.partial) == (1, (2, 3))
