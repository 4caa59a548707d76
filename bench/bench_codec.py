"""Python codec cost per NewOrderSingle, against struct on the same bytes measured in the same run.

    python -m bench.bench_codec [--quick] [--json]

Datagrams of a Sequence followed by 1 and by 20 NewOrderSingle frames (the shapes clients send).
  decode: udprouter.codec.decode_datagram (framing, validation, msgspec Structs with enum members)
          baseline: struct.unpack_from of every frame's SOFH and block of the same bytes
  encode: udprouter.codec.encode_sequenced_datagram from the Structs
          baseline: struct.pack of the same frames from plain tuples, joined
Figures are ns per NewOrderSingle (best of several repeats, so a busy neighbour inflates less);
ratio = figure / baseline.
"""

from __future__ import annotations

import argparse
import json
import struct
import timeit

from udprouter import codec
from udprouter._generated import messages as m

SOFH_HEADER = struct.Struct(">IH8s")
NOS_BLOCK = m.NewOrderSingle.LAYOUT
NOS_FRAME = struct.Struct("<14s" + NOS_BLOCK.format[1:])
SEQ_FRAME = struct.Struct("<14sQ")


def orders(count: int) -> list[m.NewOrderSingle]:
    sides = (m.Side.Buy, m.Side.Sell)
    return [m.NewOrderSingle(1_000 + i, 1_767_225_600_000_000_000 + i, 100_000_000_000 + i * 10_000_000,
                             100, 1 + i % 3, sides[i % 2], m.OrdType.Limit, m.TimeInForce.Day)
            for i in range(count)]


def struct_decode(payload: bytes) -> list[tuple]:
    """What decode does at its barest: read each SOFH + header, unpack each block."""
    out = []
    pos = 0
    size = len(payload)
    while pos < size:
        length, _, _ = SOFH_HEADER.unpack_from(payload, pos)
        out.append(NOS_BLOCK.unpack_from(payload, pos + 14) if length == 49 else ())
        pos += length
    return out


def struct_encode(prefixes: tuple[bytes, bytes], seq: int, rows: list[tuple]) -> bytes:
    seq_prefix, nos_prefix = prefixes
    return b"".join([SEQ_FRAME.pack(seq_prefix, seq)] + [NOS_FRAME.pack(nos_prefix, *row) for row in rows])


def best_ns(func, per: int, number: int, repeat: int) -> float:
    return min(timeit.repeat(func, number=number, repeat=repeat)) / number / per * 1e9


def entry(name: str, figure: float, baseline_name: str, baseline: float) -> dict:
    return {"name": name, "figure": round(figure, 1), "unit": "ns/order", "baseline_name": baseline_name,
            "baseline": round(baseline, 1), "ratio": round(figure / baseline, 2)}


def run(quick: bool = False) -> list[dict]:
    repeat = 3 if quick else 7
    results = []
    for count in (1, 20):
        msgs = orders(count)
        payload = codec.encode_sequenced_datagram(1, msgs)
        assert codec.decode_datagram(payload)[1:] == msgs  # measure a decode that is right
        number = max(200, (5_000 if quick else 50_000) // count)
        rows = [tuple(getattr(o, f) for f in o.__struct_fields__) for o in msgs]
        prefixes = (payload[:14], payload[22:36])
        assert struct_encode(prefixes, 1, rows) == payload
        def timed(func, n=count, k=number):
            return best_ns(func, n, k, repeat)

        results.append(entry(f"codec decode, Sequence + {count} NewOrderSingle",
                             timed(lambda p=payload: codec.decode_datagram(p)),
                             "struct.unpack_from of the same frames",
                             timed(lambda p=payload: struct_decode(p))))
        results.append(entry(f"codec encode, Sequence + {count} NewOrderSingle",
                             timed(lambda o=msgs: codec.encode_sequenced_datagram(1, o)),
                             "struct.pack of the same frames",
                             timed(lambda r=rows, p=prefixes: struct_encode(p, 1, r))))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the entries as one JSON list")
    args = parser.parse_args()
    results = run(args.quick)
    print(f"{'benchmark':48} {'ns/order':>9} {'baseline':>9} {'ratio':>6}")
    for r in results:
        print(f"{r['name']:48} {r['figure']:9.1f} {r['baseline']:9.1f} {r['ratio']:5.2f}x"
              f"  vs {r['baseline_name']}")
    print(json.dumps(results) if args.json else "")


if __name__ == "__main__":
    main()
