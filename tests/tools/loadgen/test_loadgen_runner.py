"""The C send/receive loop against the C echo server on loopback, bounded in count and time."""

import socket

import pytest

from bench.c.echo_server import EchoServer
from udprouter._generated import messages as m
from udprouter.codec import encode_datagram, encode_message
from udprouter.loadgen.handshake import open_udp_socket
from udprouter.loadgen.order_flow import build_order_flow
from udprouter.loadgen.plan import build_plan
from udprouter.loadgen.runner import RunLimits, run_plan
from udprouter.loadgen.schedule import paced_schedule

LIMITS = RunLimits(timeout_s=10.0, drain_s=2.0)


@pytest.fixture(scope="module")
def echo():
    with EchoServer() as server:
        yield server


@pytest.fixture
def client(echo):
    sock = open_udp_socket("127.0.0.1", echo.port)
    yield sock
    sock.close()


def test_windowed_run_gets_every_order_answered_once(client):
    plan = build_plan(build_order_flow(3000, seed=4), 1)
    result = run_plan(plan, [client.fileno()], None, window_orders=128, limits=LIMITS)
    assert (result.sent_datagrams, result.sent_orders) == (3000, 3000)
    assert (result.acked, result.unanswered) == (3000, 0)
    assert set(result.answer_template) == {201}
    order_datagram = plan.order_datagram()
    assert all(a >= result.sent_ns[order_datagram[i]] for i, a in enumerate(result.answer_ns))


def test_batched_datagrams_get_one_answer_frame_per_order(client):
    plan = build_plan(build_order_flow(2000, seed=4), 20)
    result = run_plan(plan, [client.fileno()], None, window_orders=400, limits=LIMITS)
    assert result.recv_datagrams == len(plan.datagrams) == 100
    assert result.recv_frames == 100 * (1 + 20)  # Sequence + one report per order
    assert result.acked == 2000


def test_paced_run_never_sends_before_the_intended_time(client):
    plan = build_plan(build_order_flow(400, seed=4), 1)
    schedule = paced_schedule(len(plan.datagrams), 1, 20_000)  # 20 ms of traffic
    result = run_plan(plan, [client.fileno()], schedule, limits=LIMITS)
    assert result.acked == 400
    assert all(sent >= due for sent, due in zip(result.sent_ns, schedule, strict=True))
    assert result.sent_ns[-1] >= 19_950_000


@pytest.mark.parametrize("max_lead_us", [0.0, 200.0])
def test_waking_early_for_its_own_timer_lateness_never_sends_early(client, max_lead_us):
    # 2k datagrams/s: 500 us gaps, so the loop sleeps between sends and learns how late its
    # timer wake-ups come; it may wake that much earlier (at most max_lead_us), then spins.
    plan = build_plan(build_order_flow(200, seed=4), 1)
    schedule = paced_schedule(len(plan.datagrams), 1, 2_000)
    limits = RunLimits(timeout_s=10.0, drain_s=2.0, max_lead_us=max_lead_us)
    result = run_plan(plan, [client.fileno()], schedule, limits=limits)
    assert result.acked == 200
    assert all(sent >= due for sent, due in zip(result.sent_ns, schedule, strict=True))
    assert result.timer_wakes >= 20  # gaps end in a timed-out sleep (fewer on a busy host)
    assert 0 <= result.wake_late_ns <= max_lead_us * 1000
    assert len(result.send_lateness_ns(schedule)) == 200
    assert 0 < result.cpu_ns < result.elapsed_ns  # it slept between sends


def test_answers_are_timed_by_their_arrival_at_the_socket_and_their_read_kept_beside(client):
    # 2k datagrams/s: the loop sleeps between sends, so it reads each answer some microseconds
    # after the kernel stamped its arrival. The stamp lies between the send and the read.
    plan = build_plan(build_order_flow(200, seed=4), 1)
    schedule = paced_schedule(len(plan.datagrams), 1, 2_000)
    result = run_plan(plan, [client.fileno()], schedule, limits=LIMITS)
    assert result.acked == 200 and result.unstamped_answers == 0
    order_datagram = plan.order_datagram()
    for order, (arrived, read) in enumerate(zip(result.answer_ns, result.answer_read_ns, strict=True)):
        assert result.sent_ns[order_datagram[order]] <= arrived < read
    assert len(result.read_lateness_ns()) == 200
    assert result.last_answer_ns == max(result.answer_ns)


def test_not_applied_and_business_rejects_are_matched_through_sequence_numbers():
    # A scripted peer: its answers wait in the client's buffer before the run starts, so the
    # C loop matches them deterministically (NotApplied 3-4 and a reject of 5 name sequence numbers).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        client = open_udp_socket("127.0.0.1", peer.getsockname()[1])
        try:
            client.send(b"hello")  # lets the peer learn the client's address
            _, addr = peer.recvfrom(64)
            plan = build_plan(build_order_flow(6, seed=1), 1, cl_ord_id_base=500, seq_start=[1])
            not_applied = m.NotApplied(from_seq_no=3, count=2)
            peer.sendto(encode_datagram([m.Sequence(next_seq_no=1), not_applied]), addr)
            peer.sendto(encode_message(m.BusinessMessageReject(
                ref_seq_num=5, transact_time=0, ref_template_id=101,
                business_reject_reason=m.BusinessRejectReason.Throttled)), addr)
            peer.sendto(encode_message(m.ExecutionReportReject(
                cl_ord_id=500, exec_id=1, transact_time=0, price=0, order_qty=1, security_id=1,
                side=m.Side.Buy, ord_rej_reason=m.OrdRejReason.Other)), addr)
            result = run_plan(plan, [client.fileno()], None, limits=RunLimits(timeout_s=2.0, drain_s=0.2))
        finally:
            client.close()
    assert list(result.answer_template) == [205, 0, 18, 18, 207, 0]
    assert (result.rejected, result.not_applied, result.unanswered) == (2, 2, 2)
    # They reached the socket before the run began: timed by their read, never before the start.
    assert all(a == r >= 0 for a, r in zip(result.answer_ns, result.answer_read_ns, strict=True) if a >= 0)


def test_lost_answers_free_their_window_slots_after_the_loss_timeout():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent_peer:
        silent_peer.bind(("127.0.0.1", 0))
        client = open_udp_socket("127.0.0.1", silent_peer.getsockname()[1])
        try:
            plan = build_plan(build_order_flow(40, seed=1), 1)
            limits = RunLimits(timeout_s=3.0, drain_s=0.05, loss_timeout_s=0.01)
            result = run_plan(plan, [client.fileno()], None, window_orders=4, limits=limits)
        finally:
            client.close()
    # Without expiry the first 4 unanswered orders would hold the window shut for the whole run.
    assert result.sent_datagrams == 40 and result.unanswered == 40
    assert result.elapsed_ns < 2_000_000_000
