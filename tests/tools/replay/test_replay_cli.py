"""udprouter-replay's command line: options, credentials, and the refusals that need no router."""

from pathlib import Path

import pytest

from udprouter.replay.cli import DEMO_KEY, DEMO_SECRET, _credentials, _timing, build_parser, main
from udprouter.replay.schedule import Timing

SAMPLE = Path(__file__).resolve().parents[3] / "src/udprouter/replay/samples/demo.pcapng"


def parse(*argv):
    return build_parser().parse_args(["capture.pcapng", *argv])


def test_defaults_are_the_demo_key_original_timing_and_port_9000():
    args = parse()
    assert args.target == ("127.0.0.1", 9000)
    assert _credentials(args) == (DEMO_KEY, DEMO_SECRET)
    assert _timing(args) == Timing()


def test_timing_options_map_onto_the_schedule():
    args = parse("--pps", "500", "--loop", "3", "--limit", "10", "--duration", "1.5")
    assert _timing(args) == Timing(pps=500.0, loop=3, limit=10, duration_s=1.5)
    assert _timing(parse("--topspeed")).topspeed
    assert _timing(parse("--speed", "2.5")).speed == 2.5


def test_tcpreplay_short_flags_map_onto_the_schedule():
    assert _timing(parse("-x", "2.5")) == Timing(speed=2.5)
    assert _timing(parse("--multiplier", "3")).speed == _timing(parse("--speed", "3")).speed == 3.0
    assert _timing(parse("-p", "500", "-l", "0", "-L", "10")) == Timing(pps=500.0, loop=0, limit=10)
    assert _timing(parse("-t", "-l", "4")) == Timing(topspeed=True, loop=4)
    assert _timing(parse("-M", "1.5")) == Timing(mbps=1.5)
    assert parse("--stats", "2").stats == 2.0 and parse().stats is None


def test_loop_zero_is_forever_and_says_so():
    timing = _timing(parse("-l", "0", "-p", "100"))
    assert not timing.finite and timing.describe() == "100 pps, loop forever"
    assert _timing(parse("-l", "0", "--duration", "5")).finite


@pytest.mark.parametrize(
    "argv",
    [
        ["-x", "2", "-p", "10"],
        ["-M", "1", "-t"],
        ["-M", "0"],
        ["-l", "-1"],
        ["--stats", "0"],
        ["--speed", "2", "--pps", "10"],
        ["--pps", "0"],
        ["--loop", "-1"],
        ["--target", "nohostport"],
        ["--target", "h:70000"],
    ],
)
def test_contradictory_or_nonsense_options_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        parse(*argv)
    assert exc.value.code == 2


def test_credentials_from_flags_or_the_config_file(tmp_path):
    assert _credentials(parse("--key", "k", "--secret", "s")) == ("k", "s")
    config = tmp_path / "router.toml"
    config.write_text('[[keys]]\nkey_id = "desk7"\nsecret = "s7"\naccount = 7\n')
    assert _credentials(parse("--config", str(config))) == ("desk7", "s7")
    with pytest.raises(SystemExit, match="--key needs --secret"):
        _credentials(parse("--key", "k"))


def test_missing_capture_file_is_refused_with_exit_2(tmp_path, capsys):
    assert main([str(tmp_path / "absent.pcapng")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_capture_without_client_datagrams_is_refused_with_exit_2(tmp_path, capsys):
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"not a capture at all")
    assert main([str(garbage), "--json"]) == 2
    err = capsys.readouterr().err
    assert "unknown file magic" in err and "no client application datagrams" in err


def test_bad_session_filter_is_refused(capsys):
    assert main([str(SAMPLE), "--session", "xyz"]) == 2
    assert "32 hex digits" in capsys.readouterr().err


def test_json_report_shape_is_the_contract():
    from udprouter.replay.report import LatencyUs, ReplayReport

    fields = set(ReplayReport.__struct_fields__)
    assert {
        "sent",
        "acknowledged",
        "rejected",
        "rejected_by_reason",
        "not_applied",
        "unanswered",
        "rate_per_s",
        "intended_rate_per_s",
        "latency_us",
        "bytes_sent",
        "mbps",
        "send_errors",
    } <= fields
    assert set(LatencyUs.__struct_fields__) == {"p50", "p99", "p999", "max"}
