"""What the wait-strategy tests read from outside a router: a process's CPU time (/proc/<pid>/stat)
over a piece of work, a counter from the metrics endpoint (report_checks.metric), and orders
offered at a fixed low rate by the load generator."""

from __future__ import annotations

import os
import time

from tests.system.report_checks import metric
from udprouter.loadgen.load_run import LoadSpec, Sessions, run_load
from udprouter.loadgen.runner import RunLimits

RATE = 1000  # orders/s, one order per datagram
ORDERS = 600
LIMITS = RunLimits(timeout_s=20.0, drain_s=1.0)
SPINNING = 0.4  # share of one CPU: spinning between datagrams 1 ms apart takes nearly all of it
# A sleeping router's own passes: 0.16-0.19 of a CPU at RATE on a host slow at wake-ups (its CPU per
# order at 1k/s is ~170 us there), 0.204 once in CI; spinning takes nearly all of it.
SLEEPING = 0.3
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def share_while(pid: int, work) -> float:
    """The CPU time of process pid over the wall time of work(), as a share of one CPU."""
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    work()
    return (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)


def counter(router, name: str) -> float:
    """A counter's value (name without _total) from the router's metrics endpoint."""
    return metric(router, f"{name}_total")


def offer_orders(router, credentials=("demo", "demo-secret")):
    """ORDERS orders at RATE/s, one per datagram, each one acknowledged."""
    def run():
        with Sessions(*router.udp, 1, credentials) as sessions:
            report = run_load(LoadSpec(orders=ORDERS, per_datagram=1, rate=RATE), sessions, 1, LIMITS)
        assert report.acknowledged == ORDERS, report.as_dict()
    return run
