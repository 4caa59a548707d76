"""udprouter-loadgen end to end against the C echo server (no FIXP handshake), bounded runs."""

import json

from bench.c.echo_server import EchoServer
from udprouter.loadgen.cli import main


def test_json_report_has_the_replay_contract_keys_and_counts_every_order(capsys):
    with EchoServer() as echo:
        code = main(["--target", f"127.0.0.1:{echo.port}", "--no-session", "--max", "--orders", "2000",
                     "--per-datagram", "20", "--window", "400", "--timeout", "10", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (report["sent"], report["acknowledged"], report["unanswered"]) == (2000, 2000, 0)
    assert (report["rejected"], report["not_applied"]) == (0, 0)
    assert report["rate_per_s"] > 0
    assert set(report["latency_us"]) >= {"p50", "p99", "p999", "max"}
    assert "send_late_us" not in report  # unpaced: no intended times to be late for


def test_paced_run_with_two_sessions_is_answered_on_both(capsys):
    with EchoServer() as echo:
        code = main(["--target", f"127.0.0.1:{echo.port}", "--no-session", "--rate", "20000",
                     "--duration", "0.05", "--sessions", "2", "--timeout", "10", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["sent"] == report["acknowledged"] == 1000
    assert report["offered_rate"] == 20000
    assert 0 <= report["send_late_us"]["p50"] <= report["send_late_us"]["p99"]
    assert 0 < report["read_late_us"]["p50"] <= report["read_late_us"]["p99"]


def test_paced_run_prints_how_late_the_load_generator_sent(capsys):
    with EchoServer() as echo:
        code = main(["--target", f"127.0.0.1:{echo.port}", "--no-session", "--rate", "5000",
                     "--duration", "0.05", "--timeout", "10"])
    line = capsys.readouterr().out
    assert code == 0 and "acked 250" in line
    assert "sent after the intended time: p50 " in line
    assert "answers read after they arrived: p50 " in line
