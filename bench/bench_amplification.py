"""Bytes out per byte in for every kind of datagram an established session can send.

    python -m bench.bench_amplification [--quick] [--json]

One router (`udprouter serve`, engine spawned by it, default session limits). One session sends a
burst of each kind in turn and counts the bytes of the datagrams it sent and of every datagram the
router sent back until the router has been quiet for a while. A ratio above 1 means the router
answers a kind with more than it was sent: bounded by the per-session retransmission byte budget
and the per-session limit on unnumbered rejects (SPEC 4.3, 4.4), which is what a hostile session
with a valid key meets. The baseline of each entry is 1 (as many bytes out as in).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from bench.module_cli import module_main, print_entries
from bench.udp_servers import ROOT, RouterProcess

PRICE = 100_000_000_000
TICK = 10_000_000
QUIET_S = 0.4
SETTINGS = {True: dict(datagrams=300), False: dict(datagrams=2000)}


def kinds(client):
    """(name, make(i) -> payload) for each kind; payloads that need the session's live numbers
    read them from the client when made."""
    from udprouter._generated.messages import (
        NewOrderSingle,
        OrdType,
        RetransmitRequest,
        Sequence,
        Side,
        TimeInForce,
    )
    from udprouter.codec import encode_message

    def seq(n: int = 0) -> bytes:
        first = client.out.next_seq
        client.out.next_seq += n
        return encode_message(Sequence(first))

    def orders(i: int) -> bytes:
        msgs = [NewOrderSingle(client.next_cl_ord_id(), 0, PRICE - TICK * (1 + (i + k) % 7), 1, 1,
                               Side.Buy, OrdType.Limit, TimeInForce.Day)  # resting: one report each
                for k in range(20)]
        return seq(20) + b"".join(encode_message(m) for m in msgs)

    def retransmit(from_seq: int, count: int, session_id: bytes | None = None):
        return lambda i: encode_message(RetransmitRequest(session_id or client.session_id, time.time_ns(),
                                                          from_seq, count))

    bad_enum = bytearray(encode_message(NewOrderSingle(1, 0, PRICE, 1, 1, Side.Buy, OrdType.Limit,
                                                       TimeInForce.Day)))
    bad_enum[-1] = 9  # TimeInForce out of range: a numbered reject
    unknown_template = bytearray(bad_enum)
    unknown_template[8] = 99
    return [
        ("orders_20_per_datagram", orders),
        ("heartbeat", lambda i: seq()),
        ("retransmit_kept_100", retransmit(1, 100)),
        ("retransmit_max_count", retransmit(1, 4096)),
        ("retransmit_out_of_range", retransmit(2**40, 10)),
        ("retransmit_wrong_session", retransmit(1, 10, os.urandom(16))),
        ("sequence_out_of_range", lambda i: encode_message(Sequence(2**64 - 1)) + bytes(bad_enum)),
        ("bad_enum_frames_x28", lambda i: seq(28) + bytes(bad_enum) * 28),
        ("unknown_template", lambda i: seq(1) + bytes(unknown_template)),
        ("trailing_garbage", lambda i: seq() + b"\x00\x01\x02"),
        ("broken_first_frame", lambda i: b"\xff" * 20),
    ]


def count_received(client) -> list[int]:
    """[bytes] the client has received from now on (every datagram, before it handles it)."""
    received = [0]
    on_datagram = client._on_datagram

    def counting(data: bytes) -> None:
        received[0] += len(data)
        on_datagram(data)

    client._on_datagram = counting
    return received


async def measure_kinds(udp, datagrams: int, only: tuple[str, ...] = ()) -> dict[str, tuple[int, int]]:
    """{kind: (bytes in to the router, bytes out of it)} for one established session."""
    from udprouter.client import Client

    client = await Client.connect(*udp, "demo", "demo-secret", resend_timeout=3600.0,
                                  resend_not_applied=False)
    received = count_received(client)
    out = {}
    try:
        for name, make in kinds(client):
            if only and name not in only:
                continue
            before, sent = received[0], 0
            for i in range(datagrams):
                payload = make(i)
                client.send_raw(payload)
                sent += len(payload)
                if i % 20 == 19:
                    await asyncio.sleep(0.002)
            last, deadline = -1, time.monotonic() + 30
            while received[0] != last and time.monotonic() < deadline:
                last = received[0]
                await asyncio.sleep(QUIET_S)
            while not client.inbound.queue.empty():
                client.inbound.queue.get_nowait()
            out[name] = (sent, received[0] - before)
    finally:
        await client.close()
    return out


def run(quick: bool) -> list[dict]:
    s = SETTINGS[quick]
    with RouterProcess() as router:
        figures = asyncio.run(measure_kinds(("127.0.0.1", router.port), s["datagrams"]))
    return [{"name": f"amplification_{name}", "figure": round(out / max(1, sent), 4),
             "unit": "bytes out per byte in", "baseline_name": "one byte out per byte in", "baseline": 1,
             "ratio": round(out / max(1, sent), 4),
             "params": dict(datagrams=s["datagrams"], bytes_in=sent, bytes_out=out)}
            for name, (sent, out) in figures.items()]


def main(argv: list[str] | None = None) -> int:
    def run_and_print(quick: bool) -> list[dict]:
        entries = run(quick)
        print_entries(entries)
        return entries

    return module_main(run_and_print, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
