"""gRPC fallback benchmark: unary vs batched vs auto-batching client, real router vs trivial server.

    python -m bench.bench_grpc [--quick] [--json]

In one run, against two servers started here (each measured with the same client code and the
same orders): the trivial gRPC server (same proto, no router work: the ceiling) and the real router
(`udprouter serve`, engine spawned by it, orders through risk checks and the ring). Modes:
  unary  - one SubmitOrder per order, 10 concurrent callers (the design this project replaces)
  batch  - SubmitOrdersBatch, 100 orders per call, 4 calls in flight (repeated NewOrderSingle)
  packed - SubmitOrdersPacked, the same orders and batches as SBE frames in one bytes field
  auto   - OrderEntryClient.submit() one order at a time from many callers (auto-batching; the
           client sends SubmitOrdersPacked)
Each figure is orders/s with p50/p99 call latency (per batch for batch and packed, per order for
unary and auto); its baseline is the trivial server in the same mode, so ratio = router / trivial.
Each row also gives the server process's own CPU per order (us, utime + stime of that process alone:
the engine the router spawns is not counted, the trivial server has none), a figure that holds up
better than rates when other work shares the machine; cpu_ratio = trivial's / the router's.
grpc_packed_vs_trivial_batch compares the router's packed form with the trivial server's repeated
form (the ceiling of a client that kept the repeated form).
Placement on a 2-vCPU machine: the load client runs in its own process pinned to the last CPU;
the server process (and the engine it spawns) are left to the scheduler. Both servers run for the
whole benchmark and each mode measures the trivial server, then the router, back to back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRICE = 100_000_000_000
KEY, SECRET = "demo", "demo-secret"
MODES = {  # mode: (orders quick, orders full, client parameters)
    "unary": (2_000, 20_000, {"concurrency": 10}),
    "batch": (40_000, 400_000, {"batch": 100, "in_flight": 4}),
    "packed": (40_000, 400_000, {"batch": 100, "in_flight": 4}),
    "auto": (40_000, 400_000, {"callers": 1000, "max_batch": 200, "linger_ms": 1.0, "in_flight": 4}),
}


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def make_orders(count: int, first_cl_ord_id: int):
    """Buys and sells alternating at one price: they trade with each other, so the book stays small."""
    from fallback_grpc._generated import order_entry_pb2 as pb

    return [pb.NewOrderSingle(cl_ord_id=first_cl_ord_id + i, security_id=1 + (i // 2) % 3,
                              side=pb.SIDE_BUY if i % 2 == 0 else pb.SIDE_SELL, ord_type=pb.ORD_TYPE_LIMIT,
                              time_in_force=pb.TIME_IN_FORCE_DAY, price=PRICE, order_qty=1)
            for i in range(count)]


def tally(results) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        kind = result.WhichOneof("result") or "none"
        counts[kind] = counts.get(kind, 0) + 1
    return counts


class CallNumbers:
    """udprouter-call-seq metadata: calls in flight together are applied in issue order (SPEC 6.2)."""

    def __init__(self, metadata) -> None:
        from fallback_grpc.call_order import CALL_SEQ_METADATA

        self.metadata, self.key, self.flow, self.n = metadata, CALL_SEQ_METADATA, os.urandom(8).hex(), 0

    def next(self):
        self.n += 1
        return (*self.metadata, (self.key, f"{self.flow}:{self.n}"))


async def load_unary(stub, metadata, orders, concurrency):
    from fallback_grpc._generated import order_entry_pb2 as pb

    latencies, results, cursor, numbers = [], [], iter(orders), CallNumbers(metadata)

    async def caller():
        for order in cursor:
            start = time.perf_counter()
            response = await stub.SubmitOrder(pb.SubmitOrderRequest(order=order), metadata=numbers.next())
            results.append(response.result)
            latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return latencies, results


async def load_batch(stub, metadata, orders, batch, in_flight):
    from fallback_grpc._generated import order_entry_pb2 as pb

    requests = [pb.SubmitOrdersBatchRequest(orders=orders[i:i + batch]) for i in range(0, len(orders), batch)]
    latencies, results, cursor, numbers = [], [], iter(requests), CallNumbers(metadata)

    async def caller():
        for request in cursor:
            start = time.perf_counter()
            response = await stub.SubmitOrdersBatch(request, metadata=numbers.next())
            latencies.append(time.perf_counter() - start)
            results.extend(response.results)

    await asyncio.gather(*(caller() for _ in range(in_flight)))
    return latencies, results


async def load_packed(stub, metadata, orders, batch, in_flight):
    """SubmitOrdersPacked with the requests packed before the clock, as load_batch builds its requests;
    the answers are decoded after the clock (results_of)."""
    from fallback_grpc._generated import order_entry_pb2 as pb
    from fallback_grpc.packed import pack_orders

    requests = [pb.SubmitOrdersPackedRequest(orders=pack_orders(orders[i:i + batch]))
                for i in range(0, len(orders), batch)]
    latencies, answers, cursor, numbers = [], [], iter(requests), CallNumbers(metadata)

    async def caller():
        for request in cursor:
            start = time.perf_counter()
            response = await stub.SubmitOrdersPacked(request, metadata=numbers.next())
            latencies.append(time.perf_counter() - start)
            answers.append(response.results)

    await asyncio.gather(*(caller() for _ in range(in_flight)))
    return latencies, answers


async def load_auto(target, orders, callers, max_batch, linger_ms, in_flight):
    from fallback_grpc.client import OrderEntryClient

    latencies, results, cursor = [], [], iter(orders)
    async with OrderEntryClient(target, KEY, SECRET, max_batch=max_batch, linger_ms=linger_ms,
                                max_in_flight=in_flight) as client:
        async def caller():
            for order in cursor:
                start = time.perf_counter()
                results.append(await client.submit(order))
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(caller() for _ in range(callers)))
    return latencies, results


async def client_main(mode: str, target: str, count: int, first_cl_ord_id: int, params: dict) -> dict:
    import grpc

    from fallback_grpc._generated import order_entry_pb2 as pb
    from fallback_grpc._generated import order_entry_pb2_grpc as pb_grpc
    from fallback_grpc.client import bearer_metadata

    orders = make_orders(count, first_cl_ord_id)  # built before the clock starts
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.OrderEntryStub(channel)
        metadata = bearer_metadata(KEY, SECRET)
        await stub.SubmitOrder(pb.SubmitOrderRequest(order=make_orders(1, first_cl_ord_id - 1)[0]),
                               metadata=metadata)  # connect, warm
        start = time.perf_counter()
        if mode == "unary":
            latencies, results = await load_unary(stub, metadata, orders, params["concurrency"])
        elif mode == "batch":
            latencies, results = await load_batch(stub, metadata, orders, params["batch"],
                                                  params["in_flight"])
        elif mode == "packed":
            latencies, results = await load_packed(stub, metadata, orders, params["batch"],
                                                   params["in_flight"])
        else:
            latencies, results = await load_auto(target, orders, **params)
        elapsed = time.perf_counter() - start
    if mode == "packed":
        from fallback_grpc.packed import unpack_results

        results = [r for answer in results for r in unpack_results(answer)]
    latencies.sort()
    return {"orders": len(results), "seconds": elapsed, "orders_per_s": len(results) / elapsed,
            "p50_ms": percentile(latencies, 0.5) * 1e3, "p99_ms": percentile(latencies, 0.99) * 1e3,
            "results": tally(results)}


def run_client(mode: str, target: str, count: int, first_cl_ord_id: int, server_pid: int) -> dict:
    """The load runs in its own process (pinned to the last CPU) so it never shares a GIL with a server."""
    from bench.process_cpu import cpu_seconds

    params = MODES[mode][2]
    cmd = [sys.executable, "-m", "bench.bench_grpc", "--client", mode, "--target", target,
           "--count", str(count), "--first-cl-ord-id", str(first_cl_ord_id), "--params", json.dumps(params)]
    cpu_before = cpu_seconds(server_pid)
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["server_cpu_us_per_order"] = (cpu_seconds(server_pid) - cpu_before) * 1e6 / result["orders"]
    return result


def spawn_trivial_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.trivial_grpc_server", "--port", "0"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    if len(line) != 2 or line[0] != "PORT":
        proc.kill()
        raise RuntimeError("trivial gRPC server did not start")
    return proc, f"127.0.0.1:{line[1]}"


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port(kind: int) -> int:
    import socket

    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def router_config(journal_dir: str, grpc_port: int) -> str:
    import socket

    return (f'[udp]\nport = {free_port(socket.SOCK_DGRAM)}\n[grpc]\nport = {grpc_port}\n'
            f'[metrics]\nenabled = false\n[journal]\ndir = "{journal_dir}"\ndurability = "none"\n')


def wait_serving(target: str, proc: subprocess.Popen, timeout_s: float = 30.0) -> None:
    """Polls the standard health service until the router reports SERVING (engine ready)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"router exited with {proc.returncode} before serving")
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"router not SERVING on {target} within {timeout_s} s")


def spawn_router(workdir: str) -> tuple[subprocess.Popen, str]:
    import socket

    grpc_port = free_port(socket.SOCK_STREAM)
    config = Path(workdir) / "router.toml"
    config.write_text(router_config(str(Path(workdir) / "journal"), grpc_port))
    udprouter = Path(sys.executable).with_name("udprouter")
    with open(Path(workdir) / "router.log", "w") as log:  # a file: a pipe nobody reads could stall it
        proc = subprocess.Popen([str(udprouter), "serve", "--config", str(config)], cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)
    target = f"127.0.0.1:{grpc_port}"
    try:
        wait_serving(target, proc)
    except BaseException:
        stop(proc)
        raise
    return proc, target


def run(quick: bool) -> list[dict]:
    """Every mode against the trivial server (ceiling) and the real router, in one run. Both servers
    run throughout; each mode measures the trivial server and then the router back to back, so a
    baseline and its figure see the same machine load."""
    trivial, router = {}, {}
    trivial_proc, trivial_target = spawn_trivial_server()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-grpc-") as workdir:
            router_proc, router_target = spawn_router(workdir)
            try:
                for k, mode in enumerate(MODES):
                    count = MODES[mode][0 if quick else 1]
                    trivial[mode] = run_client(mode, trivial_target, count, (k + 1) * 10**9, trivial_proc.pid)
                    router[mode] = run_client(mode, router_target, count, (k + 1) * 10**9, router_proc.pid)
            finally:
                stop(router_proc)
    finally:
        stop(trivial_proc)
    rows = []
    for mode, params in ((m, MODES[m][2]) for m in MODES):
        got, base = router[mode], trivial[mode]
        rows.append({"name": f"grpc_{mode}_orders_per_s", "figure": round(got["orders_per_s"]),
                     "unit": "orders/s",
                     "baseline_name": f"trivial gRPC server, {mode}", "baseline": round(base["orders_per_s"]),
                     "ratio": round(got["orders_per_s"] / base["orders_per_s"], 3), "params": params,
                     "p50_ms": round(got["p50_ms"], 3), "p99_ms": round(got["p99_ms"], 3),
                     "baseline_p50_ms": round(base["p50_ms"], 3), "baseline_p99_ms": round(base["p99_ms"], 3),
                     "cpu_us_per_order": round(got["server_cpu_us_per_order"], 2),
                     "baseline_cpu_us_per_order": round(base["server_cpu_us_per_order"], 2),
                     "cpu_ratio": round(base["server_cpu_us_per_order"]
                                        / max(got["server_cpu_us_per_order"], 1e-9), 3),
                     "orders": got["orders"], "results": got["results"]})
    packed, batch = router["packed"]["orders_per_s"], trivial["batch"]["orders_per_s"]
    rows.append({"name": "grpc_packed_vs_trivial_batch", "figure": round(packed), "unit": "orders/s",
                 "baseline_name": "trivial gRPC server, batch (repeated form)", "baseline": round(batch),
                 "ratio": round(packed / batch, 3)})
    unary = router["unary"]["orders_per_s"]
    rows.append({"name": "grpc_batch_vs_unary", "figure": round(router["batch"]["orders_per_s"]),
                 "unit": "orders/s", "baseline_name": "router, unary SubmitOrder (concurrency 10)",
                 "baseline": round(unary), "ratio": round(router["batch"]["orders_per_s"] / unary, 2)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true", help="one JSON list instead of a table")
    parser.add_argument("--client", choices=sorted(MODES), help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--first-cl-ord-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--params", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        import uvloop

        if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:
            os.sched_setaffinity(0, {os.cpu_count() - 1})
        out = uvloop.run(client_main(args.client, args.target, args.count, args.first_cl_ord_id,
                                     json.loads(args.params)))
        print(json.dumps(out))
        return 0
    rows = run(args.quick)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for row in rows:
            extra = ""
            if "p50_ms" in row:
                extra = (f"  p50 {row['p50_ms']} ms  p99 {row['p99_ms']} ms  server CPU"
                         f" {row['cpu_us_per_order']} vs {row['baseline_cpu_us_per_order']} us/order"
                         f" (x{row['cpu_ratio']})")
            print(f"{row['name']:28s} {row['figure']:>10,} {row['unit']}  vs {row['baseline_name']}: "
                  f"{row['baseline']:,} (x{row['ratio']}){extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
