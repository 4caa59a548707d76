"""CPU time of a process and its descendants (utime + stime from /proc), so a benchmark can report
CPU per order: a figure that, unlike wall-clock rates, holds up when other work shares the machine.
And the time their threads were runnable but waited for a CPU (schedstat), with the host's steal
time: what a latency tail ran into when the CPUs were taken, by our own processes or the host's."""

import os

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by pid and every live descendant (0 for a process that is gone)."""
    return sum(_cpu_seconds(p) for p in _tree(pid))


def tree_cpu_wait_seconds(pid: int) -> float:
    """Seconds the threads of pid and its live descendants have spent runnable, waiting for a CPU
    (/proc/<pid>/task/<tid>/schedstat, second field; 0 where the kernel does not keep it)."""
    return sum(_cpu_wait_seconds(p) for p in _tree(pid))


def _tree(pid: int) -> list[int]:
    """pid and its live descendants."""
    out, pending = [], [pid]
    while pending:
        current = pending.pop()
        if current not in out:
            out.append(current)
            pending.extend(_children(current))
    return out


def _cpu_wait_seconds(pid: int) -> float:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    total = 0.0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            continue
    return total


def host_cpu_ticks() -> tuple[int, int]:
    """(steal, total) ticks of the host's CPUs so far (/proc/stat): steal is time the hypervisor
    ran something else while a vCPU had work."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    steal = fields[7] if len(fields) > 7 else 0
    return steal, sum(fields[:8])


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
