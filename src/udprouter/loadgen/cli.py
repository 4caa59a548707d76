"""udprouter-loadgen: drive a router (or any server answering the same way) with a realistic order
flow over UDP and report what came back.

    udprouter-loadgen --target 127.0.0.1:9000 --rate 50000 --duration 5 [--per-datagram 20] [--json]
    udprouter-loadgen --target 127.0.0.1:9000 --max --orders 500000 --per-datagram 20 --window 4000
    udprouter-loadgen --target 127.0.0.1:9000 --no-session ...   (a bare echo server: no FIXP handshake)
"""

import argparse
import json
import sys
import time

from .load_run import LoadSpec, Sessions, run_load
from .runner import RunLimits


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="udprouter-loadgen", description=__doc__.splitlines()[0])
    p.add_argument("--target", default="127.0.0.1:9000", help="HOST:PORT of the router")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--rate", type=int, help="offered orders/s on a fixed schedule (latency mode)")
    mode.add_argument("--max", action="store_true", help="as fast as the window allows (throughput mode)")
    p.add_argument("--orders", type=int, help="orders to send (default: rate x duration, or 100000)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds of traffic at --rate")
    p.add_argument("--per-datagram", type=int, default=1, help="orders per datagram (1-20)")
    p.add_argument("--window", type=int, default=256, help="max mode: most unanswered orders in flight")
    p.add_argument("--sessions", type=int, default=1)
    p.add_argument("--key", default="demo", help="key id (default: the built-in demo key)")
    p.add_argument("--secret", default="demo-secret")
    p.add_argument("--no-session", action="store_true", help="skip the FIXP handshake (echo servers)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=60.0, help="the run never lasts longer (s)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def _lateness(out: dict) -> str:
    """The load generator's own delays: how late it sent (paced runs), inside every latency figure,
    and how long after an answer reached its socket it read it, outside them."""
    text = ""
    late = out.get("send_late_us")
    if late is not None:
        text += f"  (sent after the intended time: p50 {late['p50']} p99 {late['p99']} us)"
    read = out.get("read_late_us")
    if read is not None:
        text += f"  (answers read after they arrived: p50 {read['p50']} p99 {read['p99']} us)"
    return text


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    host, _, port = args.target.rpartition(":")
    orders = args.orders or (int(args.rate * args.duration) if args.rate else 100_000)
    spec = LoadSpec(orders=orders, per_datagram=args.per_datagram, rate=None if args.max else args.rate,
                    window=args.window, seed=args.seed)
    credentials = None if args.no_session else (args.key, args.secret)
    with Sessions(host, int(port), args.sessions, credentials) as sessions:
        report = run_load(spec, sessions, cl_ord_id_base=time.time_ns() // 1000,
                          limits=RunLimits(timeout_s=args.timeout))
    out = report.as_dict()
    if args.json:
        print(json.dumps(out))
    else:
        lat = out["latency_us"]
        print(f"sent {out['sent']}  acked {out['acknowledged']}  rejected {out['rejected']}  "
              f"not applied {out['not_applied']}  unanswered {out['unanswered']}  "
              f"{out['rate_per_s']:,.0f} acked/s  latency us p50 {lat['p50']} p99 {lat['p99']} "
              f"p99.9 {lat['p999']} max {lat['max']}" + _lateness(out))
    return 0 if out["unanswered"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
