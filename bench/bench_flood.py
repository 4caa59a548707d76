"""Unauthenticated flood vs an established session: order-to-ack latency with and without it.

    python -m bench.bench_flood [--quick]

One router (`udprouter serve`, engine spawned by it). An established session sends one order at a
time at a fixed pace and measures order-to-ack latency from each order's intended send time
(coordinated omission corrected). First without a flood (the in-run baseline), then while another
process floods the router from FLOOD_SOURCES source ports with datagrams no session owns: signed
Negotiates with wrong signatures (the HMAC check is the router's most expensive refusal), orders
without a session, and garbage. The figures are p50 and p99 under the flood, as ratios of the
baseline; the flood's own counters (datagrams and bytes each way) show the answers stay bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time

from bench.udp_servers import ROOT, RouterProcess

FLOOD_SOURCES = 256
PRICE = 100_000_000_000
# 250 orders/s, one at a time: a round trip here is 0.3-1 ms, so at 1000/s any stall of the
# measuring client would queue every later order behind it and measure the client, not the router.
SETTINGS = {True: dict(orders=750, rate=250, flood_pps=(10_000, 30_000)),
            False: dict(orders=2500, rate=250, flood_pps=(10_000, 20_000, 40_000))}


def flood_payloads(count: int = 64) -> list[bytes]:
    """Datagrams an unauthenticated source might send (deterministic)."""
    from udprouter._generated.messages import (
        FlowType,
        Negotiate,
        NewOrderSingle,
        OrdType,
        Sequence,
        Side,
        TimeInForce,
    )
    from udprouter.codec import encode_datagram, encode_message

    out = []
    for i in range(count):
        sid = i.to_bytes(16, "little")
        if i % 3 == 0:
            creds = f"demo:{'0' * 64}".encode()  # right key id, wrong signature
            out.append(encode_message(Negotiate(sid, time.time_ns(), FlowType.Idempotent, creds)))
        elif i % 3 == 1:
            order = NewOrderSingle(i + 1, 0, PRICE, 1, 1, Side.Buy, OrdType.Limit, TimeInForce.Day)
            out.append(encode_datagram([Sequence(i + 1), order]))
        else:
            out.append(bytes((i * 7 + k) & 0xFF for k in range(40 + i)))
    return out


def flood(port: int, pps: int, seconds: float) -> dict:
    """Sends pps datagrams/s for seconds from FLOOD_SOURCES ports; counts what comes back."""
    socks = []
    for _ in range(FLOOD_SOURCES):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        socks.append(sock)
    payloads = flood_payloads()
    target = ("127.0.0.1", port)
    sent = sent_bytes = received = received_bytes = 0
    started = time.monotonic()
    burst = max(1, pps // 1000)
    try:
        while (now := time.monotonic()) - started < seconds:
            due = int((now - started) * pps)
            while sent < due:
                for _ in range(burst):
                    payload = payloads[sent % len(payloads)]
                    try:
                        socks[sent % FLOOD_SOURCES].sendto(payload, target)
                    except BlockingIOError:
                        pass
                    sent += 1
                    sent_bytes += len(payload)
            for sock in socks[(sent // burst) % 8::8]:
                received, received_bytes = drain(sock, received, received_bytes)
            time.sleep(0.0005)
        for sock in socks:
            received, received_bytes = drain(sock, received, received_bytes)
    finally:
        for sock in socks:
            sock.close()
    return dict(sent=sent, sent_bytes=sent_bytes, received=received, received_bytes=received_bytes,
                seconds=time.monotonic() - started)


def drain(sock: socket.socket, count: int, size: int) -> tuple[int, int]:
    while True:
        try:
            size += len(sock.recv(2048))
            count += 1
        except BlockingIOError:
            return count, size


async def paced_latencies(port: int, orders: int, rate: int) -> list[float]:
    """Order-to-ack latency (us) of `orders` orders sent one at a time at `rate`/s, from intended time."""
    from udprouter._generated.messages import Side
    from udprouter.client import Client

    client = await Client.connect("127.0.0.1", port, "demo", "demo-secret")
    latencies = []
    try:
        interval = 1.0 / rate
        start = time.perf_counter()
        for i in range(orders):
            intended = start + i * interval
            delay = intended - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            side = Side.Buy if i % 2 else Side.Sell
            price = PRICE + (10_000_000 if side == Side.Sell else -10_000_000)  # never crosses
            cl = await client.send_order(1 + i % 3, side, price, 1)
            await asyncio.wait_for(client.first_ack(cl), 5.0)
            latencies.append((time.perf_counter() - intended) * 1e6)
    finally:
        await client.close()
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(port: int, orders: int, rate: int) -> dict:
    import uvloop

    lat = uvloop.run(paced_latencies(port, orders, rate))
    return dict(p50_us=percentile(lat, 0.5), p99_us=percentile(lat, 0.99), max_us=max(lat), orders=len(lat))


def run(quick: bool) -> list[dict]:
    """The baseline, then one flooded measurement per flood rate, on the same router."""
    s = SETTINGS[quick]
    rows = []
    with RouterProcess("hybrid", router_wait="sleep") as router:
        baseline = measure(router.port, s["orders"], s["rate"])
        for pps in s["flood_pps"]:
            flooded, counters = flooded_measurement(router.port, s["orders"], s["rate"], pps)
            params = dict(orders=s["orders"], order_rate=s["rate"], flood_pps=pps, sources=FLOOD_SOURCES)
            extras = dict(params=params, flood=counters,
                          amplification=round(counters["received_bytes"] / max(1, counters["sent_bytes"]), 5))
            rows += [{"name": f"flood_{pps // 1000}k_pps_ack_{q}_us", "figure": round(flooded[f"{q}_us"], 1),
                      "unit": "us", "baseline_name": f"same session without flood, {q}",
                      "baseline": round(baseline[f"{q}_us"], 1),
                      "ratio": round(flooded[f"{q}_us"] / baseline[f"{q}_us"], 3), **extras}
                     for q in ("p50", "p99")]
    return rows


def flooded_measurement(port: int, orders: int, rate: int, pps: int) -> tuple[dict, dict]:
    seconds = orders / rate + 1.0
    flooder = subprocess.Popen([sys.executable, "-m", "bench.bench_flood", "--flood", str(port),
                                "--pps", str(pps), "--seconds", str(seconds)],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)  # the flood is under way before the first measured order
        flooded = measure(port, orders, rate)
        out, _ = flooder.communicate(timeout=seconds + 30)
    finally:
        if flooder.poll() is None:
            flooder.kill()
            flooder.wait()
    return flooded, json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--flood", type=int, metavar="PORT", help="(internal) run the flood process")
    parser.add_argument("--pps", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    if args.flood:
        print(json.dumps(flood(args.flood, args.pps, args.seconds)), flush=True)
        return 0
    for entry in run(args.quick):
        print(json.dumps(entry))
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
