"""A router after an overload run: a fresh session is served at full speed, whatever the router
log holds.

Regression: after a few overload runs (the kept frames of every session, acks and NotApplied
alike) the router log's live image grew above its rewrite threshold, and every commit rewrote it
(about 20 MB per loop pass): router at full CPU, engine idle, new sessions got a few thousand
orders/s with a 100 ms p99. The log is now segments closed and dropped whole, never rewritten; the
segment size is tiny here so the overload leaves many of them. The structural checks are that every
order of the fresh session is acknowledged and that its reports leave on the engine's eventfd
wake-up, not on the router's fallback timer.
"""

from __future__ import annotations

import re
import urllib.request

from udprouter.loadgen.load_run import LoadSpec, Sessions, run_load
from udprouter.loadgen.runner import RunLimits

SEGMENT_BYTES = 64 << 10
OVERLOAD = LoadSpec(orders=20_000, per_datagram=1, rate=200_000)  # far beyond what the router takes
FRESH = LoadSpec(orders=4_000, per_datagram=1, window=128)
LIMITS = RunLimits(timeout_s=30.0, drain_s=3.0)


def counters(router) -> dict[str, int]:
    url = f"http://127.0.0.1:{router.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    found = {}
    for name in ("router_log_segments_closed_total", "events_drained_by_timer_total", "events_routed_total",
                 "router_log_segments"):
        match = re.search(rf"^udprouter_{name} (\S+)", text, re.M)
        assert match, f"router exports no {name}"
        found[name] = int(float(match.group(1)))
    return found


def test_fresh_session_after_overload_is_served_at_full_speed(start_router):
    router = start_router(f"[journal]\nrouter_log_segment_bytes = {SEGMENT_BYTES}\n")
    with Sessions(*router.udp, 1, ("demo", "demo-secret")) as sessions:
        overload = run_load(OVERLOAD, sessions, 1, LIMITS)
    # Every number the overload sent was either applied or declared NotApplied: all kept frames.
    assert overload.acknowledged + overload.not_applied + overload.unanswered == overload.sent
    assert counters(router)["router_log_segments"] > 4, "the overload must leave many segments"

    before = counters(router)
    with Sessions(*router.udp, 1, ("demo2", "demo2-secret")) as sessions:
        fresh = run_load(FRESH, sessions, 1, LIMITS)
    after = counters(router)
    late = after["events_drained_by_timer_total"] - before["events_drained_by_timer_total"]
    events = after["events_routed_total"] - before["events_routed_total"]

    assert (fresh.acknowledged, fresh.not_applied, fresh.unanswered) == (FRESH.orders, 0, 0)
    # The fresh run closes segments as its records fill them (well under 1 KB per order), not one
    # per loop pass (what a roll refilling the next segment at once would do).
    closed = after["router_log_segments_closed_total"] - before["router_log_segments_closed_total"]
    assert closed <= FRESH.orders * 1024 // SEGMENT_BYTES, f"{closed} segments for {FRESH.orders} orders"
    # Reports leave on the engine's eventfd wake-up; the 50 ms fallback timer may catch a few
    # events in passing, never the bulk of them (a stuck wake-up would make it nearly all).
    assert events >= FRESH.orders and late < events // 4, f"{late} of {events} events found by the timer"
