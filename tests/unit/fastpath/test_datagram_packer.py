"""DatagramPacker (C, fast_pack.h) against the Python reference packer, and what a receiver decodes."""

import random
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from udprouter._generated.messages import DropCopy, ExecutionReportNew, Sequence, Side
from udprouter.client import fold_copies
from udprouter.codec import decode_datagram, encode_message
from udprouter.fastpath.datagram_packer import SEQUENCE_FRAME_SIZE, DatagramPacker
from udprouter.server_session import (
    MAX_DATAGRAM,
    MAX_MESSAGES,
    not_applied_frame,
    pack_datagrams,
    pack_datagrams_reference,
    sequence_frame,
)


def frame(size: int, fill: int = 0, template_id: int = 201) -> bytes:
    """A frame of size bytes (SOFH and SBE header included) the packer reads like any other."""
    header = struct.pack(">IH", size, 0xEB50) + struct.pack("<4H", size - 14, template_id, 101, 0)
    return header + bytes([fill % 251]) * (size - 14)


def copy_of(report: bytes) -> bytes:
    """A drop copy: the DropCopy frame and the report, one message."""
    return frame(22, 7, template_id=220) + report


def test_sequence_frame_written_in_c_is_the_codec_encoding():
    (datagram,) = DatagramPacker().pack([frame(20)], 0x0102030405060708)
    assert datagram[:SEQUENCE_FRAME_SIZE] == sequence_frame(0x0102030405060708)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(14, 1600), st.booleans()), max_size=300), st.integers(1, 2**40))
def test_c_packer_matches_the_reference_for_any_frame_sizes_and_drop_copies(messages, first_seq):
    frames = [copy_of(frame(size, i)) if copied else frame(size, i)
              for i, (size, copied) in enumerate(messages)]
    assert DatagramPacker().pack(frames, first_seq) == pack_datagrams_reference(frames, first_seq)


def test_tiny_frames_stop_at_the_message_limit_and_big_ones_at_the_byte_limit():
    tiny = [frame(14)] * 200
    counts = [(len(d) - SEQUENCE_FRAME_SIZE) // 14 for d in DatagramPacker().pack(tiny, 1)]
    assert counts == [MAX_MESSAGES - 1] * 3 + [200 - 3 * (MAX_MESSAGES - 1)]
    big = [frame(500)] * 7
    datagrams = DatagramPacker().pack(big, 1)
    assert [len(d) for d in datagrams] == [SEQUENCE_FRAME_SIZE + 1000] * 3 + [SEQUENCE_FRAME_SIZE + 500]
    assert all(len(d) <= MAX_DATAGRAM for d in datagrams)


def test_a_frame_larger_than_a_datagram_still_gets_one_of_its_own():
    frames = [frame(20), frame(2000), frame(20)]
    assert DatagramPacker().pack(frames, 5) == pack_datagrams_reference(frames, 5)
    assert len(pack_datagrams(frames, 5)) == 3


def test_buffers_grow_past_their_initial_size_and_stay_correct():
    packer = DatagramPacker(frames=4, out_bytes=64)
    rng = random.Random(7)
    for n in (3, 50, 5000, 10):
        frames = [frame(rng.randrange(14, 120)) for _ in range(n)]
        assert packer.pack(frames, 100) == pack_datagrams_reference(frames, 100)
    assert packer.pack([], 1) == []


def test_elements_that_are_not_one_whole_frame_are_packed_by_the_reference():
    for frames in ([b"x"], [frame(20), frame(30) + frame(20)], [frame(22, template_id=220), frame(40)],
                   [frame(20)[:-1]]):
        assert DatagramPacker().pack(frames, 3) is None
        assert pack_datagrams(frames, 3) == pack_datagrams_reference(frames, 3)


def test_a_drop_copy_takes_one_number_and_stays_whole_in_its_datagram():
    report = encode_message(ExecutionReportNew(1, 2, 3, 4, 100, 10, 1, Side.Buy))
    mark = encode_message(DropCopy(9, 2))
    frames = [mark + report] * 45 + [report]
    seq, seen = 10, []
    for datagram in pack_datagrams(frames, 10):
        first, *rest = decode_datagram(datagram)
        assert first.__class__ is Sequence and first.next_seq_no == seq
        folded = fold_copies(rest)  # a DropCopy frame without its report after it would be lost here
        seq += len(folded)
        seen += folded
    assert seq == 10 + 46 and [r.account for r in seen[:45]] == [2] * 45


def test_receiver_decodes_each_datagram_as_sequence_then_the_frames_numbered_in_order():
    frames = [not_applied_frame(1000 + i, i + 1) for i in range(150)]
    seq = 42
    seen = []
    for datagram in pack_datagrams(frames, 42):
        first, *rest = decode_datagram(datagram)
        assert first.__class__ is Sequence and first.next_seq_no == seq
        seen += [(m.from_seq_no, m.count) for m in rest]
        seq += len(rest)
    assert seen == [(1000 + i, i + 1) for i in range(150)]
