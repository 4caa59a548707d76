"""Seeded fuzzing of the wire decoder: `python -m tests.fuzz --seed S --count N` (make fuzz).

DatagramMutator draws datagrams from a corpus (the golden vectors in protocol/vectors and valid
datagrams built here: Sequence + orders, cancels, replaces, session messages) and mutates them:
bit flips, random bytes, truncation, extension, SOFH length and encoding edits, blockLength,
templateId, schemaId and version edits, enum-field edits, splices of two datagrams, repeated frames
(beyond 64), and plain random bytes. check_decode() feeds each one to codec.decode_datagram and
checks what must hold for any input:

- it returns (never raises) a non-empty list of messages and DecodeError values, within a time bound;
- a fatal (framing) error is the last entry; at most 64 frames plus that error;
- no application message is returned from a datagram that does not start with Sequence;
- every decoded message re-encodes to bytes that decode to the same message;
- differential: every decoded message whose blockLength is the schema's is parsed by the generated
  construct definitions (the second, independent decoder) to the same field values;
- differential against the router's C fast-path decoder (udr_fp_decode, src/udprouter/fastpath/
  fast_ingest.h): whenever it accepts a datagram, the reference decodes it to Sequence and the same
  application messages, field for field (when it declines, the router uses the reference path).

The unit test (tests/unit/test_fuzz_decoder.py) runs 100,000 of these on every `make test`; the
live router gets the same mutations in tests/system/test_hostile_input.py.
"""

from __future__ import annotations

import argparse
import os
import random
import struct
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from udprouter._ring_cffi import ffi, lib

from udprouter._generated import construct_defs
from udprouter._generated.messages import (
    MAX_DATAGRAM_SIZE,
    Establish,
    FlowType,
    Negotiate,
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    OrdType,
    RetransmitRequest,
    Sequence,
    Side,
    Terminate,
    TerminationCode,
    TimeInForce,
)
from udprouter.codec import (
    FATAL_CODES,
    DecodeError,
    decode_datagram,
    decode_frames,
    encode_datagram,
    encode_message,
)

VECTORS = Path(__file__).resolve().parents[1] / "protocol" / "vectors"
MAX_DECODE_S = 0.05  # CPU time per datagram; a 1472-byte datagram decodes in tens of microseconds
PRICE = 100_000_000_000


def corpus(rng: random.Random, built: int = 200) -> list[bytes]:
    """The golden vectors plus `built` valid datagrams of every client message kind."""
    seeds = [p.read_bytes() for p in sorted(VECTORS.glob("*.bin"))]
    for _ in range(built):
        seeds.append(valid_datagram(rng))
    return seeds


def valid_datagram(rng: random.Random) -> bytes:
    if rng.random() < 0.2:
        return encode_message(session_message(rng))
    msgs = [application_message(rng) for _ in range(rng.randint(1, 25))]
    return encode_datagram([Sequence(rng.randint(1, 1 << 20)), *msgs])


def application_message(rng: random.Random):
    cl, sec, side = rng.randint(1, 1 << 40), rng.randint(1, 4), rng.choice(list(Side))
    ts = rng.getrandbits(63)
    price, qty = PRICE + rng.randint(-50, 50) * 10_000_000, rng.randint(1, 1000)
    kind = rng.random()
    if kind < 0.7:
        return NewOrderSingle(cl, ts, price, qty, sec, side, rng.choice(list(OrdType)),
                              rng.choice(list(TimeInForce)))
    if kind < 0.85:
        return OrderCancelRequest(cl, cl - 1, ts, sec, side)
    return OrderCancelReplaceRequest(cl, cl - 1, ts, price, qty, sec, side)


def session_message(rng: random.Random):
    sid, ts = rng.randbytes(16), rng.getrandbits(63)
    creds = f"demo:{rng.randbytes(32).hex()}".encode()
    return rng.choice([
        Negotiate(sid, ts, FlowType.Idempotent, creds),
        Establish(sid, ts, 1000, rng.randint(1, 99), rng.randint(0, 3), rng.randint(0, 5000), creds),
        RetransmitRequest(sid, ts, rng.randint(1, 99), rng.randint(0, 99)),
        Terminate(sid, TerminationCode.Finished, "bye"),
    ])


class DatagramMutator:
    """Seeded stream of mutated datagrams; next() -> bytes."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.corpus = corpus(self.rng)
        self.ops = [self.bit_flips, self.random_bytes, self.truncate, self.extend, self.sofh_length,
                    self.encoding_type, self.header_field, self.enum_edit, self.splice, self.repeat_frames,
                    self.noise]
        self.applied: Counter[str] = Counter()

    def next(self) -> bytes:
        data = bytearray(self.rng.choice(self.corpus))
        for _ in range(1 + (self.rng.random() < 0.3)):
            op = self.rng.choice(self.ops)
            self.applied[op.__name__] += 1
            data = op(data)
        return bytes(data[:MAX_DATAGRAM_SIZE + 64])

    def _frame_starts(self, data: bytearray) -> list[int]:
        starts, pos = [], 0
        while pos + 6 <= len(data) and len(starts) < 70:
            starts.append(pos)
            length = struct.unpack_from(">I", data, pos)[0]
            if length < 14:
                break
            pos += length
        return starts or [0]

    def bit_flips(self, data: bytearray) -> bytearray:
        for _ in range(self.rng.randint(1, 8)):
            if data:
                i = self.rng.randrange(len(data))
                data[i] ^= 1 << self.rng.randrange(8)
        return data

    def random_bytes(self, data: bytearray) -> bytearray:
        for _ in range(self.rng.randint(1, 4)):
            if data:
                value = self.rng.choice((0, 0xFF, 0x7F, 0x80, self.rng.randrange(256)))
                data[self.rng.randrange(len(data))] = value
        return data

    def truncate(self, data: bytearray) -> bytearray:
        return data[:self.rng.randrange(len(data) + 1)]

    def extend(self, data: bytearray) -> bytearray:
        return data + self.rng.randbytes(self.rng.randint(1, 40))

    def sofh_length(self, data: bytearray) -> bytearray:
        pos = self.rng.choice(self._frame_starts(data))
        if pos + 4 <= len(data):
            old = struct.unpack_from(">I", data, pos)[0]
            new = self.rng.choice((0, 1, 13, 14, old - 1, old + 1, old + 100, 0xFFFFFFFF,
                                   self.rng.randrange(2000)))
            struct.pack_into(">I", data, pos, max(0, min(new, 0xFFFFFFFF)))
        return data

    def encoding_type(self, data: bytearray) -> bytearray:
        pos = self.rng.choice(self._frame_starts(data))
        if pos + 6 <= len(data):
            struct.pack_into(">H", data, pos + 4, self.rng.choice((0xEB51, 0x5BE0, 0, 0xFFFF)))
        return data

    def header_field(self, data: bytearray) -> bytearray:
        """blockLength, templateId, schemaId or version of one frame."""
        pos = self.rng.choice(self._frame_starts(data))
        which = self.rng.randrange(4)
        if pos + 14 <= len(data):
            old = struct.unpack_from("<H", data, pos + 6 + 2 * which)[0]
            values = (0, 1, old - 1, old + 1, old + 8, 101, 2748, 207, 0xFFFF, self.rng.randrange(300))
            struct.pack_into("<H", data, pos + 6 + 2 * which, max(0, min(self.rng.choice(values), 0xFFFF)))
        return data

    def enum_edit(self, data: bytearray) -> bytearray:
        """An out-of-range or edge value in a one-byte field of one frame's block (enums are uint8)."""
        pos = self.rng.choice(self._frame_starts(data))
        if pos + 15 <= len(data):
            i = pos + 14 + self.rng.randrange(min(60, len(data) - pos - 14))
            data[i] = self.rng.choice((0, 5, 9, 0xFF, self.rng.randrange(256)))
        return data

    def splice(self, data: bytearray) -> bytearray:
        other = self.rng.choice(self.corpus)
        return data[:self.rng.randrange(len(data) + 1)] + other[self.rng.randrange(len(other) + 1):]

    def repeat_frames(self, data: bytearray) -> bytearray:
        """The last frame repeated, or small frames to near or past the 64-frame limit."""
        if self.rng.random() < 0.5:
            small = encode_message(Sequence(self.rng.randint(1, 99)))
            return data[:22] + bytearray(small) * self.rng.randint(60, 66)
        starts = self._frame_starts(data)
        frame = data[starts[-1]:]
        return data + frame * self.rng.randint(1, 80)

    def noise(self, data: bytearray) -> bytearray:
        return bytearray(self.rng.randbytes(self.rng.randint(0, 1500)))


@dataclass
class FuzzStats:
    datagrams: int = 0
    messages: int = 0
    differential: int = 0
    fast_accepted: int = 0
    seconds: float = 0.0
    max_decode_us: float = 0.0
    errors: Counter = field(default_factory=Counter)


def check_decode(payload: bytes, stats: FuzzStats, differential: bool) -> list:
    """decode_datagram(payload) with every property of the module doc asserted; returns the entries."""
    started = time.thread_time()  # CPU time: a descheduled test process is not a slow decoder
    entries = decode_datagram(payload)
    took = time.thread_time() - started
    stats.max_decode_us = max(stats.max_decode_us, took * 1e6)
    assert took < MAX_DECODE_S, f"decode took {took * 1e3:.1f} ms: {payload.hex()}"
    assert isinstance(entries, list) and entries, payload.hex()
    assert len(entries) <= 65, payload.hex()
    sequenced = entries[0].__class__ is Sequence
    for i, entry in enumerate(entries):
        if entry.__class__ is DecodeError:
            stats.errors[entry.code.name] += 1
            assert 0 <= entry.offset <= len(payload), entry
            assert entry.code not in FATAL_CODES or i == len(entries) - 1, (entry, payload.hex())
            continue
        stats.messages += 1
        assert sequenced or not entry.IS_APPLICATION, (entry, payload.hex())
        frame = encode_message(entry)
        assert decode_frames(frame) == [entry], (entry, payload.hex())
        if differential:
            stats.differential += _construct_agrees(entry, frame)
    fast = _fast_path_view(payload)
    if fast is not None:
        stats.fast_accepted += 1
        first_seq, fields = fast
        assert entries[0] == Sequence(first_seq), (entries[0], payload.hex())
        assert [_fields(m) for m in entries[1:]] == fields, payload.hex()
    stats.datagrams += 1
    return entries


_FAST_OUT = ffi.new("udr_fp_message[]", lib.UDR_FP_MAX_APP)
_FAST_FIRST = ffi.new("uint64_t *")


def _fast_path_view(payload: bytes):
    """(first_seq, [fields]) as the C fast path reads the datagram, or None when it declines it."""
    n = lib.udr_fp_decode(payload, len(payload), _FAST_FIRST, _FAST_OUT, lib.UDR_FP_MAX_APP)
    if n < 0:
        return None
    return _FAST_FIRST[0], [(m.template_id, m.cl_ord_id, m.orig_cl_ord_id, m.transact_time, m.price,
                             m.order_qty, m.security_id, m.side, m.ord_type, m.time_in_force)
                            for m in _FAST_OUT[0:n]]


def _fields(msg) -> tuple:
    return (msg.TEMPLATE_ID, msg.cl_ord_id, getattr(msg, "orig_cl_ord_id", 0), msg.transact_time,
            getattr(msg, "price", 0), getattr(msg, "order_qty", 0), msg.security_id, int(msg.side),
            int(getattr(msg, "ord_type", 0)), int(getattr(msg, "time_in_force", 0)))


def _construct_agrees(msg, frame: bytes) -> int:
    """The construct decoder reads the message's canonical frame to the same values (1 if checked)."""
    parsed = construct_defs.Frame.parse(frame).body
    for name in msg.__struct_fields__:
        ours, theirs = getattr(msg, name), parsed[name]
        if ours is None:  # optional null: construct shows the raw null value
            assert theirs in (0xFFFFFFFFFFFFFFFF, 0xFFFFFFFF, 0xFFFF), (msg, name, theirs)
        elif isinstance(ours, int):
            assert int(theirs) == int(ours), (msg, name, theirs)
        else:
            assert theirs == ours, (msg, name, theirs)
    return 1


def run(seed: int, count: int, differential_every: int = 10) -> FuzzStats:
    mutator = DatagramMutator(seed)
    stats = FuzzStats()
    started = time.perf_counter()
    for i in range(count):
        check_decode(mutator.next(), stats, differential_every > 0 and i % differential_every == 0)
    stats.seconds = time.perf_counter() - started
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=int.from_bytes(os.urandom(4), "big"))
    parser.add_argument("--count", type=int, default=2_000_000)
    parser.add_argument("--differential-every", type=int, default=10,
                        help="check every Nth datagram against the construct decoder (0: never)")
    args = parser.parse_args(argv)
    print(f"fuzzing decode_datagram: seed {args.seed}, {args.count} datagrams", flush=True)
    stats = run(args.seed, args.count, args.differential_every)
    print(f"ok: {stats.datagrams} datagrams, {stats.messages} messages decoded, {stats.differential} "
          f"checked against construct, {stats.fast_accepted} against the C fast path, "
          f"{stats.seconds:.1f} s ({stats.datagrams / stats.seconds:,.0f}/s), "
          f"slowest decode {stats.max_decode_us:.0f} us")
    print("errors: " + ", ".join(f"{k} {v}" for k, v in stats.errors.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
