"""GcPauses: how long the garbage collector held the loop, per generation, from gc.callbacks."""

import gc

from prometheus_client import CollectorRegistry, generate_latest

from udprouter.ops.metrics import GcPauses


def samples(pauses: GcPauses) -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(pauses)
    text = generate_latest(registry).decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


def test_a_full_collection_over_many_tracked_objects_is_counted_and_is_the_longest():
    pauses = GcPauses()
    try:
        held = [[i] for i in range(200_000)]  # tracked objects a full collection must walk
        gc.collect(2)
        seen = samples(pauses)
        total = seen['udprouter_gc_pause_seconds_total{generation="2"}']
        longest = seen['udprouter_gc_pause_longest_seconds{generation="2"}']
        assert 0 < longest <= total
        del held
    finally:
        pauses.close()
    assert pauses._on_gc not in gc.callbacks
    gc.collect(2)  # closed: no longer counted
    assert samples(pauses)['udprouter_gc_pause_seconds_total{generation="2"}'] == total
