"""No amplification through the wire: a RetransmitRequest flood from an established session gets
at most the session's retransmission byte budget back (SPEC 4.4), the rest RetransmitReject
(BudgetExceeded); every other kind of datagram a session sends is answered with fewer bytes than
it carried (bench/bench_amplification.py measures the same kinds)."""

from __future__ import annotations

import random

import pytest
from report_checks import metric

from bench.bench_amplification import measure_kinds
from tests.hostile_scenarios import retransmit_flood

BUDGET = 32_768


@pytest.mark.timeout(180)
async def test_retransmit_flood_stays_within_the_byte_budget(start_router):
    router = start_router(f"[session]\nretransmit_bytes_per_s = {BUDGET}\n")
    figures = await retransmit_flood(router.udp, random.Random(31), requests=600, budget_bytes_per_s=BUDGET)
    assert metric(router, "udprouter_retransmits_refused_total") > 0
    assert figures["bytes_out"] < figures["bytes_in"] * 4  # before the budget: x100 and more


@pytest.mark.timeout(240)
async def test_every_other_kind_of_session_datagram_is_answered_with_fewer_bytes(start_router):
    router = start_router()
    kinds = ("heartbeat", "retransmit_out_of_range", "retransmit_wrong_session", "sequence_out_of_range",
             "bad_enum_frames_x28", "unknown_template", "trailing_garbage", "broken_first_frame")
    figures = await measure_kinds(router.udp, 300, kinds)
    assert set(figures) == set(kinds)
    over = {k: (sent, out) for k, (sent, out) in figures.items() if out > sent}
    assert not over, over
