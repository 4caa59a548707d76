"""SupervisedRing: reattaching a dead router's segment (fresh eventfds, what reached the engine side),
preparing it so a new engine re-emits unlogged events, the write-ahead hook, and refusals."""

import uuid

import pytest

from udprouter.engine_link.supervised_ring import SupervisedRing
from udprouter.ring import ENGINE_ABSENT, ENGINE_STOPPED, RingError, RingSegment


@pytest.fixture
def name():
    name = f"udprouter-unit-{uuid.uuid4().hex[:12]}"
    yield name
    try:
        RingSegment.attach(name).unlink()
    except RingError:
        pass


def offer(ring: RingSegment, first_seq: int, n: int) -> None:
    cmds = RingSegment.new_commands(n)
    for i in range(n):
        cmds[i].command_seq = first_seq + i
    assert ring.offer_commands(cmds, n) == n


def test_missing_segment_is_not_reattached(name):
    assert SupervisedRing.reattach(name) is None


def test_reattach_keeps_queued_commands_and_gives_new_eventfds(name):
    dead = SupervisedRing.create(name, 8, 8)
    offer(dead, 1, 5)
    old_fds = {dead.inbound_eventfd, dead.outbound_eventfd}
    ring = SupervisedRing.reattach(name)
    try:
        assert ring.inbound_occupancy == 5 and ring.published_command_seq() == 5
        assert min(ring.inbound_eventfd, ring.outbound_eventfd) >= 0
        assert not {ring.inbound_eventfd, ring.outbound_eventfd} & old_fds
    finally:
        ring.close()
        dead.close()


def test_prepare_replay_empties_outbound_and_rewinds_events_through(name):
    ring = SupervisedRing.create(name, 8, 8)
    try:
        events = RingSegment.new_events(3)
        for i in range(3):
            events[i].command_seq = 7 + i
        assert ring.offer_events(events, 3) == 3
        assert ring.engine_state == ENGINE_ABSENT
        ring.prepare_replay(6)
        assert ring.outbound_occupancy == 0 and ring.poll_events(RingSegment.new_events(8), 8) == 0
        assert ring.events_through == 6 and ring.engine_state == ENGINE_STOPPED
    finally:
        ring.close()


def test_before_offer_hook_sees_the_batch_last_command_seq_first(name):
    ring = SupervisedRing.create(name, 8, 8)
    seen = []
    ring.before_offer = lambda last: seen.append((last, ring.inbound_occupancy))
    try:
        offer(ring, 11, 3)
        assert seen == [(13, 0)]
    finally:
        ring.close()


def test_segment_of_another_layout_is_removed_not_reattached(name):
    ring = SupervisedRing.create(name, 8, 8)
    ring.raw_buffer()[0:8] = b"NOTARING"
    ring.close()
    assert SupervisedRing.reattach(name) is None
    with pytest.raises(RingError):
        RingSegment.attach(name)
