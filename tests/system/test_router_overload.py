"""A router after an overload run: a fresh session is served at full speed, not at the pace of
router.log rewrites.

Regression: after a few overload runs (the kept frames of every session, acks and NotApplied
alike) the router log's live image grew above its compaction threshold, and because the threshold
was measured against the whole file every commit rewrote the image (about 20 MB per loop pass):
router at full CPU, engine idle, new sessions got a few thousand orders/s with a 100 ms p99. The
threshold is tiny here so that state is reached in a second; the structural checks are that a fresh
session's run costs at most one rewrite, that every order is acknowledged, and that its reports
leave on the engine's eventfd wake-up, not on the router's fallback timer.
"""

from __future__ import annotations

import re
import urllib.request

from udprouter.loadgen.load_run import LoadSpec, Sessions, run_load
from udprouter.loadgen.runner import RunLimits

COMPACT_BYTES = 64 << 10
OVERLOAD = LoadSpec(orders=20_000, per_datagram=1, rate=200_000)  # far beyond what the router takes
FRESH = LoadSpec(orders=4_000, per_datagram=1, window=128)
LIMITS = RunLimits(timeout_s=30.0, drain_s=3.0)


def counters(router) -> dict[str, int]:
    url = f"http://127.0.0.1:{router.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    found = {}
    for name in ("router_log_compactions_total", "events_drained_by_timer_total", "events_routed_total",
                 "router_log_compaction_in_flight"):
        match = re.search(rf"^udprouter_{name} (\S+)", text, re.M)
        assert match, f"router exports no {name}"
        found[name] = int(float(match.group(1)))
    return found


def test_fresh_session_after_overload_costs_no_router_log_rewrite_per_pass(start_router):
    router = start_router(f"[journal]\nrouter_log_compact_bytes = {COMPACT_BYTES}\n")
    with Sessions(*router.udp, 1, ("demo", "demo-secret")) as sessions:
        overload = run_load(OVERLOAD, sessions, 1, LIMITS)
    # Every number the overload sent was either applied or declared NotApplied: all kept frames.
    assert overload.acknowledged + overload.not_applied + overload.unanswered == overload.sent
    log_bytes = (router.journal / "router.log").stat().st_size
    assert log_bytes > 4 * COMPACT_BYTES, "the live image must outgrow the threshold for this test"

    before = counters(router)
    with Sessions(*router.udp, 1, ("demo2", "demo2-secret")) as sessions:
        fresh = run_load(FRESH, sessions, 1, LIMITS)
    after = counters(router)
    rewrites = after["router_log_compactions_total"] - before["router_log_compactions_total"]
    late = after["events_drained_by_timer_total"] - before["events_drained_by_timer_total"]
    events = after["events_routed_total"] - before["events_routed_total"]
    overload_rewrite = before["router_log_compaction_in_flight"]  # started by the overload, installed now

    assert (fresh.acknowledged, fresh.not_applied, fresh.unanswered) == (FRESH.orders, 0, 0)
    # The run appends far less than the live image, so it pays for at most one rewrite (besides one
    # the overload left in flight); rewriting at every commit would be one per loop pass (dozens at
    # a window of 128).
    assert rewrites <= 1 + overload_rewrite, f"{rewrites} router.log rewrites for {FRESH.orders} orders"
    # Reports leave on the engine's eventfd wake-up; the 50 ms fallback timer may catch a few
    # events in passing, never the bulk of them (a stuck wake-up would make it nearly all).
    assert events >= FRESH.orders and late < events // 4, f"{late} of {events} events found by the timer"
