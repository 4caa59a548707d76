"""The C fast-path decoder (udr_fp_decode) against the reference decoder (codec.decode_datagram).

For every golden vector and >= 20,000 seeded random and mutated datagrams both must make the same
decision and, where the C side accepts, yield the same fields. The C side accepts exactly the
canonical common case: the reference decodes every frame without error, the first is Sequence,
the others are NewOrderSingle / OrderCancelRequest / OrderCancelReplaceRequest, and each frame
carries its template's own SOFH length and header (no extension block, no older version): any
other datagram is left to the Python path.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from udprouter._ring_cffi import ffi, lib

from udprouter._generated.messages import (
    FRAME_PREFIX_SIZE,
    MESSAGE_HEADER,
    SBE_LE_ENCODING_TYPE,
    SOFH,
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    Sequence,
)
from udprouter.codec import decode_datagram, encode_datagram, encode_message

VECTORS = Path(__file__).resolve().parents[3] / "protocol" / "vectors"
APP = (NewOrderSingle, OrderCancelRequest, OrderCancelReplaceRequest)
RANDOM_DATAGRAMS = 6_000
MUTATIONS_PER_DATAGRAM = 3  # 6,000 valid + 18,000 mutated = 24,000 random cases
_OUT = ffi.new("udr_fp_message[]", lib.UDR_FP_MAX_APP)
_FIRST = ffi.new("uint64_t *")


def c_view(data: bytes):
    """(first_seq, [message fields]) as the C decoder reads them, or None (not the fast path)."""
    n = lib.udr_fp_decode(data, len(data), _FIRST, _OUT, lib.UDR_FP_MAX_APP)
    if n < 0:
        return None
    return _FIRST[0], [(m.template_id, m.cl_ord_id, m.orig_cl_ord_id, m.transact_time, m.price, m.order_qty,
                        m.security_id, m.side, m.ord_type, m.time_in_force) for m in _OUT[0:n]]


def _fields(msg) -> tuple:
    return (msg.TEMPLATE_ID, msg.cl_ord_id, getattr(msg, "orig_cl_ord_id", 0), msg.transact_time,
            getattr(msg, "price", 0), getattr(msg, "order_qty", 0), msg.security_id, int(msg.side),
            int(getattr(msg, "ord_type", 0)), int(getattr(msg, "time_in_force", 0)))


def _canonical_frames(data: bytes, entries: list) -> bool:
    pos = 0
    for msg in entries:
        cls = msg.__class__
        prefix = SOFH.pack(FRAME_PREFIX_SIZE + cls.BLOCK_LENGTH, SBE_LE_ENCODING_TYPE) + MESSAGE_HEADER.pack(
            cls.BLOCK_LENGTH, cls.TEMPLATE_ID, cls.SCHEMA_ID, cls.VERSION)
        if data[pos:pos + FRAME_PREFIX_SIZE] != prefix:
            return False
        pos += FRAME_PREFIX_SIZE + cls.BLOCK_LENGTH
    return pos == len(data)


def reference_view(data: bytes):
    """The same view from the reference decoder's output, or None."""
    entries = decode_datagram(data)
    if entries[0].__class__ is not Sequence or any(e.__class__ not in APP for e in entries[1:]):
        return None
    if not _canonical_frames(data, entries):
        return None
    return entries[0].next_seq_no, [_fields(e) for e in entries[1:]]


def random_app(rng: random.Random):
    u64 = (0, 1, 2**63, 2**64 - 1, rng.getrandbits(64))
    i64 = (0, -1, -(2**63), 2**63 - 1, rng.getrandbits(63) - 2**62, 100_000_000_000)
    u32, i32 = (0, 1, 2**32 - 1, rng.getrandbits(32)), (0, 1, -1, -(2**31), 2**31 - 1, rng.randint(1, 5))
    pick = rng.choice
    kind = rng.randrange(3)
    if kind == 0:
        return NewOrderSingle(pick(u64), pick(u64), pick(i64), pick(u32), pick(i32), rng.choice((1, 2)),
                              rng.choice((1, 2)), rng.choice((0, 3, 4)))
    if kind == 1:
        return OrderCancelRequest(pick(u64), pick(u64), pick(u64), pick(i32), rng.choice((1, 2)))
    return OrderCancelReplaceRequest(pick(u64), pick(u64), pick(u64), pick(i64), pick(u32), pick(i32),
                                     rng.choice((1, 2)))


def random_datagram(rng: random.Random) -> bytes:
    count = rng.choice((0, 1, 1, 2, 5, 20, 30, rng.randrange(64)))
    msgs = [Sequence(rng.choice((1, 2, rng.getrandbits(64))))] + [random_app(rng) for _ in range(count)]
    return b"".join(encode_message(m) for m in msgs)


def mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    op = rng.randrange(9)
    if op == 0 and b:  # one byte anywhere
        b[rng.randrange(len(b))] = rng.randrange(256)
    elif op == 1 and b:  # one byte in a frame prefix (SOFH, header) or an enum: the sensitive parts
        pos = rng.choice([i for i in range(len(b)) if i % 49 < 14 or i % 49 > 45] or [0])
        b[pos] = rng.randrange(256)
    elif op == 2:
        del b[rng.randrange(len(b) + 1):]
    elif op == 3:
        b += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 30)))
    elif op == 4:  # a session message or a second Sequence spliced in
        extra = encode_message(Sequence(rng.getrandbits(64)))
        at = rng.randrange(len(b) + 1)
        b[at:at] = extra
    elif op == 5:  # random bytes
        b = bytearray(rng.randbytes(rng.randrange(0, 80)))
    elif op == 6 and len(b) >= 16:  # an extension: blockLength + SOFH grown by k bytes on one frame
        k = rng.randrange(1, 9)
        SOFH.pack_into(b, 0, SOFH.unpack_from(b, 0)[0] + k, SBE_LE_ENCODING_TYPE)
        b[6:8] = (int.from_bytes(b[6:8], "little") + k).to_bytes(2, "little")
        b[22:22] = bytes(k)
    elif op == 7:  # past the datagram size or message count limits
        b += encode_message(Sequence(1)) * rng.choice((1, 40, 70, 120))
    elif op == 8 and len(b) > 13:  # schema version / id / template bumps on the first frame
        field = rng.choice((8, 10, 12))
        b[field] = (b[field] + rng.choice((1, 255))) % 256
    return bytes(b)


def assert_same(data: bytes) -> bool:
    c, ref = c_view(data), reference_view(data)
    assert c == ref, data.hex()
    return c is not None


def test_every_golden_vector_gets_the_same_decision_and_fields():
    accepted = [path.name for path in sorted(VECTORS.glob("*.bin")) if assert_same(path.read_bytes())]
    # The two recorded order datagrams are the common case; every single message alone is not.
    assert accepted == ["Sequence.bin", "datagram_sequence_nos_x1.bin", "datagram_sequence_nos_x20.bin"]


def test_seeded_random_and_mutated_datagrams_get_the_same_decision_and_fields():
    rng = random.Random(20261124)
    decided = {True: 0, False: 0}
    for _ in range(RANDOM_DATAGRAMS):
        data = random_datagram(rng)
        decided[assert_same(data)] += 1
        for _ in range(MUTATIONS_PER_DATAGRAM):
            decided[assert_same(mutate(data, rng))] += 1
    assert sum(decided.values()) >= 20_000
    # Both decisions are exercised in bulk, so neither side can pass by always saying no.
    assert decided[True] > 5_000 and decided[False] > 5_000, decided


@pytest.mark.parametrize("count", [0, 1, 20, 29])
def test_common_datagrams_up_to_the_size_limit_decode_in_c(count):
    data = encode_datagram([Sequence(7)] + [NewOrderSingle(i + 1, 0, 5, 1, 1, 1, 2, 0) for i in range(count)])
    assert_same(data)
    first, msgs = c_view(data)
    assert first == 7 and [m[1] for m in msgs] == list(range(1, count + 1))


def test_beyond_the_size_or_frame_limit_neither_decoder_takes_the_fast_path():
    order = encode_message(NewOrderSingle(1, 0, 5, 1, 1, 1, 2, 0))
    too_large = encode_message(Sequence(7)) + order * 30  # 1492 bytes
    too_many = encode_message(Sequence(7)) * 65  # 1430 bytes: within the size, over 64 frames
    for data in (too_large, too_many):
        assert c_view(data) is None and reference_view(data) is None


# -- sequence numbers at the edges of their widths: the C ingest against the Python reference ----

EDGE_STARTS = (1, 2**32 - 2, 2**32, 2**63, 2**64 - 70, 2**64 - 3, 2**64 - 2, 2**64 - 1)


def edge_datagrams(rng: random.Random, expected: int):
    """Sequences around the session's expectation and the uint32 / uint64 limits, 0..3 orders each."""
    firsts = {expected, expected + 1, expected - 1, expected + 2**32 - 1, expected + 2**32,
              expected + 2**32 + 1, 2**64 - 1, 2**64 - 2, 2**64 - 3, 0, rng.getrandbits(64)}
    for first in sorted(f for f in firsts if 0 <= f < 2**64):
        for count in (0, 1, 3):
            orders = [NewOrderSingle(rng.getrandbits(64) | 1, 0, 100_000_000_000, 1, 1, 1, 2, 0)
                      for _ in range(count)]
            yield encode_message(Sequence(first)) + b"".join(encode_message(m) for m in orders)


@pytest.mark.parametrize("start", EDGE_STARTS)
def test_sequence_edges_get_the_same_outcome_on_both_paths(start):
    """Neither path raises or wraps: a gap above 2^32 - 1 or numbers past 2^64 - 2 are refused whole
    (SeqNoOutOfRange, the expectation unchanged) by both, and everything else moves both alike."""
    from test_fastpath_ingest import Side

    now = [1_000_000_000]
    sides = [Side(f"udprouter-fpe-{os.getpid()}-{kind}", kind == "c", lambda: now[0]) for kind in ("py", "c")]
    try:
        py, c = sides
        rng = random.Random(start)
        for side in sides:
            side.session.next_inbound = start
        for data in edge_datagrams(rng, start):
            for side in sides:
                side.receive(data)
                side.end_of_pass()
            assert c.marks() == py.marks(), data.hex()
            assert py.session.next_inbound <= 2**64 - 1
            py.session.pending.clear()
            c.session.pending.clear()
            now[0] += 1_000_000_000
        assert c.commands == py.commands
    finally:
        for side in sides:
            side.close()
