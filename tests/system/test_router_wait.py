"""[udp] wait = "adaptive" (the default): below low_rate datagrams/s the router spins on its socket
between passes, so a datagram at a low rate does not wait for the router's wake-up; above it, and
when datagrams stop, the router sleeps in epoll again. Seen from outside: the router process's CPU
time (/proc/<pid>/stat, the engine is another process) while the load generator offers orders at a
fixed rate and while nothing comes, the spin counter on the metrics endpoint, and the event loop
still serving gRPC while the router spins.

The system tests' routers sleep (tests/system/conftest.py): each test here asks for the wait it checks.
"""

from __future__ import annotations

import re
import threading
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from wait_checks import ORDERS, RATE, SLEEPING, SPINNING, counter, offer_orders, share_while

SPIN_METRIC = "udprouter_router_low_rate_spin_seconds"
ADAPTIVE = '[udp]\nwait = "adaptive"\n'


def router_share_while(router, work) -> float:
    return share_while(router.proc.pid, work)


def test_adaptive_router_spins_at_a_low_rate_and_sleeps_when_datagrams_stop(start_router):
    router = start_router(ADAPTIVE)
    assert router_share_while(router, offer_orders(router)) > SPINNING
    spun = counter(router, SPIN_METRIC)
    assert spun > 0.2, f"the metric counts {spun} s of spinning over {ORDERS / RATE} s of orders"
    # Nothing comes: after its spin (2 ms by default) the router waits in epoll.
    assert router_share_while(router, lambda: time.sleep(1.0)) < SLEEPING
    assert counter(router, SPIN_METRIC) - spun < 0.05
    # And it answers when orders come again (the sleep announced at the spin's end woke it).
    assert router_share_while(router, offer_orders(router, ("demo2", "demo2-secret"))) > SPINNING


def test_adaptive_router_above_low_rate_does_not_spin(start_router):
    # 1,000 datagrams/s is above a low_rate of 100: the router sleeps between passes.
    router = start_router(ADAPTIVE + "low_rate = 100\n")
    assert router_share_while(router, offer_orders(router)) < SLEEPING
    # Only the first passes, before a 10 ms window showed the rate, may have spun.
    assert counter(router, SPIN_METRIC) < 0.05


def test_sleep_wait_never_spins(start_router):
    router = start_router('[udp]\nwait = "sleep"\n')
    assert router_share_while(router, offer_orders(router)) < SLEEPING
    assert counter(router, SPIN_METRIC) == 0


def test_grpc_is_served_while_the_router_spins(start_router):
    """The spin returns to the event loop every step: a gRPC call made while orders trickle in over
    UDP is answered, and within the time a call takes on an idle router (bounded generously)."""
    router = start_router(ADAPTIVE + "[grpc]\nenabled = true\nport = 0\n")
    port = int(re.search(r"grpc=(\d+)", router.log_text()).group(1))
    worst, calls, failures = 0.0, 0, []

    def health_checks(stop: threading.Event) -> None:
        nonlocal worst, calls
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            stub.Check(health_pb2.HealthCheckRequest(), timeout=5)  # connected before the window
            for _ in range(200):  # bounded: about 20 calls a second for the orders' 0.6 s
                if stop.is_set():
                    return
                t0 = time.monotonic()
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
                except grpc.RpcError as exc:
                    failures.append(exc)
                    return
                worst = max(worst, time.monotonic() - t0)
                calls += 1
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
                time.sleep(0.05)

    stop = threading.Event()
    checker = threading.Thread(target=health_checks, args=(stop,))
    checker.start()
    try:
        assert router_share_while(router, offer_orders(router)) > SPINNING
    finally:
        stop.set()
        checker.join(10)
    assert not failures, failures
    assert calls >= 5, f"only {calls} health checks answered while the orders ran"
    assert worst < 0.5, f"a health check took {worst * 1000:.0f} ms while the router spun"
