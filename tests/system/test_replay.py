"""udprouter-replay end to end: captures written by the real router replay into a fresh router.

Every router here is `udprouter serve` with the real engine, on an ephemeral port, with its
journal in tmp_path, stopped by its pid. The replay tool runs as its console entry point would
(`python -m udprouter.replay.cli`), and its --json report is checked message by message against what
the recorded router answered.
"""

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import uvloop

from udprouter.datagram_mac import strip_mac
from udprouter.replay import formats as f
from udprouter.replay.reader import read_capture
from udprouter.replay.recording import extract_recording
from udprouter.replay.sample import RouterProcess, run_scenario

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "src/udprouter/replay/samples/demo.pcapng"
ENGINE = ROOT / "build/engine/udprouter-engine"

pytestmark = pytest.mark.skipif(not ENGINE.exists(), reason="engine not built (make engine)")


def replay_json(capture, address, *options, timeout=120):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "udprouter.replay.cli",
            str(capture),
            "--target",
            f"{address[0]}:{address[1]}",
            "--json",
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    return result, (json.loads(result.stdout) if result.stdout.strip() else None)


def recorded_answers(capture):
    recording = extract_recording(read_capture(str(capture)).datagrams)
    return [a for s in recording.sessions.values() for a in s.answers.values()]


@pytest.fixture
def fresh_router(tmp_path):
    (tmp_path / "fresh").mkdir()
    with RouterProcess(str(tmp_path / "fresh")) as router:
        yield router.address


@pytest.fixture
def router_capture(tmp_path):
    """A capture the router writes while the sample session runs against it."""
    (tmp_path / "recorded").mkdir()
    capture = tmp_path / "router.pcapng"
    with RouterProcess(str(tmp_path / "recorded"), str(capture)) as router:
        answered = uvloop.run(run_scenario(*router.address, gap_s=0.005))
    return capture, answered


def test_router_capture_replays_with_every_order_answered_as_recorded(router_capture, fresh_router):
    """The recorded datagrams carry the recorded session's MACs; the replay signs each again under
    its own session's key (SPEC.md 4.9), or the fresh router would drop them all unanswered."""
    capture, answered = router_capture
    messages = sum(len(d) for d in answered)
    signed = [d for d in read_capture(str(capture)).datagrams if strip_mac(d.payload) != d.payload]
    assert len(signed) >= len(answered)  # every recorded client datagram after Establish: server ones are not
    result, report = replay_json(capture, fresh_router, "--speed", "4")
    assert result.returncode == 0, result.stderr
    assert report["sent"] == messages == len(recorded_answers(capture))
    assert report["unanswered"] == 0 and report["not_applied"] == 0
    assert report["matches_capture"] == {"same": messages, "different": 0, "not recorded": 0}, report[
        "mismatches"
    ]
    assert report["acknowledged"] + report["rejected"] == messages
    assert report["rejected_by_reason"] == {
        "OrdRejReason.PriceExceedsCurrentPriceBand": 1,
        "OrdRejReason.UnknownSymbol": 1,
        "OrdRejReason.InvalidPriceIncrement": 1,
        "CxlRejReason.TooLateToCancel": 1,
    }
    assert report["latency_us"]["p50"] > 0 and report["latency_us"]["max"] >= report["latency_us"]["p999"]
    assert report["intended_rate_per_s"] > 0 and report["rate_per_s"] > 0


def test_committed_sample_replays_at_topspeed_as_recorded(fresh_router):
    result, report = replay_json(SAMPLE, fresh_router, "--topspeed")
    assert result.returncode == 0, result.stderr
    expected = len(recorded_answers(SAMPLE))
    recording = extract_recording(read_capture(str(SAMPLE)).datagrams)
    assert report["sent"] == expected == sum(len(d.messages) for d in recording.datagrams) >= 30
    assert report["matches_capture"]["same"] == expected, report["mismatches"]
    assert report["intended_rate_per_s"] is None and report["timing"] == "topspeed"


def test_loop_and_limit_send_the_scheduled_datagrams_into_one_fresh_session(fresh_router):
    result, report = replay_json(SAMPLE, fresh_router, "--pps", "400", "--loop", "2", "--limit", "15")
    assert result.returncode == 0, result.stderr
    assert report["datagrams_sent"] == 15 and report["sessions"] == 1
    assert report["unanswered"] == 0
    assert report["acknowledged"] + report["rejected"] == report["sent"]
    assert report["intended_rate_per_s"] == pytest.approx(report["sent"] * 400 / 14, rel=1e-3)


def test_truncated_capture_replays_only_what_precedes_the_bad_offset(fresh_router, tmp_path):
    data = SAMPLE.read_bytes()
    contents = read_capture(str(SAMPLE))
    cut_at = contents.datagrams[12].offset + 20  # inside frame 13: frames 1-12 stay readable
    truncated = tmp_path / "truncated.pcapng"
    truncated.write_bytes(data[:cut_at])
    before = extract_recording(contents.datagrams[:12])
    result, report = replay_json(truncated, fresh_router)
    assert result.returncode == 1
    assert f"byte offset {contents.datagrams[12].offset}" in result.stderr
    assert "truncated block" in report["capture_error"]
    assert report["sent"] == sum(len(d.messages) for d in before.datagrams)
    assert report["matches_capture"]["different"] == 0 and report["unanswered"] == 0


def tcpdump_lo_pcap(datagrams):
    """The capture as `tcpdump -i lo -w` writes it: pcap, microseconds, Ethernet with zero MACs."""
    out = f.PCAP_LE.global_header.build(
        dict(
            magic=f.PCAP_MAGIC_MICRO,
            version_major=2,
            version_minor=4,
            thiszone=0,
            sigfigs=0,
            snaplen=262144,
            linktype=f.LINKTYPE_ETHERNET,
        )
    )
    for d in datagrams:
        udp = f.UDP_HEADER.build(
            dict(src_port=d.src[1], dst_port=d.dst[1], length=8 + len(d.payload), checksum=0)
        )
        ip = f.IPV4_HEADER.build(
            dict(
                version_ihl=0x45,
                tos=0,
                total_length=28 + len(d.payload),
                identification=0,
                flags_fragment=0x4000,
                ttl=64,
                protocol=17,
                checksum=0,
                src=int.from_bytes(socket.inet_aton(d.src[0]), "big"),
                dst=int.from_bytes(socket.inet_aton(d.dst[0]), "big"),
                options=b"",
            )
        )
        frame = (
            f.ETHERNET_HEADER.build(dict(dst=bytes(6), src=bytes(6), ethertype=f.ETHERTYPE_IPV4)) + ip + udp
        )
        frame += d.payload
        out += f.PCAP_LE.record_header.build(
            dict(
                ts_sec=d.ts_ns // 10**9,
                ts_frac=d.ts_ns % 10**9 // 1000,
                captured_len=len(frame),
                original_len=len(frame),
            )
        )
        out += frame
    return out


def test_tcpdump_lo_capture_replays_like_the_router_capture(fresh_router, tmp_path):
    pcap = tmp_path / "lo.pcap"
    pcap.write_bytes(tcpdump_lo_pcap(read_capture(str(SAMPLE)).datagrams))
    assert read_capture(str(pcap)).file_format == "pcap"
    result, report = replay_json(pcap, fresh_router, "--speed", "8")
    assert result.returncode == 0, result.stderr
    assert report["matches_capture"]["same"] == report["sent"] == len(recorded_answers(SAMPLE))


def test_port_filter_that_matches_nothing_is_refused_with_a_clear_message(fresh_router):
    result, report = replay_json(SAMPLE, fresh_router, "--dst-port", "1")
    assert result.returncode == 2 and report is None
    assert "no client application datagrams" in result.stderr


def test_two_recorded_sessions_replay_into_two_fresh_sessions(tmp_path, fresh_router):
    (tmp_path / "two").mkdir()
    capture = tmp_path / "two.pcapng"
    with RouterProcess(str(tmp_path / "two"), str(capture)) as router:
        first = uvloop.run(run_scenario(*router.address, gap_s=0.002))
        second = uvloop.run(run_scenario(*router.address, "demo2", "demo2-secret", gap_s=0.002))
    recording = extract_recording(read_capture(str(capture)).datagrams)
    assert len(recording.sessions) == 2
    result, report = replay_json(capture, fresh_router, "--speed", "2")
    assert result.returncode == 0, result.stderr
    assert report["sessions"] == 2
    assert report["sent"] == sum(len(d) for d in first + second)
    assert report["matches_capture"]["same"] == report["sent"], report["mismatches"]
    second_id = list(recording.sessions)[1]
    result, report = replay_json(capture, fresh_router, "--session", second_id, "--topspeed")
    assert result.returncode == 0, result.stderr
    assert report["sessions"] == 1 and report["sent"] == sum(len(d) for d in second)
    assert report["skipped"]["other session"] == len(first)


@pytest.mark.parametrize("name", ["demo_tcpdump_lo.pcap", "demo_tcpdump_any.pcap"])
def test_real_tcpdump_captures_replay_as_recorded(name, fresh_router):
    # Taken with `tcpdump -i lo` (Ethernet) and `tcpdump -i any` (Linux cooked v2) around the sample session.
    capture = SAMPLE.parent / name
    result, report = replay_json(capture, fresh_router, "--speed", "8")
    assert result.returncode == 0, result.stderr
    assert report["sent"] == len(recorded_answers(capture)) >= 30
    assert report["matches_capture"]["same"] == report["sent"], report["mismatches"]


def replayed_bytes(capture, datagrams: int) -> int:
    """UDP payload bytes of the first `datagrams` replayed datagrams (looping over the capture)."""
    from udprouter.replay.runner import datagram_size

    recorded = extract_recording(read_capture(str(capture)).datagrams).datagrams
    return sum(datagram_size(recorded[i % len(recorded)]) for i in range(datagrams))


def test_loop_zero_with_a_duration_loops_until_the_duration_and_reports_bytes(fresh_router):
    result, report = replay_json(SAMPLE, fresh_router, "-l", "0", "-p", "100", "--duration", "1")
    assert result.returncode == 0, result.stderr
    recorded = len(extract_recording(read_capture(str(SAMPLE)).datagrams).datagrams)
    assert recorded < report["datagrams_sent"] <= 100  # past one pass: it looped
    assert report["timing"] == "100 pps, loop forever" and not report["stopped"]
    assert report["unanswered"] == 0 and report["send_errors"] == 0
    # bytes: the replayed datagrams plus the session's own (Negotiate, Establish, heartbeats, Terminate)
    assert report["bytes_sent"] >= replayed_bytes(SAMPLE, report["datagrams_sent"])
    assert report["mbps"] == pytest.approx(report["bytes_sent"] * 8 / report["duration_s"] / 1e6, rel=0.01)


def test_mbps_and_limit_send_the_limited_datagrams(fresh_router):
    result, report = replay_json(SAMPLE, fresh_router, "-M", "0.5", "-L", "12")
    assert result.returncode == 0, result.stderr
    assert report["timing"] == "0.5 Mbps" and report["datagrams_sent"] == 12
    assert report["bytes_sent"] >= replayed_bytes(SAMPLE, 12)


def test_a_signal_ends_an_endless_replay_with_its_report_and_periodic_stats(fresh_router):
    """-l 0 with no bound runs until SIGINT; --stats prints totals meanwhile; the report follows."""
    target = f"{fresh_router[0]}:{fresh_router[1]}"
    args = [sys.executable, "-m", "udprouter.replay.cli", str(SAMPLE), "--target", target, "--json",
            "-l", "0", "-p", "200", "--stats", "0.2"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        stats = []
        deadline = time.monotonic() + 60
        while len(stats) < 2 and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            if line.startswith('{"stats"'):
                stats.append(json.loads(line)["stats"])
        assert len(stats) == 2, "no periodic stats before the deadline"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert report["stopped"] and report["unanswered"] == 0
    assert report["datagrams_sent"] >= stats[-1]["datagrams_sent"] > 0
    assert set(stats[-1]) >= {"elapsed_s", "datagrams_sent", "bytes_sent", "pps", "mbps", "acknowledged",
                              "unanswered", "send_errors"}
    assert stats[-1]["bytes_sent"] >= stats[0]["bytes_sent"] > 0
