"""Every out-of-range config value, through `udprouter serve --config FILE`: exit 2 with one line
naming the key and the accepted range, no traceback, nothing started.

Each case's file is otherwise a valid test config (ports 0, a temporary journal, a unique shm name),
so a value that is wrongly accepted starts a real router, which the test then stops and reports."""

from __future__ import annotations

import os
import subprocess
import time
import uuid

import pytest
from conftest import engine_binary, router_command

from udprouter.config import ENGINE_BIN_ENV, REPO_ROOT

EXIT_TIMEOUT_S = 30.0
PARALLEL = 4

# (section, line, key path the error must name)
CASES = [
    ("session", "retransmit_buffer = -1", "session.retransmit_buffer"),
    ("session", "retransmit_buffer = 0", "session.retransmit_buffer"),
    ("session", "retransmit_max_count = 0", "session.retransmit_max_count"),
    ("session", "retransmit_bytes_per_s = 0", "session.retransmit_bytes_per_s"),
    ("session", "throttle_msgs_per_s = -5", "session.throttle_msgs_per_s"),
    ("session", "throttle_msgs_per_s = 0", "session.throttle_msgs_per_s"),
    ("session", "keepalive_ms = -1", "session.keepalive_ms"),
    ("session", "login_rate_per_s = -1.0", "session.login_rate_per_s"),
    ("session", "login_rate_per_s = nan", "session.login_rate_per_s"),
    ("session", "timestamp_window_s = -1.0", "session.timestamp_window_s"),
    ("session", "timestamp_window_s = inf", "session.timestamp_window_s"),
    ("session", "max_open_orders = -3", "session.max_open_orders"),
    ("session", "max_open_orders = 4294967296", "session.max_open_orders"),
    ("session", "max_open_orders = 1000001", "session.max_open_orders"),  # above engine.max_orders
    ("session", "reject_rate_per_s = -1.0", "session.reject_rate_per_s"),
    ("session", "session_reject_rate_per_s = -1.0", "session.session_reject_rate_per_s"),
    ("session", "max_sessions = 0", "session.max_sessions"),
    ("session", "max_sessions_per_key = -1", "session.max_sessions_per_key"),
    ("engine", "max_restarts = -1", "engine.max_restarts"),
    ("engine", "max_orders = 0", "engine.max_orders"),
    ("engine", "max_orders = -10", "engine.max_orders"),
    ("engine", "terminal_orders = -1", "engine.terminal_orders"),
    ("engine", "max_orders = 2000000000\nterminal_orders = 200000000", "engine.terminal_orders"),
    ("engine", "max_sessions = 0", "engine.max_sessions"),
    ("engine", "max_sessions = -1", "engine.max_sessions"),
    ("engine", "spin_us = -1", "engine.spin_us"),
    ("engine", "low_rate = -1", "engine.low_rate"),
    ("engine", "low_rate_spin_us = 2000000", "engine.low_rate_spin_us"),
    ("engine", 'wait = "nap"', "engine.wait"),
    ("engine", "inbound_capacity = 0", "engine.inbound_capacity"),
    ("engine", "outbound_capacity = -4", "engine.outbound_capacity"),
    ("engine", "inbound_capacity = 3", "engine.inbound_capacity"),
    ("engine", "ready_timeout_s = 0.0", "engine.ready_timeout_s"),
    ("engine", "restart_backoff_s = -0.5", "engine.restart_backoff_s"),
    ("journal", "snapshot_every = -1", "journal.snapshot_every"),
    ("journal", "router_log_segment_bytes = 0", "journal.router_log_segment_bytes"),
    ("udp", "port = 70000", "udp.port"),
    ("udp", "low_rate = -1", "udp.low_rate"),
    ("udp", "low_rate_spin_us = 2000000", "udp.low_rate_spin_us"),
    ("udp", 'wait = "spin"', "udp.wait"),
    ("metrics", "port = -1", "metrics.port"),
    ("keys", 'key_id = "k"\nsecret = ""\naccount = 1', "keys[0].secret"),
    ("udp", 'host = "999.1.1.1"', "udp.host"),
    ("metrics", 'host = "no such host"', "metrics.host"),
    ("top", "keys = []", "keys"),
    ("top", "instruments = []", "instruments"),
    ("keys", 'key_id = "k"\nsecret = "s"\naccount = -1', "keys[0].account"),
]


def config_text(tmp_path, section: str, line: str) -> str:
    sections = {"udp": "host = \"127.0.0.1\"\nport = 0", "grpc": "enabled = false",
                "metrics": "host = \"127.0.0.1\"\nport = 0",
                "journal": f'dir = "{tmp_path / "journal"}"',
                "engine": f'shm_name = "udprouter-test-{uuid.uuid4().hex[:12]}"'}
    if section not in ("keys", "top"):
        sections.setdefault(section, "")
    text = f"{line}\n" if section == "top" else ""
    for name, body in sections.items():
        if name == section:  # the case's line replaces the same key if the base names it
            key = line.split("=", 1)[0].strip()
            body = "\n".join(b for b in body.splitlines() if b.split("=", 1)[0].strip() != key)
            body = (body + "\n" + line).strip("\n")
        text += f"[{name}]\n{body}\n"
    if section == "keys":
        text += f"[[keys]]\n{line}\n"
    return text


def outcome(proc: subprocess.Popen, out_path, deadline: float) -> str | None:
    """None while undecided; else 'accepted' (it is serving) or the exit code."""
    if proc.poll() is not None:
        return str(proc.returncode)
    if "listening" in out_path.read_text() or time.monotonic() > deadline:
        return "accepted"
    return None


@pytest.mark.timeout(400)
def test_every_out_of_range_key_exits_2_with_one_line_naming_it(tmp_path):
    failures = []
    env = dict(os.environ, **{ENGINE_BIN_ENV: str(engine_binary())})
    for chunk_start in range(0, len(CASES), PARALLEL):
        running = []
        try:
            for k, (section, line, key) in enumerate(CASES[chunk_start:chunk_start + PARALLEL], chunk_start):
                work = tmp_path / f"c{k}"
                work.mkdir()
                config = work / "router.toml"
                config.write_text(config_text(work, section, line))
                out, err = work / "stdout", work / "stderr"
                with out.open("w") as o, err.open("w") as e:
                    proc = subprocess.Popen(router_command(config), cwd=REPO_ROOT, stdout=o, stderr=e,
                                            env=env)
                running.append((proc, out, err, section, line, key))
            deadline = time.monotonic() + EXIT_TIMEOUT_S
            for proc, out, err, section, line, key in running:
                while (result := outcome(proc, out, deadline)) is None:
                    time.sleep(0.05)
                text = err.read_text()
                lines = text.strip().splitlines()
                if result == "accepted":
                    failures.append(f"[{section}] {line!r}: accepted")
                elif result != "2" or len(lines) != 1 or key not in lines[0] or "expected" not in lines[0]:
                    failures.append(f"[{section}] {line!r}: exit {result}, stderr {text[-300:]!r}")
        finally:
            for proc, *_ in running:  # an accepted config started a router: stop it (and its engine)
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(15)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
    assert not failures, f"{len(failures)} of {len(CASES)}:\n" + "\n".join(failures)


def test_a_valid_edge_value_is_still_accepted(start_router):
    """The ranges are inclusive: the smallest accepted values start a working router."""
    started = time.monotonic()
    router = start_router("[session]\nretransmit_buffer = 1\nretransmit_max_count = 1\nmax_sessions = 1\n"
                          "max_sessions_per_key = 1\nthrottle_msgs_per_s = 1\n[engine]\nmax_sessions = 1\n"
                          "max_restarts = 0\n")
    assert router.proc.poll() is None and time.monotonic() - started < 60
