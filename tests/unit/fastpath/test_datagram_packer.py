"""DatagramPacker (C, c/fast_pack.h) against the Python reference packer, and what a receiver decodes."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from udprouter._generated.messages import Sequence
from udprouter.codec import decode_datagram
from udprouter.fastpath.datagram_packer import SEQUENCE_FRAME_SIZE, DatagramPacker
from udprouter.server_session import (
    MAX_DATAGRAM,
    MAX_MESSAGES,
    not_applied_frame,
    pack_datagrams,
    pack_datagrams_reference,
    sequence_frame,
)


def test_sequence_frame_written_in_c_is_the_codec_encoding():
    (datagram,) = DatagramPacker().pack([b"x"], 0x0102030405060708)
    assert datagram[:SEQUENCE_FRAME_SIZE] == sequence_frame(0x0102030405060708)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 1600), max_size=300), st.integers(1, 2**40))
def test_c_packer_matches_the_reference_for_any_frame_sizes(sizes, first_seq):
    frames = [bytes([i % 251]) * size for i, size in enumerate(sizes)]
    assert pack_datagrams(frames, first_seq) == pack_datagrams_reference(frames, first_seq)


def test_tiny_frames_stop_at_the_message_limit_and_big_ones_at_the_byte_limit():
    tiny = [b"t"] * 200
    counts = [len(d) - SEQUENCE_FRAME_SIZE for d in pack_datagrams(tiny, 1)]
    assert counts == [MAX_MESSAGES - 1] * 3 + [200 - 3 * (MAX_MESSAGES - 1)]
    big = [b"b" * 500] * 7
    datagrams = pack_datagrams(big, 1)
    assert [len(d) for d in datagrams] == [SEQUENCE_FRAME_SIZE + 1000] * 3 + [SEQUENCE_FRAME_SIZE + 500]
    assert all(len(d) <= MAX_DATAGRAM for d in datagrams)


def test_a_frame_larger_than_a_datagram_still_gets_one_of_its_own():
    frames = [b"a" * 10, b"h" * 2000, b"z" * 10]
    assert pack_datagrams(frames, 5) == pack_datagrams_reference(frames, 5)
    assert len(pack_datagrams(frames, 5)) == 3


def test_buffers_grow_past_their_initial_size_and_stay_correct():
    packer = DatagramPacker(frames=4, out_bytes=64)
    rng = random.Random(7)
    for n in (3, 50, 5000, 10):
        frames = [bytes(rng.randrange(1, 120)) for _ in range(n)]
        assert packer.pack(frames, 100) == pack_datagrams_reference(frames, 100)
    assert packer.pack([], 1) == []


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
