"""Where one order's time goes, read from the kernel's own clock: the syscall tracepoints of the
load generator, the server and (for the router) its engine, recorded with `perf record` in the
middle of a paced run, then each order followed from the load generator's `sendmmsg` to the
`recvmmsg` that read its answer.

    python -m bench.order_timeline [--server router|echo] [--rate 1000] [--duration 12] [--record 2]

The router runs the default config (ephemeral ports, a temp journal: bench/udp_servers.py), the
echo server is bench/c/udp_echo.c; `udprouter-loadgen --rate R --duration D` drives it after a 3 s
warm-up that is not recorded. Each tracepoint costs about 1 us (python -m bench.trace_loop times
the router's steps from inside instead, at a higher cost per step). An order is followed only when
the server's pass read that one datagram: its steps are the system calls of the pass in the order
they come (router: read, write-ahead record, the engine's journal write, the reply record, send;
echo: read, send). Writes of 8 bytes are eventfd wakes and are left out. Prints the p25/p50/p75 of
every step and the load generator's own latency for the run.

Needs perf and the right to record tracepoints (root, or kernel.perf_event_paranoid at -1); without
them it says so and exits 2. A measuring tool for the README ("Where a 1k/s order's time goes"),
not a test.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.bench_grpc import percentile
from bench.c.echo_server import EchoServer
from bench.udp_servers import RouterProcess

ENGINE_PID = re.compile(r"engine_pid=(\d+)")
TRACEPOINTS = ",".join(f"syscalls:sys_{edge}_{call}" for call in ("sendmmsg", "recvmmsg", "write")
                       for edge in ("enter", "exit"))
EVENT = re.compile(r"^\s*\S.*?\s+(\d+)/(\d+)\s+([\d.]+):\s+syscalls:sys_(enter|exit)_(\w+):\s*(.*)$")
COUNT = re.compile(r"count: (0x[0-9a-f]+)")
EVENTFD_WRITE = 8  # bytes: a wake, not a record
FOLLOW_US = 5_000  # an order whose steps do not all come within this long is not followed

# Each step: (process, system call, "enter"/"exit"); the first is the load generator's send and
# the second the server's read of one datagram. A step's figure is the time from the one before it.
STEPS = {
    "router": [("loadgen", "sendmmsg", "enter"), ("server", "recvmmsg", "exit"),
               ("server", "write", "enter"), ("server", "write", "exit"),
               ("engine", "write", "enter"), ("engine", "write", "exit"),
               ("server", "write", "enter"), ("server", "write", "exit"),
               ("server", "sendmmsg", "enter"), ("server", "sendmmsg", "exit"),
               ("loadgen", "recvmmsg", "exit")],
    "echo": [("loadgen", "sendmmsg", "enter"), ("server", "recvmmsg", "exit"),
             ("server", "sendmmsg", "enter"), ("server", "sendmmsg", "exit"),
             ("loadgen", "recvmmsg", "exit")],
}
LABELS = {
    "router": ["load generator's send -> the router read the datagram",
               "-> write-ahead record written (C ingest and the Python around it)",
               "the write-ahead record's write()",
               "-> the engine's journal write (the offer, the engine's pick-up)",
               "the engine's journal write()",
               "-> reply record written (engine applies and publishes; router drains, builds)",
               "the reply record's write()",
               "-> the router's send",
               "the router's sendmmsg()",
               "-> the load generator read the answer"],
    "echo": ["load generator's send -> the echo server read the datagram",
             "-> the echo server's send",
             "the echo server's sendmmsg()",
             "-> the load generator read the answer"],
}


@dataclass(frozen=True)
class Call:
    """One system call of one thread: when it was entered and left, what it returned."""

    process: str
    name: str
    enter_us: float
    exit_us: float
    result: int
    count: int  # write(): the bytes asked for; else 0


def parse_calls(lines, roles: dict[int, str]) -> list[Call]:
    """`perf script` lines -> the calls of the processes in roles (pid -> role), enter and exit
    paired per thread, in the order they were entered."""
    open_calls: dict[int, tuple[str, float, int]] = {}
    calls: list[Call] = []
    for line in lines:
        match = EVENT.match(line)
        if match is None:
            continue
        pid, tid, stamp, edge, name, rest = match.groups()
        role = roles.get(int(pid))
        if role is None:
            continue
        at_us = float(stamp) * 1e6
        if edge == "enter":
            count = COUNT.search(rest) if name == "write" else None
            open_calls[int(tid)] = (name, at_us, int(count.group(1), 16) if count else 0)
            continue
        opened = open_calls.pop(int(tid), None)
        if opened is None or opened[0] != name:
            continue  # its enter came before the recording began
        value = int(rest.strip(), 16)
        calls.append(Call(role, name, opened[1], at_us, value - (1 << 64) if value >= 1 << 63 else value,
                          opened[2]))
    return sorted(calls, key=lambda call: call.enter_us)


def _marks(call: Call) -> list[tuple[tuple[str, str, str], float, Call]]:
    return [((call.process, call.name, "enter"), call.enter_us, call),
            ((call.process, call.name, "exit"), call.exit_us, call)]


def follow_orders(calls: list[Call], steps: list[tuple[str, str, str]]) -> list[list[float]]:
    """Per followed order, the time of each step after the first (microseconds from the step before)."""
    useful = [call for call in calls
              if not (call.name == "write" and call.count == EVENTFD_WRITE)
              and not (call.name == "recvmmsg" and call.result <= 0)]
    marks = sorted((mark for call in useful for mark in _marks(call)), key=lambda mark: mark[1])
    followed, last_send = [], None
    for k, (key, at, read) in enumerate(marks):
        if key == steps[0]:
            last_send = at
        if key != steps[1] or last_send is None:
            continue
        start, last_send = last_send, None
        if read.result != 1:
            continue  # the pass read several datagrams: whose steps are whose is not known
        times, want = [start, at], 2
        for key2, at2, _ in marks[k + 1:]:
            if at2 - start > FOLLOW_US or key2 == steps[1]:
                break  # too late, or the server read again before this order's steps were done
            if key2 == steps[want]:
                times.append(at2)
                want += 1
                if want == len(steps):
                    followed.append([b - a for a, b in zip(times, times[1:], strict=False)])
                    break
    return followed


def quartiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    return percentile(ordered, 0.25), percentile(ordered, 0.5), percentile(ordered, 0.75)


def report(server: str, followed: list[list[float]]) -> list[str]:
    lines = [f"{'step':76} {'p25':>7} {'p50':>7} {'p75':>7}  (us, {len(followed)} orders followed)"]
    for i, label in enumerate(LABELS[server]):
        p25, p50, p75 = quartiles([order[i] for order in followed])
        lines.append(f"{label:76} {p25:7.1f} {p50:7.1f} {p75:7.1f}")
    p25, p50, p75 = quartiles([sum(order) for order in followed])
    total = "total: the load generator send to its read of the answer"
    lines.append(f"{total:76} {p25:7.1f} {p50:7.1f} {p75:7.1f}")
    return lines


def _record(roles: dict[int, str], seconds: float, out: Path) -> list[str]:
    pids = ",".join(str(pid) for pid in roles)
    done = subprocess.run(["perf", "record", "-q", "-o", str(out), "-e", TRACEPOINTS, "-p", pids, "--",
                           "sleep", str(seconds)], capture_output=True, text=True)
    if done.returncode != 0 or not out.exists():
        raise PermissionError(f"perf record failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    script = subprocess.run(["perf", "script", "-i", str(out), "-F", "comm,pid,tid,time,event,trace"],
                            capture_output=True, text=True, check=True)
    return script.stdout.splitlines()


def run(server: str, rate: int, duration: float, record_s: float) -> int:
    loadgen = str(Path(sys.executable).parent / "udprouter-loadgen")
    with (RouterProcess() if server == "router" else EchoServer()) as process, \
            tempfile.TemporaryDirectory(prefix="udprouter-timeline-") as tmp:
        roles = {process.pid: "server"}
        if server == "router":
            roles[int(ENGINE_PID.search(process.log.read_text()).group(1))] = "engine"
        target = ["--target", f"127.0.0.1:{process.port}", "--rate", str(rate)]
        if server == "echo":
            target.append("--no-session")  # it answers every datagram, no FIXP handshake
        subprocess.run([loadgen, *target, "--duration", "3", "--json"], check=True, capture_output=True)
        result = Path(tmp) / "load.json"
        with result.open("w") as out:
            load = subprocess.Popen([loadgen, *target, "--duration", str(duration), "--json"], stdout=out)
        try:
            time.sleep(duration / 2 - record_s / 2)
            roles[load.pid] = "loadgen"
            lines = _record(roles, record_s, Path(tmp) / "perf.data")
        finally:
            load.wait(timeout=duration + 60)
        latency = json.loads(result.read_text())["latency_us"]
    followed = follow_orders(parse_calls(lines, roles), STEPS[server])
    print(f"{server} at {rate}/s, {record_s:g} s recorded in the middle of {duration:g} s "
          f"(load generator: p50 {latency['p50']:.1f} us, p99 {latency['p99']:.1f} us)")
    if not followed:
        print("no order could be followed (each pass read several datagrams?)")
        return 1
    print("\n".join(report(server, followed)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("router", "echo"), default="router")
    parser.add_argument("--rate", type=int, default=1000, help="orders/s, one per datagram")
    parser.add_argument("--duration", type=float, default=12.0, help="seconds of load (after a 3 s warm-up)")
    parser.add_argument("--record", type=float, default=2.0, help="seconds recorded, in the middle")
    args = parser.parse_args(argv)
    if shutil.which("perf") is None:
        print("order_timeline: perf is not installed (Debian: apt-get install linux-perf)", file=sys.stderr)
        return 2
    if not 0 < args.record < args.duration:
        print("order_timeline: --record must be shorter than --duration", file=sys.stderr)
        return 2
    try:
        return run(args.server, args.rate, args.duration, args.record)
    except PermissionError as exc:
        print(f"order_timeline: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
