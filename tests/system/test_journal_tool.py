"""`udprouter journal dump|verify` on a journal a live router and its engine wrote: every command sent
comes back with its position, verify passes, and one corrupted byte is found at its record's offset."""

from __future__ import annotations

import json
import subprocess
import sys

from udprouter._generated.messages import ExecutionReportNew, Side
from udprouter.client import Client
from udprouter.config import REPO_ROOT
from udprouter.durability.journal_format import COMMAND, RECORD_HEADER, SEGMENT_HEADER

PRICE = 100_000_000_000
RECORD = RECORD_HEADER.size + COMMAND.size


def journal_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "udprouter.cli", "journal", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)


async def test_dump_round_trips_the_commands_and_verify_finds_a_corrupted_byte(start_router):
    router = start_router()
    client = await Client.connect(*router.udp, "demo", "demo-secret")
    try:
        sent = []
        for i in range(5):
            cl = await client.send_order(2, Side.Sell, PRICE + i * 10_000_000, 7 + i)
            assert isinstance(await client.first_ack(cl), ExecutionReportNew)
            sent.append(cl)
        cancel = await client.cancel(sent[0], 2, Side.Sell)
        await client.first_ack(cancel)
    finally:
        await client.close()
    assert router.stop() == 0
    journal = router.journal

    dumped = journal_cli("dump", str(journal))
    assert dumped.returncode == 0, dumped.stderr
    items = [json.loads(line) for line in dumped.stdout.splitlines()]
    segments = [i for i in items if i["type"] == "segment"]
    commands = [i for i in items if i["type"] == "command"]
    assert len(segments) == 1 and segments[0]["first_command_seq"] == 1
    assert [c["cl_ord_id"] for c in commands] == [*sent, cancel]
    assert [c["kind"] for c in commands] == ["new_order"] * 5 + ["cancel"]
    assert [c["command_seq"] for c in commands] == list(range(1, 7))
    assert [c["offset"] for c in commands] == [SEGMENT_HEADER.size + k * RECORD for k in range(6)]
    assert [c["order_qty"] for c in commands[:5]] == [7, 8, 9, 10, 11]
    assert commands[0]["price"] == PRICE and commands[0]["side"] == int(Side.Sell)
    assert commands[5]["orig_cl_ord_id"] == sent[0]

    verified = journal_cli("verify", str(journal))
    assert verified.returncode == 0, verified.stderr
    summary = json.loads(verified.stdout)
    assert summary["ok"] and summary["commands"] == 6 and summary["last_command_seq"] == 6

    segment = journal / segments[0]["file"]
    data = bytearray(segment.read_bytes())
    bad_offset = commands[3]["offset"]
    data[bad_offset + RECORD_HEADER.size + 48] ^= 0x01  # one bit of the fourth command's OrderQty
    segment.write_bytes(bytes(data))
    verified = journal_cli("verify", str(journal))
    assert verified.returncode == 1
    summary = json.loads(verified.stdout)
    assert not summary["ok"] and summary["offset"] == bad_offset and summary["file"] == segment.name
    assert f"offset {bad_offset}: CRC-32C mismatch" in verified.stderr
    dumped = journal_cli("dump", str(segment))  # one file; stops at the damage, naming it
    assert dumped.returncode == 1 and len(dumped.stdout.splitlines()) == 1 + 3


def test_a_torn_tail_is_reported_but_is_not_damage(tmp_path):
    from udprouter.durability.journal_format import SEGMENT_MAGIC, crc32c

    payload = COMMAND.pack(1, 11, 0, PRICE, 0, 1, 1, 5, 1, 1, 1, 2, 0, 0)
    header = SEGMENT_HEADER.pack(SEGMENT_MAGIC, 1, COMMAND.size, 1)
    record = RECORD_HEADER.pack(COMMAND.size, crc32c(payload)) + payload
    (tmp_path / f"journal-{1:020d}.log").write_bytes(header + record + record[:30])
    verified = journal_cli("verify", str(tmp_path))
    assert verified.returncode == 0, verified.stderr
    summary = json.loads(verified.stdout)
    assert summary["commands"] == 1
    assert summary["torn_tail"].endswith(f"offset {SEGMENT_HEADER.size + RECORD}")


def test_crc32c_matches_the_standard_check_value():
    from udprouter.durability.journal_format import crc32c

    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C (Castagnoli) check value


async def test_snapshots_are_dumped_and_verified(start_router):
    router = start_router("[journal]\nsnapshot_every = 1000000\n")  # and one at the clean stop
    client = await Client.connect(*router.udp, "demo", "demo-secret")
    try:
        assert isinstance(await client.first_ack(await client.send_order(1, Side.Buy, PRICE, 3)),
                          ExecutionReportNew)
    finally:
        await client.close()
    assert router.stop() == 0
    dumped = journal_cli("dump", str(router.journal))
    assert dumped.returncode == 0, dumped.stderr
    snapshots = [json.loads(line) for line in dumped.stdout.splitlines() if '"snapshot"' in line]
    assert snapshots and snapshots[-1]["command_seq"] == 1 and snapshots[-1]["payload_bytes"] > 0
    snapshot = router.journal / snapshots[-1]["file"]
    data = bytearray(snapshot.read_bytes())
    data[-1] ^= 0xFF
    snapshot.write_bytes(bytes(data))
    verified = journal_cli("verify", str(router.journal))
    assert verified.returncode == 1
    assert f"{snapshot.name} offset 40: snapshot payload CRC-32C mismatch" in verified.stderr
