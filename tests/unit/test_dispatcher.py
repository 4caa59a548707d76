"""Dispatcher: datagrams of an established session without a right MAC (SPEC.md 4.9) are dropped
before anything of them is read, unanswered, counted, and summarised in the log at most once a second."""

from __future__ import annotations

import logging

import pytest

from udprouter._generated.messages import (
    BusinessMessageReject,
    NewOrderSingle,
    NotApplied,
    OrdType,
    Sequence,
    Side,
    Terminate,
    TerminationCode,
    TimeInForce,
)
from udprouter.codec import decode_frames, encode_datagram, encode_message
from udprouter.config import KeyConfig, SessionConfig
from udprouter.datagram_mac import DatagramMac
from udprouter.dispatcher import Dispatcher
from udprouter.order_entry import OrderEntry
from udprouter.risk import Risk
from udprouter.server_session import ServerSession, SessionState
from udprouter.session import SessionLayer

ADDR = ("127.0.0.1", 40000)
UUID = bytes(range(16))
MAC = DatagramMac(bytes(range(32)))
SECOND = 1_000_000_000
PRICE = 100_000_000_000


@pytest.fixture
def harness():
    now = [SECOND]
    layer = SessionLayer(SessionConfig(), auth=None, store=None)
    dispatcher = Dispatcher(layer, OrderEntry(Risk({}, 10, 1000), clock=lambda: now[0]), clock=lambda: now[0])
    sent: list[bytes] = []
    dispatcher.send = lambda data, addr: sent.append(data)
    session = ServerSession(UUID, 7, KeyConfig(key_id="k", secret="s", account=1), ADDR, 100)
    session.state = SessionState.ESTABLISHED
    session.set_datagram_key(MAC.key, True)
    layer.by_addr[ADDR] = session
    return dispatcher, session, sent, now


def test_unsigned_terminate_and_heartbeat_change_nothing_and_get_no_answer(harness):
    dispatcher, session, sent, _ = harness
    dispatcher.receive(encode_message(Terminate(UUID, TerminationCode.Finished, "")), ADDR)
    dispatcher.receive(encode_message(Sequence(50)), ADDR)  # a gap, were it applied: NotApplied
    dispatcher.flush_sessions()
    assert session.state is SessionState.ESTABLISHED
    assert (session.next_inbound, session.pending, sent) == (1, [], [])
    assert dispatcher.mac_failures == 2 and dispatcher.datagrams_in == 2
    dispatcher.receive(MAC.sign(encode_message(Sequence(50))), ADDR)  # signed: applied
    assert session.next_inbound == 50 and dispatcher.mac_failures == 2


def test_failures_are_logged_as_one_summary_per_second(harness, caplog):
    dispatcher, _, _, now = harness
    bad = encode_message(Sequence(1)) + bytes(30)
    with caplog.at_level(logging.WARNING, logger="udprouter"):
        for _ in range(100):
            dispatcher.receive(bad, ADDR)
        now[0] += SECOND // 2
        for _ in range(50):
            dispatcher.receive(bad, ADDR)
        dispatcher.on_timer()
        assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
            "dropped 1 datagrams with a missing or wrong MAC"]
        now[0] += SECOND
        dispatcher.on_timer()  # the rest, once the second is over, even with no new failure
        dispatcher.on_timer()
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "dropped 1 datagrams with a missing or wrong MAC",
        "dropped 149 datagrams with a missing or wrong MAC"]
    assert dispatcher.mac_failures == 150


def test_the_mac_frame_does_not_count_toward_the_64_frame_limit(harness):
    dispatcher, session, _, _ = harness
    body = encode_message(Sequence(1)) * 64  # 64 frames, 1408 bytes: 1438 with the MAC frame
    dispatcher.receive(MAC.sign(body), ADDR)
    assert (dispatcher.decode_errors, session.pending, dispatcher.mac_failures) == (0, [], 0)
    dispatcher.receive(MAC.sign(body + encode_message(Sequence(1))), ADDR)  # 65 frames before it: too many
    assert dispatcher.decode_errors == 1


def test_a_flush_in_the_middle_of_a_datagram_loses_none_of_its_replies(harness):
    """A full batch offered in the middle of a datagram flushes the sessions first (the write-ahead
    hook): the replies made before it leave then, the ones after it at the pass's flush, all in
    order, each numbered once (a stale alias of the pending list once dropped the later ones)."""
    dispatcher, session, sent, _ = harness
    submit = dispatcher.order_entry.submit
    calls = []

    def submit_filling_the_batch(ctx, msg, now):
        calls.append(msg.cl_ord_id)
        if len(calls) == 2:
            dispatcher.flush_sessions()  # as LoopPass.before_offer does when the batch is full
        return submit(ctx, msg, now)  # no ring: each order is refused (a reply the router makes)

    dispatcher.order_entry.submit = submit_filling_the_batch
    orders = [NewOrderSingle(cl, SECOND, PRICE, 1, 1, Side.Buy, OrdType.Limit, TimeInForce.Day)
              for cl in (1, 2, 3)]
    dispatcher.receive(MAC.sign(encode_datagram([Sequence(3), *orders])), ADDR)  # 1 and 2 NotApplied first
    assert len(sent) == 1, "the flush inside the datagram sent what the datagram had made so far"
    dispatcher.flush_sessions()
    frames = [frame for datagram in sent for frame in decode_frames(datagram)[1:]]
    assert [type(f) for f in frames] == [NotApplied] + [BusinessMessageReject] * 3
    assert [f.ref_seq_num for f in frames[1:]] == [3, 4, 5]
    assert [decode_frames(d)[0].next_seq_no for d in sent] == [1, 3], "numbered once each, in order"
    assert session.next_outbound == 5 and session.pending == []
