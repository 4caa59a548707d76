"""The C client library against the Python client on the same router, same order flow, same run.

    python -m bench.bench_c_client [--quick] [--json]

Each client logs in, sends N resting buy orders (one price level per 1,000 orders, inside the band)
batched 20 per datagram with up to 64 datagrams in flight (both libraries' defaults), and the
figure is orders first-answered per second, from the first order queued to the last first answer.
The router is the real one (engine spawned, journal durability os). Datagram MACs are off: the
router on this branch does not check them yet (DATAGRAM_AUTH below).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

from bench.module_cli import module_main, print_entries
from bench.udp_servers import ROOT, RouterProcess
from udprouter._generated.messages import Side
from udprouter.client import Client

DATAGRAM_AUTH = "0"
PRICE = 100_000_000_000
TICK = 10_000_000
RUNS = {True: 1, False: 3}
ORDERS = {True: 20_000, False: 100_000}
C_BUILD = ROOT / "build" / "client-c"


def _c_rate(port: int, orders: int, security_id: int) -> float:
    subprocess.run(["cmake", "--build", str(C_BUILD)], check=True, capture_output=True, timeout=600)
    args = [str(C_BUILD / "udr_drive"), "--port", str(port), "--auth", DATAGRAM_AUTH, "--quiet", "--orders",
            str(orders), "--security", str(security_id), "--price", str(PRICE - TICK), "--qty", "1",
            "--timeout-s", "300"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=330)
    stats = json.loads(out.stdout.splitlines()[-1])
    if out.returncode != 0 or stats["unanswered"]:
        raise RuntimeError(f"udr_drive failed: {out.stderr} {stats}")
    return orders * 1e9 / stats["orders_elapsed_ns"]


async def _python_rate(port: int, orders: int, security_id: int) -> float:
    client = await Client.connect("127.0.0.1", port, "demo", "demo-secret")
    try:
        flow = [dict(security_id=security_id, side=Side.Buy, price=PRICE - TICK, qty=1)] * orders
        start = time.perf_counter()
        ids = await client.send_orders(flow)
        await asyncio.wait_for(asyncio.gather(*(client.first_ack(cl) for cl in ids)), 300)
        return orders / (time.perf_counter() - start)
    finally:
        await client.close()


def run(quick: bool) -> list[dict]:
    c_rates, py_rates = [], []
    with RouterProcess(wait="hybrid", router_wait="sleep") as router:
        for i in range(RUNS[quick]):
            # alternate which goes first, each on an instrument of its own
            py_rates.append(asyncio.run(_python_rate(router.port, ORDERS[quick], 1 + i % 3)))
            c_rates.append(_c_rate(router.port, ORDERS[quick], 1 + (i + 1) % 3))
    c_rate, py_rate = sorted(c_rates)[len(c_rates) // 2], sorted(py_rates)[len(py_rates) // 2]
    entries = [{"name": "C client: orders first-answered/s, 20 per datagram", "figure": round(c_rate),
                "unit": "orders/s", "baseline_name": "Python udprouter.client, same router and flow",
                "baseline": round(py_rate), "ratio": round(c_rate / py_rate, 2)}]
    print_entries(entries)
    return entries


def main(argv: list[str] | None = None) -> int:
    return module_main(run, "C client library vs Python client, same router", argv)


if __name__ == "__main__":
    sys.exit(main())
