"""process_cpu: the CPU a server used, the time its threads waited for a CPU, and the host's steal,
read from /proc for real processes (two busy children sharing one CPU must wait for each other)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from bench.process_cpu import host_cpu_ticks, tree_cpu_seconds, tree_cpu_wait_seconds

BUSY = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"


def _busy_tree(seconds: float, children: int) -> subprocess.Popen:
    """A parent that starts `children` busy children pinned to CPU 0 and waits for them."""
    script = (
        "import os, subprocess, sys\n"
        f"kids = [subprocess.Popen([sys.executable, '-c', {BUSY.format(seconds=seconds)!r}]) "
        f"for _ in range({children})]\n"
        "[k.wait() for k in kids]\n"
    )
    return subprocess.Popen([sys.executable, "-c", script], preexec_fn=lambda: os.sched_setaffinity(0, {0}))


@pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/schedstat"),
                    reason="the kernel keeps no schedstat")
def test_children_sharing_one_cpu_wait_for_it_and_their_cpu_is_counted():
    parent = _busy_tree(1.0, 2)
    try:
        time.sleep(0.5)  # both children started and competing for CPU 0
        cpu0, wait0 = tree_cpu_seconds(parent.pid), tree_cpu_wait_seconds(parent.pid)
        time.sleep(0.3)
        cpu, wait = tree_cpu_seconds(parent.pid) - cpu0, tree_cpu_wait_seconds(parent.pid) - wait0
    finally:
        parent.kill()
        parent.wait(timeout=10)
    # Two busy threads on one CPU for 0.3 s: together they ran about 0.3 s and waited about 0.3 s.
    assert 0.1 < cpu < 0.5
    assert 0.1 < wait < 0.5


def test_a_process_that_is_gone_counts_nothing():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=10)
    assert tree_cpu_seconds(dead.pid) == 0.0
    assert tree_cpu_wait_seconds(dead.pid) == 0.0


def test_host_steal_is_part_of_the_total_and_both_only_grow():
    steal0, total0 = host_cpu_ticks()
    time.sleep(0.05)
    steal, total = host_cpu_ticks()
    assert 0 <= steal0 <= total0 and 0 <= steal <= total
    assert steal >= steal0 and total > total0
