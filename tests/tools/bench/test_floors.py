"""A latency floor's line says when the baseline (the C echo server, same window) missed it too."""

from bench.bench_udp import latency_floor
from bench.module_cli import print_entries


def _entry(figure: float, baseline: float, floor: float) -> dict:
    return {"name": "p99 at 50k/s", "figure": figure, "unit": "us", "baseline_name": "echo p99",
            "baseline": baseline, "ratio": figure / baseline, **latency_floor(figure, baseline, floor)}


def test_a_floor_holds_the_router_and_the_baseline_each_below_it():
    assert latency_floor(900.0, 200.0, 1000.0) == \
        {"floor": 1000.0, "meets_floor": True, "baseline_meets_floor": True}
    assert latency_floor(1000.0, 999.9, 1000.0) == \
        {"floor": 1000.0, "meets_floor": False, "baseline_meets_floor": True}
    assert latency_floor(3000.0, 2400.0, 1000.0)["baseline_meets_floor"] is False


def test_the_line_names_a_floor_the_baseline_missed_too(capsys):
    print_entries([_entry(3874.8, 2459.6, 1000.0), _entry(1200.0, 190.0, 1000.0),
                   _entry(480.0, 190.0, 1000.0)])
    host, router, met = capsys.readouterr().out.splitlines()
    assert host.endswith("floor 1,000.0 MISSED (the baseline missed it too: 2,459.6)")
    assert router.endswith("floor 1,000.0 MISSED")
    assert met.endswith("floor 1,000.0 met")
