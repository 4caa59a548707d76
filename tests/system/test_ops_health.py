"""Health with meaning, probed from outside a live router: /healthz and /readyz on the metrics port in
each state (ready, engine down, journal unwritable), 404 for other paths, gRPC health agreeing with
/readyz, and systemd's notify protocol received on a real unix datagram socket."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ops_checks import http_get, wait_until

GRPC_ON = "[grpc]\nenabled = true\nport = 0\n"


def grpc_port(router) -> int:
    return int(re.search(r"grpc=(\d+)", router.log_text()).group(1))


def grpc_health(port: int) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return reply.status


def test_ready_router_answers_healthz_readyz_metrics_and_404_elsewhere(start_router):
    router = start_router(GRPC_ON)
    port = router.metrics_port
    assert http_get(port, "/healthz") == (200, "ok\n")
    assert http_get(port, "/readyz") == (200, "ready\n")
    status, body = http_get(port, "/metrics")
    assert status == 200 and "udprouter_ready 1.0" in body
    for path in ("/", "/health", "/metrics/x", "/readyz/"):
        assert http_get(port, path)[0] == 404
    assert grpc_health(grpc_port(router)) == health_pb2.HealthCheckResponse.SERVING


def test_engine_down_is_not_ready_but_healthy(start_router):
    router = start_router("[engine]\nmax_restarts = 0\n" + GRPC_ON)  # a dead engine stays dead
    port = router.metrics_port
    os.kill(router.engine_pid, signal.SIGKILL)
    status, body = wait_until(lambda: (r := http_get(port, "/readyz"))[0] == 503 and r, "/readyz 503")
    assert "engine not attached" in body
    assert http_get(port, "/healthz") == (200, "ok\n")
    wait_until(lambda: grpc_health(grpc_port(router)) == health_pb2.HealthCheckResponse.NOT_SERVING,
               "gRPC health NOT_SERVING")
    metrics = http_get(port, "/metrics")[1]
    assert "udprouter_engine_up 0.0" in metrics and "udprouter_ready 0.0" in metrics


def test_unwritable_journal_is_not_ready_until_it_is_writable_again(start_router):
    router = start_router(GRPC_ON)
    port, journal = router.metrics_port, router.journal
    moved = journal.with_name("journal-moved")
    journal.rename(moved)
    journal.write_text("not a directory")  # every write under the journal path now fails (even as root)
    try:
        status, body = wait_until(lambda: (r := http_get(port, "/readyz"))[0] == 503 and r, "/readyz 503")
        assert "journal not writable" in body
        assert http_get(port, "/healthz")[0] == 200
        wait_until(lambda: grpc_health(grpc_port(router)) == health_pb2.HealthCheckResponse.NOT_SERVING,
                   "gRPC health NOT_SERVING")
    finally:
        journal.unlink()
        moved.rename(journal)
    wait_until(lambda: http_get(port, "/readyz") == (200, "ready\n"), "/readyz 200 again")
    wait_until(lambda: grpc_health(grpc_port(router)) == health_pb2.HealthCheckResponse.SERVING, "SERVING")
    assert router.stop() == 0
    text = router.log_text()
    assert "event=journal_unwritable" in text and "event=journal_writable" in text


def test_sd_notify_ready_watchdog_and_stopping_reach_a_unix_datagram_socket(start_router, monkeypatch):
    short_dir = Path(tempfile.mkdtemp(prefix="udr-notify-"))  # unix socket paths are short (108 bytes)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        path = short_dir / "notify.sock"
        sock.bind(str(path))
        sock.settimeout(1.0)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        monkeypatch.setenv("WATCHDOG_USEC", "400000")  # a WATCHDOG=1 every 0.2 s
        router = start_router()
        received: list[str] = []

        def receive_until(state: str) -> bool:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    received.append(sock.recv(4096).decode())
                except TimeoutError:
                    continue
                if any(state in message.splitlines() for message in received):
                    return True
            return False

        assert receive_until("READY=1")
        ready = next(m for m in received if "READY=1" in m.splitlines())
        assert f"STATUS=serving udp=127.0.0.1:{router.udp[1]}" in ready.splitlines()
        assert receive_until("WATCHDOG=1")
        assert router.stop() == 0
        assert receive_until("STOPPING=1")
    finally:
        sock.close()
        shutil.rmtree(short_dir)


def test_a_stuck_event_loop_fails_healthz_until_it_turns_again(start_router, tmp_path):
    # The capture file is a FIFO nobody reads: once its pipe is full, the router's event loop blocks
    # in a write (a real stall, e.g. a full disk on NFS); the metrics thread still answers probes.
    fifo = tmp_path / "capture.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    draining = threading.Event()

    def drain() -> None:
        draining.wait()
        os.set_blocking(reader, True)
        while os.read(reader, 1 << 16):
            pass

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    try:
        router = start_router(capture=fifo)
        port = router.metrics_port
        assert http_get(port, "/healthz") == (200, "ok\n")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _ in range(2000):  # about 300 KB of capture records: far more than a pipe holds
                sock.sendto(b"\x00" * 100, router.udp)
        status, body = wait_until(lambda: (r := http_get(port, "/healthz"))[0] == 503 and r, "/healthz 503")
        assert body.startswith("event loop stalled for ")
        draining.set()
        wait_until(lambda: http_get(port, "/healthz") == (200, "ok\n"), "/healthz 200 again")
        assert router.stop() == 0
    finally:
        draining.set()
        drainer.join(timeout=30)
        os.close(reader)
