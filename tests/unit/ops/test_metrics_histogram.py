"""AckLatencyHistogram: Prometheus histogram semantics from plain counters."""

from prometheus_client import CollectorRegistry, generate_latest

from udprouter.ops.metrics import AckLatencyHistogram


def test_buckets_are_cumulative_le_and_the_count_and_sum_add_up():
    hist = AckLatencyHistogram((10e-6, 100e-6, 1e-3))
    for ns in (1, 10_000, 10_001, 99_999, 100_000, 5_000_000):
        hist.observe_ns(ns)
    registry = CollectorRegistry()
    registry.register(hist)
    text = generate_latest(registry).decode()
    samples = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
               for line in text.splitlines() if line and not line.startswith("#")}
    name = "udprouter_order_ack_latency_seconds"
    assert samples[f'{name}_bucket{{le="1e-05"}}'] == 2.0  # 1 ns and exactly 10 us: le is inclusive
    assert samples[f'{name}_bucket{{le="0.0001"}}'] == 5.0
    assert samples[f'{name}_bucket{{le="0.001"}}'] == 5.0
    assert samples[f'{name}_bucket{{le="+Inf"}}'] == 6.0
    assert samples[f"{name}_count"] == 6.0
    assert abs(samples[f"{name}_sum"] - 5_220_001e-9) < 1e-12


def test_an_empty_histogram_exports_zeros():
    registry = CollectorRegistry()
    registry.register(AckLatencyHistogram())
    text = generate_latest(registry).decode()
    assert 'udprouter_order_ack_latency_seconds_bucket{le="+Inf"} 0.0' in text
    assert "udprouter_order_ack_latency_seconds_count 0.0" in text
