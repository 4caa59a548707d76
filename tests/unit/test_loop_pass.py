"""LoopPass: with a router log, a reply leaves only once the log file holds its frame; replies made
outside a pass wait for one scheduled commit and leave together; without a log they leave at once."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from udprouter._generated.messages import BusinessMessageReject, BusinessRejectReason
from udprouter.codec import decode_frames, encode_message
from udprouter.config import KeyConfig, SessionConfig, parse_config, resolve_engine_binary
from udprouter.dispatcher import Dispatcher
from udprouter.durability.router_log import RouterLog, replay
from udprouter.engine_link.engine_supervisor import EngineSupervisor
from udprouter.fastpath.datagram_packer import SEQUENCE_FRAME_SIZE
from udprouter.loop_pass import LoopPass
from udprouter.order_entry import OrderEntry
from udprouter.ring import (
    EV_CL_ORD_ID,
    EV_COMMAND_SEQ,
    EV_FLAGS,
    EV_KIND,
    EV_SESSION_ID,
    EVENT_LAYOUT,
    EVT_ACCEPTED,
    FLAG_LAST,
    RingSegment,
)
from udprouter.risk import Risk
from udprouter.server_session import ServerSession, SessionState
from udprouter.session import SessionLayer

ADDR = ("127.0.0.1", 40000)
SESSION_ID = 7


def make(journal: Path, durability: str = "os"):
    config = parse_config(f"[journal]\ndir = '{journal}'\ndurability = '{durability}'\n")
    oe = OrderEntry(Risk({}, 10, 1000))
    dispatcher = Dispatcher(SessionLayer(SessionConfig(), auth=None, store=None), oe)
    supervisor = EngineSupervisor(config, resolve_engine_binary(config), oe)  # not started: no ring yet
    key = KeyConfig(key_id="k", secret="s", account=1)
    session = ServerSession(bytes(16), SESSION_ID, key, ADDR, 100)
    session.state = SessionState.ESTABLISHED
    dispatcher.attach(session)
    loop_pass = LoopPass(oe, dispatcher, supervisor)
    log = None
    if durability != "none":
        log = RouterLog(journal, durability, 100, 1 << 20)
        log.attach(session)
        log.open()
    loop_pass.use_log(log)
    return loop_pass, oe, session, log


def accepted(cl_ord_id: int) -> tuple:
    """An ACCEPTED event of the session, as OrderEntry.drain hands it to the session's sink."""
    values = [0] * len(EVENT_LAYOUT.format.lstrip("<"))
    values[EV_COMMAND_SEQ] = values[EV_CL_ORD_ID] = cl_ord_id
    values[EV_SESSION_ID], values[EV_KIND], values[EV_FLAGS] = SESSION_ID, EVT_ACCEPTED, FLAG_LAST
    return tuple(values)


def journal_bytes(journal: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(journal.iterdir()) if path.is_file())


def test_a_pass_sends_its_reports_only_once_the_router_log_file_holds_them(tmp_path):
    loop_pass, oe, session, log = make(tmp_path)
    sent: list[tuple[bytes, bool]] = []
    scheduled: list = []
    def send(data: bytes, addr) -> None:
        sent.append((data, data[SEQUENCE_FRAME_SIZE:] in journal_bytes(tmp_path)))

    loop_pass.start(send, None, scheduled.append)
    loop_pass.open()
    oe.sinks[SESSION_ID]([accepted(41)])
    assert sent == [] and session.pending
    loop_pass.end()
    assert len(sent) == 1 and sent[0][1], "the report left before the router log held it"
    assert scheduled == [] and session.next_outbound == 2
    log.close()


def test_replies_outside_a_pass_wait_for_one_scheduled_commit_and_leave_together(tmp_path):
    loop_pass, oe, session, log = make(tmp_path)
    sent: list[bytes] = []
    scheduled: list = []
    loop_pass.start(lambda data, addr: sent.append(data), None, scheduled.append)
    loop_pass.send(b"first", ADDR)
    loop_pass.send(b"second", ADDR)
    assert sent == [] and len(scheduled) == 1
    scheduled[0]()
    assert sent == [b"first", b"second"]
    log.close()


def test_without_a_router_log_replies_leave_as_they_are_made(tmp_path):
    loop_pass, oe, session, _ = make(tmp_path, durability="none")
    sent: list[bytes] = []
    scheduled: list = []
    loop_pass.start(lambda data, addr: sent.append(data), None, scheduled.append)
    loop_pass.send(b"reply", ADDR)
    assert sent == [b"reply"] and scheduled == []



def test_the_engine_writes_no_eventfd_for_events_a_pass_drains_itself(tmp_path):
    """While a pass runs, the router's sleep is withdrawn: events the engine publishes then are
    routed by the pass (its end re-checks the ring) without an eventfd write and a second wake-up.
    Once the pass is over the router sleeps again and the next event wakes it."""
    loop_pass, oe, session, _ = make(tmp_path, durability="none")
    segment = RingSegment.create(f"udr-test-{os.getpid()}-{uuid.uuid4().hex[:12]}", 8, 8)
    try:
        loop_pass.supervisor.ring = oe.ring = segment
        sent: list[bytes] = []
        loop_pass.start(lambda data, addr: sent.append(data), None, lambda callback: None)
        assert segment.set_router_sleeping(True) == 0  # the router asleep in epoll
        events = segment.new_events(1)
        events[0].command_seq = events[0].cl_ord_id = 41
        events[0].session_id, events[0].kind, events[0].flags = SESSION_ID, EVT_ACCEPTED, FLAG_LAST
        loop_pass.open()  # a datagram woke it
        assert segment.offer_events(events, 1) == 1
        assert segment.wake_router_if_sleeping() is False, "an eventfd write for a router that is awake"
        loop_pass.end()
        assert len(sent) == 1 and session.next_outbound == 2
        events[0].command_seq = events[0].cl_ord_id = 42
        assert segment.offer_events(events, 1) == 1
        assert segment.wake_router_if_sleeping() is True, "the router sleeps after its pass"
        assert segment.drain_outbound_eventfd() == 1
    finally:
        segment.unlink()
        segment.close()

# -- gRPC answers: they leave by the gRPC call, not by send(), so they wait on durable() ---------

GRPC_ID = 8


def grpc_flow(oe: OrderEntry, log: RouterLog):
    """A key's gRPC session, journaled and registered as its session_id's sink (as the service makes it)."""
    from fallback_grpc.grpc_session import GrpcSession

    grpc = GrpcSession(KeyConfig(key_id="g", secret="s", account=1), GRPC_ID, 100)
    log.attach(grpc.flow)
    oe.register_sink(GRPC_ID, grpc.sink(), grpc.flow)
    return grpc


async def test_a_pass_of_grpc_reports_alone_commits_them_before_the_call_reads_its_answer(tmp_path):
    import asyncio

    from fallback_grpc._generated import order_entry_pb2 as pb
    from fallback_grpc.grpc_session import Answer

    loop_pass, oe, _, log = make(tmp_path)
    grpc = grpc_flow(oe, log)
    answer = Answer([pb.OrderResult()], asyncio.get_running_loop())
    grpc.expect(41, answer, 0)
    loop_pass.start(lambda data, addr: None, None, lambda callback: None)
    loop_pass.open()
    event = list(accepted(41))
    event[EV_SESSION_ID] = GRPC_ID
    oe.sinks[GRPC_ID]([tuple(event)])
    assert answer.done.done()  # filled during the drain: the call reads it after the pass ends
    (frame,) = grpc.flow.kept_frames()
    assert frame not in journal_bytes(tmp_path)
    loop_pass.end()  # no datagram to send, still a commit
    assert frame in journal_bytes(tmp_path) and loop_pass.durable() is None
    assert answer.results[0].accepted.exec_id == (GRPC_ID << 40) | 1
    log.close()


async def test_a_grpc_report_made_outside_a_pass_is_durable_only_after_a_scheduled_commit(tmp_path):
    from udprouter._generated.messages import ExecutionReportReject, OrdRejReason, Side

    loop_pass, oe, _, log = make(tmp_path)
    grpc = grpc_flow(oe, log)
    scheduled: list = []
    loop_pass.start(lambda data, addr: None, None, scheduled.append)
    # a risk reject of a gRPC call: sequenced at once, the call's answer waits for durable()
    grpc.record_reject(ExecutionReportReject(5, 0, 1, 100, 10, 1, Side.Buy, OrdRejReason.UnknownSymbol))
    (frame,) = grpc.flow.kept_frames()
    waiting = loop_pass.durable()
    assert waiting is not None and not waiting.done() and len(scheduled) == 1
    assert frame not in journal_bytes(tmp_path)
    scheduled[0]()
    assert waiting.done() and frame in journal_bytes(tmp_path) and loop_pass.durable() is None
    log.close()


def test_the_write_ahead_record_holds_the_pass_replies_so_far_and_rolls_back_with_its_offer(tmp_path):
    """LoopPass.before_offer (the ring's hook) flushes the sessions into the write-ahead record with
    the routing position they reflect: confirmed on replay (its commands reached the engine), the
    router's own replies to the messages whose numbers it consumed are kept for retransmission; not
    confirmed, the record goes whole (numbers, frames, position), and the clients resend."""
    loop_pass, oe, session, log = make(tmp_path)
    loop_pass.start(lambda data, addr: None, None, lambda callback: None)
    oe.sinks[SESSION_ID]([accepted(5)])  # command 5's event, routed (its drain's commit not yet made)
    oe.resume_routing(5, (0, 0))
    session.accept_inbound(1, 2)  # two messages: one became command 6, the router refused the other
    session.pending.append(encode_message(BusinessMessageReject(2, 0, 14, BusinessRejectReason.Throttled)))
    assert loop_pass.before_offer(6)  # SIGKILL after the offer, before the pass's commit
    log.close()
    offered = replay(tmp_path, 100)
    assert offered.confirm(published_through=6)
    recovered = offered.sessions[SESSION_ID]
    assert (recovered.next_inbound, recovered.next_outbound, len(recovered.kept)) == (3, 3, 2)
    assert decode_frames(recovered.kept[1])[0].business_reject_reason == BusinessRejectReason.Throttled
    assert offered.command_through == 6 and offered.done_through == 5, "command 5 is not re-emitted"
    never_offered = replay(tmp_path, 100)
    assert not never_offered.confirm(published_through=5)
    assert never_offered.done_through == 0, "command 5 is re-emitted, its report made again"
    recovered = never_offered.sessions.get(SESSION_ID)
    assert recovered is None or (recovered.next_inbound, recovered.next_outbound) == (1, 1)
