"""bench.loadgen_lead against the C echo server: short alternated loads, both wake-ups measured."""

from __future__ import annotations

from bench.loadgen_lead import FIGURES, LEADS_US, compare, main


def test_both_wake_ups_are_measured_and_their_medians_returned(capsys):
    medians = compare("echo", rate=2000, seconds=0.1, rounds=2)
    assert set(medians) == set(LEADS_US) == {0.0, 200.0}
    for figures in medians.values():
        assert len(figures) == len(FIGURES)
        late_p50, p50, p99, p999, cpu = figures
        assert 0 < late_p50 and 0 < p50 <= p99 <= p999 and 0 < cpu <= 100
    lines = capsys.readouterr().out.splitlines()
    assert sum("medians" in line for line in lines) == 2
    assert sum("medians" not in line for line in lines) == 4  # 2 rounds x 2 wake-ups


def test_the_command_line_runs_one_server(capsys):
    assert main(["--server", "echo", "--rate", "2000", "--seconds", "0.05", "--rounds", "1"]) == 0
    assert capsys.readouterr().out.count("echo max_lead_us") == 4
