"""SentFrames against the deque it replaced: the newest `capacity` frames, whichever blocks they came in.

extend_packed takes what LoopPass._keep_packed hands over (frames back to back in one bytes, their
end offsets as uint32s counted from where the block was cut); extend a flush's list.
"""

from __future__ import annotations

import array
import gc
from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from udprouter.config import KeyConfig
from udprouter.sent_frames import SentFrames
from udprouter.server_session import RetransmitOutcome, ServerSession


def packed(frames: list[bytes], base: int = 0) -> tuple[bytes, bytes | None, int, int]:
    """extend_packed's arguments for frames cut from a buffer where they start at offset base."""
    ends, at = array.array("I"), base
    for frame in frames:
        at += len(frame)
        ends.append(at)
    return b"".join(frames), ends.tobytes() if len(frames) > 1 else None, base, len(frames)


frame_sizes = st.integers(1, 40)
blocks = st.lists(st.tuples(st.booleans(), st.integers(0, 300), st.lists(frame_sizes, max_size=12)),
                  max_size=25)


@settings(max_examples=300, deadline=None)
@given(capacity=st.integers(0, 30), blocks=blocks, data=st.data())
def test_keeps_the_newest_capacity_frames_whatever_blocks_they_came_in(capacity, blocks, data):
    kept, model, number = SentFrames(capacity), deque(maxlen=capacity), 0
    for as_packed, base, sizes in blocks:
        frames = []
        for size in sizes:
            frames.append(number.to_bytes(4, "little") * size)  # each frame tells its number
            number += 1
        if as_packed:
            kept.extend_packed(*packed(frames, base))
        else:
            kept.extend(frames)
        model.extend(frames)
        assert len(kept) == len(model)
    assert kept.frames() == list(model)
    if model:
        start = data.draw(st.integers(0, len(model) - 1))
        count = data.draw(st.integers(0, len(model) - start))
        assert kept.frames(start, count) == list(model)[start:start + count]


def test_a_packed_block_cut_anywhere_in_its_buffer_gives_its_frames_back():
    frames = [b"a", b"bcd", b"", b"efgh"]
    kept = SentFrames(10)
    kept.extend_packed(*packed(frames, base=1000))
    assert len(kept) == 4
    assert kept.frames() == frames
    assert kept.frames(1, 2) == [b"bcd", b""]
    assert kept.frames(3, 1) == [b"efgh"]


def test_kept_blocks_leave_the_collectors_tracking_so_a_full_collection_does_not_walk_them():
    kept = SentFrames(1_000_000)
    for i in range(2000):
        kept.extend_packed(*packed([b"report %d" % i]))
        kept.extend([b"flushed %d" % i])
    gc.collect()
    blocks = list(kept._blocks)
    assert len(blocks) == 4000
    assert not any(gc.is_tracked(block) for block in blocks)


def test_capacity_zero_keeps_nothing():
    kept = SentFrames(0, [b"x"])
    kept.extend_packed(*packed([b"y", b"z"]))
    assert len(kept) == 0 and kept.frames() == []


def keep_built(s: ServerSession, frames: list[bytes], base: int = 0) -> None:
    """As a pass's replies leave answer_pass.h and LoopPass: numbered in C, then kept packed."""
    s.next_outbound += len(frames)
    s.keep_packed(*packed(frames, base=base))


def session(capacity: int) -> ServerSession:
    return ServerSession(b"\x01" * 16, 7, KeyConfig(key_id="k", secret="s", account=1), None, capacity)


def test_a_session_retransmits_frames_kept_as_packed_blocks_and_lists_alike():
    s = session(capacity=5)
    keep_built(s, [b"f1", b"f2", b"f3"], base=64)
    s.keep([b"f4"])
    keep_built(s, [b"f5", b"f6"])
    assert s.kept_range() == (2, 7)
    assert s.kept_frames() == [b"f2", b"f3", b"f4", b"f5", b"f6"]
    outcome, datagrams = s.retransmit(3, 3, 10)
    assert outcome is RetransmitOutcome.OK
    body = b"".join(datagrams)
    assert b"f3" in body and b"f4" in body and b"f5" in body and b"f2" not in body and b"f6" not in body
    assert s.retransmit(1, 1, 10)[0] is RetransmitOutcome.OUT_OF_RANGE  # dropped: past capacity
    assert s.retransmit(6, 2, 10)[0] is RetransmitOutcome.OUT_OF_RANGE  # 7 not sequenced yet


def test_a_restored_session_keeps_the_newest_frames_of_the_log_and_extends_them():
    s = session(capacity=3)
    s.restore(next_inbound=10, next_outbound=6, kept=[b"f1", b"f2", b"f3", b"f4", b"f5"], cl_ord_hwm=0,
              open_orders=0)
    assert s.kept_range() == (3, 6) and s.kept_frames() == [b"f3", b"f4", b"f5"]
    keep_built(s, [b"f6"])
    assert s.kept_range() == (4, 7) and s.kept_frames() == [b"f4", b"f5", b"f6"]
