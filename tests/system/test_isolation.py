"""Isolation through the wire: nothing one authenticated session sends can raise out of its own
handling, lose a neighbour's orders from the same read batch, or write a traceback (SPEC 4.3:
a Sequence with a gap above 2^32 - 1 or numbers past 2^64 - 2 is refused whole with
BusinessMessageReject(RefSeqNum 0, RefTemplateID 8, SeqNoOutOfRange)). Both ingest paths."""

from __future__ import annotations

import random

import pytest
from report_checks import metric

from tests.hostile_scenarios import fuzz_beside_neighbour, poison_batches

SEED = 1212


@pytest.fixture(params=[True, False], ids=["fast_path", "python_path"])
def fast_path(request) -> bool:
    return request.param


@pytest.mark.timeout(180)
async def test_poison_sequences_in_a_neighbours_read_batch_lose_nothing(start_router):
    router = start_router()
    figures = await poison_batches(router.udp, random.Random(SEED), rounds=5)
    assert metric(router, "udprouter_sequence_refused_total") >= figures["poison_datagrams"] // 2
    assert metric(router, "udprouter_datagram_errors_total") == 0
    assert router.stop() == 0
    assert "Traceback" not in router.log_text()


@pytest.mark.timeout(300)
async def test_random_field_values_beside_a_neighbour_whose_every_order_is_applied_once(start_router):
    router = start_router("[session]\nsession_reject_rate_per_s = 1000000.0\n")
    await fuzz_beside_neighbour(router.udp, random.Random(SEED + 1), datagrams=3_000)
    assert metric(router, "udprouter_datagram_errors_total") == 0
    assert router.stop() == 0
    assert "Traceback" not in router.log_text()
