"""[engine] wait = "adaptive" (the default): below low_rate commands/s the engine spins between
batches, so a pass at a low rate never waits for its wake-up; above it, and when orders stop, it
gives the vCPU back. Seen from outside: the engine process's CPU time (/proc/<pid>/stat) while the
load generator offers orders at a fixed rate, and while nothing comes.

Spinning shows as most of a CPU over the window, sleeping as a few percent (hybrid needs about 11 us
of engine CPU per order at 1k/s: about 1%). The bounds sit far from both.
"""

from __future__ import annotations

import time

from wait_checks import ORDERS, RATE, SLEEPING, SPINNING, counter, offer_orders, share_while

SPIN_METRIC = "udprouter_engine_low_rate_spin_seconds"


def engine_share_while(router, work) -> float:
    return share_while(router.engine_pid, work)


def spun_seconds(router) -> float:
    return counter(router, SPIN_METRIC)


def test_adaptive_wait_spins_at_a_low_rate_and_sleeps_when_orders_stop(start_router):
    router = start_router('[engine]\nwait = "adaptive"\n')
    assert engine_share_while(router, offer_orders(router)) > SPINNING
    spun = spun_seconds(router)
    assert spun > 0.2, f"the metric counts {spun} s of spinning over {ORDERS / RATE} s of orders"
    # Nothing comes: after its spin (2 ms by default) the engine blocks on its eventfd.
    assert engine_share_while(router, lambda: time.sleep(1.0)) < SLEEPING
    assert spun_seconds(router) - spun < 0.05
    # And it still answers when orders come again (its sleep's wake-up was not lost).
    assert engine_share_while(router, offer_orders(router, ("demo2", "demo2-secret"))) > SPINNING


def test_adaptive_wait_above_low_rate_does_not_spin(start_router):
    # 1,000 orders/s is above a low_rate of 100: the engine waits as hybrid does.
    router = start_router('[engine]\nwait = "adaptive"\nlow_rate = 100\n')
    assert engine_share_while(router, offer_orders(router)) < SLEEPING
    # Only the first batches, before a 10 ms window showed the rate, may have had a spin.
    assert spun_seconds(router) < 0.05


def test_hybrid_wait_does_not_spin_at_a_low_rate(start_router):
    router = start_router('[engine]\nwait = "hybrid"\n')
    assert engine_share_while(router, offer_orders(router)) < SLEEPING
    assert spun_seconds(router) == 0
