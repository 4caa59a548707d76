"""CaptureWriter: pcapng that our reader and tshark both read back exactly."""

import os
import shutil
import socket
import struct
import subprocess

import pytest

from udprouter.capture import CaptureDirection, CaptureWriter
from udprouter.replay.reader import read_capture

CLIENT = ("127.0.0.1", 40001)
SERVER = ("127.0.0.1", 9000)


def _write_two(path, **kwargs):
    with CaptureWriter(str(path), **kwargs) as writer:
        writer.record(CaptureDirection.INBOUND, CLIENT, SERVER, b"order-bytes", 1_700_000_000_123_456_789)
        writer.record(CaptureDirection.OUTBOUND, SERVER, CLIENT, b"report", 1_700_000_000_123_457_001)
    return path


def test_written_datagrams_read_back_with_addresses_payload_nanoseconds_and_direction(tmp_path):
    contents = read_capture(str(_write_two(tmp_path / "c.pcapng")))
    assert contents.error is None and contents.file_format == "pcapng"
    first, second = contents.datagrams
    assert (first.src, first.dst, first.payload) == (CLIENT, SERVER, b"order-bytes")
    assert first.ts_ns == 1_700_000_000_123_456_789
    assert first.direction is CaptureDirection.INBOUND
    assert (second.src, second.dst, second.payload) == (SERVER, CLIENT, b"report")
    assert second.ts_ns == 1_700_000_000_123_457_001
    assert second.direction is CaptureDirection.OUTBOUND


def test_payload_lengths_that_need_block_padding_round_trip(tmp_path):
    path = tmp_path / "pad.pcapng"
    payloads = [bytes(range(n)) for n in range(0, 9)]
    with CaptureWriter(str(path)) as writer:
        for i, payload in enumerate(payloads):
            writer.record(CaptureDirection.INBOUND, CLIENT, SERVER, payload, i)
    contents = read_capture(str(path))
    assert contents.error is None
    assert [d.payload for d in contents.datagrams] == payloads


def test_synthesised_ipv4_header_checksum_verifies(tmp_path):
    path = _write_two(tmp_path / "c.pcapng")
    data = path.read_bytes()
    # First EPB follows SHB+IDB; its packet data starts 28 bytes into the block.
    epb = data.index(struct.pack("<I", 6))
    ip_header = data[epb + 28 : epb + 48]
    words = struct.unpack("!10H", ip_header)
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    assert total == 0xFFFF
    assert ip_header[12:16] == socket.inet_aton(CLIENT[0])


def test_record_buffers_until_flush_writes_it(tmp_path):
    path = tmp_path / "buffered.pcapng"
    writer = CaptureWriter(str(path))
    try:
        header_size = os.path.getsize(path)
        writer.record(CaptureDirection.INBOUND, CLIENT, SERVER, b"x" * 40, 1)
        assert os.path.getsize(path) == header_size
        writer.flush()
        assert os.path.getsize(path) > header_size
        assert len(read_capture(str(path)).datagrams) == 1
    finally:
        writer.close()


def test_buffer_past_threshold_flushes_without_an_explicit_flush(tmp_path):
    path = tmp_path / "threshold.pcapng"
    writer = CaptureWriter(str(path), flush_threshold=1000)
    try:
        for i in range(20):
            writer.record(CaptureDirection.INBOUND, CLIENT, SERVER, b"y" * 100, i)
        assert len(read_capture(str(path)).datagrams) >= 5
    finally:
        writer.close()
    assert len(read_capture(str(path)).datagrams) == 20


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed (CI installs it)")
def test_tshark_reads_the_written_capture(tmp_path):
    path = _write_two(tmp_path / "c.pcapng")
    out = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-o",
            "ip.check_checksum:TRUE",
            "-T",
            "fields",
            "-E",
            "separator=,",
            "-e",
            "frame.time_epoch",
            "-e",
            "udp.srcport",
            "-e",
            "udp.dstport",
            "-e",
            "ip.checksum.status",
            "-e",
            "frame.p2p_dir",
            "-e",
            "data",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert out == [
        f"1700000000.123456789,40001,9000,1,1,{b'order-bytes'.hex()}",
        f"1700000000.123457001,9000,40001,1,0,{b'report'.hex()}",
    ]
