"""bench/run.py turns module results into latest.json / latest.md (crafted results, no real bench run)."""

import json

import pytest

from bench import run
from bench.plots import write_plots

UDP_ENTRY = {
    "name": "udp latency 50k/s, 1 order/datagram", "figure": 210.5, "unit": "us p99",
    "baseline_name": "C echo server, same traffic", "baseline": 180.25, "ratio": 1.168,
    "p50": 60.1, "p99": 210.5, "offered_rate": 50_000, "achieved_rate": 49_990,
    "spectrum_us": [[50.0, 60.1], [99.0, 210.5], [99.9, 400.0]], "baseline_achieved_rate": 50_000,
    "baseline_spectrum_us": [[50.0, 30.0], [99.0, 150.0], [99.9, 300.0]],
}
THROUGHPUT_ENTRY = {
    "name": "udp orders acked/s, 20 orders/datagram", "figure": 812_000, "unit": "orders/s",
    "baseline_name": "C echo server", "baseline": 1_500_000, "ratio": 0.541,
}


def _outcomes():
    return [run.ModuleOutcome("bench_udp", [UDP_ENTRY, THROUGHPUT_ENTRY], seconds=3.2),
            run.ModuleOutcome("bench_grpc", error="exit 1: ConnectionRefusedError")]


def test_latest_json_holds_every_entry_and_every_failure(tmp_path):
    json_path, _ = run.write_results(_outcomes(), tmp_path, quick=True)
    document = json.loads(json_path.read_text())
    assert document["quick"] is True
    assert [e["name"] for e in document["entries"]] == [UDP_ENTRY["name"], THROUGHPUT_ENTRY["name"]]
    assert all(e["module"] == "bench_udp" for e in document["entries"])
    assert all(k in e for e in document["entries"] for k in run.ENTRY_KEYS)
    assert document["failures"] == [{"module": "bench_grpc", "error": "exit 1: ConnectionRefusedError"}]


def test_latest_md_is_a_table_with_ratios_and_failed_modules(tmp_path):
    _, md_path = run.write_results(_outcomes(), tmp_path, quick=False)
    text = md_path.read_text()
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + 3  # header, rule, two entries, one failure
    assert all(row.count("|") == rows[0].count("|") for row in rows)
    assert "| 0.54x |" in text and "812,000" in text
    assert "**FAILED**: exit 1: ConnectionRefusedError" in text


def test_entries_missing_a_required_key_are_refused():
    broken = {k: v for k, v in THROUGHPUT_ENTRY.items() if k != "baseline"}
    assert "baseline" in run.check_entries([broken])
    assert run.check_entries([]) is not None
    assert run.check_entries([THROUGHPUT_ENTRY]) is None


def test_engine_json_lines_become_entries_against_a_baseline_line_when_present():
    lines = [
        json.dumps({"bench": "lobflow", "flow": "LOBFLOW1", "symbols": 100, "mode": "engine",
                    "ops_per_s": 12_000_000, "p50_ns": 80, "p99_ns": 300, "p999_ns": 900}),
        json.dumps({"bench": "lobflow", "flow": "LOBFLOW1", "symbols": 100, "mode": "baseline-map",
                    "ops_per_s": 3_000_000, "p50_ns": 200, "p99_ns": 900, "p999_ns": 2000}),
        "not json: a progress line",
    ]
    (entry,) = run.engine_entries(lines)
    assert entry["figure"] == 12_000_000 and entry["baseline"] == 3_000_000 and entry["ratio"] == 4.0
    assert run.check_entries([entry]) is None


def test_engine_without_a_baseline_line_is_compared_with_the_design_floor():
    line = json.dumps({"bench": "lobflow", "flow": "LOBFLOW1", "symbols": 100, "mode": "engine",
                       "ops_per_s": 6_000_000})
    (entry,) = run.engine_entries([line])
    assert entry["baseline"] == run.ENGINE_FLOOR_OPS and entry["ratio"] == 1.5
    assert "DESIGN.md" in entry["baseline_name"]


@pytest.mark.parametrize("entries, expected", [([UDP_ENTRY], {"latency_spectrum.png", "throughput.png"}),
                                               ([THROUGHPUT_ENTRY], set())])
def test_plots_are_written_only_for_entries_that_carry_their_data(tmp_path, entries, expected):
    written = write_plots(entries, tmp_path)
    assert {p.name for p in written} == expected
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)


def test_a_module_that_exits_non_zero_is_a_failure_even_with_results_printed():
    import subprocess

    ok_line = run.RESULT_MARK + json.dumps([THROUGHPUT_ENTRY])
    crashed = subprocess.CompletedProcess([], 1, stdout=ok_line + "\n",
                                          stderr="Traceback\nRuntimeError: boom\n")
    assert run._parse_module_output(crashed) == ([], "exit 1: RuntimeError: boom")
    fine = subprocess.CompletedProcess([], 0, stdout="baseline line\n" + ok_line + "\n", stderr="")
    assert run._parse_module_output(fine) == ([THROUGHPUT_ENTRY], None)


def test_engine_reference_line_compares_the_engine_with_the_reference_on_the_same_ops():
    line = json.dumps({"bench": "engine", "flow": "LOBFLOW1", "symbols": 1, "mode": "naive_reference",
                       "ops": 100000, "ops_per_s": 1_000_000, "engine_ops_per_s_same_ops": 9_000_000,
                       "ratio": 9.0})
    (entry,) = run.engine_entries([line])
    assert (entry["figure"], entry["baseline"], entry["ratio"]) == (9_000_000, 1_000_000, 9.0)
    assert "naive_reference" in entry["baseline_name"]


def test_engine_lines_marked_as_baseline_role_are_the_baseline_of_their_flow():
    lines = [
        json.dumps({"bench": "engine", "flow": "LOBFLOW1", "symbols": 100, "mode": "ring_raw",
                    "ops_per_s": 50_000_000, "role": "baseline"}),
        json.dumps({"bench": "engine", "flow": "LOBFLOW1", "symbols": 100, "mode": "ring", "wait": "hybrid",
                    "ops_per_s": 5_000_000, "p50_ns": 300, "p99_ns": 900, "p999_ns": 3000}),
    ]
    (entry,) = run.engine_entries(lines, "bench_ring")
    assert entry["name"] == "engine LOBFLOW1 100 symbols ring wait=hybrid"
    assert (entry["baseline"], entry["ratio"]) == (50_000_000, 0.1)
    assert entry["baseline_name"] == "bench_ring ring_raw (same run)"
