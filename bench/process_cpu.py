"""CPU time of a process and its descendants (utime + stime from /proc), so a benchmark can report
CPU per order: a figure that, unlike wall-clock rates, holds up when other work shares the machine."""

import os

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by pid and every live descendant (0 for a process that is gone)."""
    total, pending, seen = 0.0, [pid], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        total += _cpu_seconds(current)
        pending.extend(_children(current))
    return total


def cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by pid alone (0 for a process that is gone)."""
    return _cpu_seconds(pid)


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _children(pid: int) -> list[int]:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    out: list[int] = []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return out
