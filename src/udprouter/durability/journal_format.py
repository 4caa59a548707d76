"""The engine journal's files and the event frames replayed from them, in pure Python (struct, no
cffi), so `udprouter journal` and the downstream publisher run without the compiled module.

One definition of each, from the engine's headers:
- a segment `journal-<first command_seq, 20 digits>.log` (engine/include/udprouter/engine/journal.h):
  SEGMENT_HEADER (JournalFileHeader), then records RECORD_HEADER (JournalRecordHeader: length,
  CRC-32C of the payload) + one udr_command (ring_records.COMMAND_LAYOUT: the ring's own record,
  journaled verbatim);
- a snapshot `snapshot-<command_seq, 20 digits>.bin` (snapshot_file.h): SNAPSHOT_HEADER
  (SnapshotFileHeader), then a checksummed payload;
- the frames `udprouter-events` writes (engine/src/events_main.cpp EventFrame): one udr_event
  (ring_records.EVENT_LAYOUT) + event_index, account, recv_time_ns.
tests/unit/durability/test_journal_format.py checks each against the C++ header it comes from.
"""

from __future__ import annotations

import re
import struct

from udprouter.ring_records import COMMAND_LAYOUT, EVENT_LAYOUT

SEGMENT_MAGIC = b"UDRJRNL1"  # kJournalMagic
SEGMENT_VERSION = 1  # kJournalVersion
SEGMENT_HEADER = struct.Struct("<8sIIQ")  # magic, version, record_size, first_command_seq
RECORD_HEADER = struct.Struct("<II")  # length, CRC-32C of the payload
COMMAND = COMMAND_LAYOUT  # a record's payload
RECORD_SIZE = RECORD_HEADER.size + COMMAND.size  # kJournalRecordSize

SNAPSHOT_MAGIC = b"UDRSNPF1"  # kSnapshotFileMagic
SNAPSHOT_VERSION = 1  # kSnapshotFileVersion
SNAPSHOT_HEADER = struct.Struct("<8sIIQQII")  # magic, version, reserved, command_seq, length, crc, reserved

SEGMENT_RE = re.compile(r"^journal-(\d{20})\.log$")
SNAPSHOT_RE = re.compile(r"^snapshot-(\d{20})\.bin$")

EVENT_FRAME = struct.Struct(EVENT_LAYOUT.format + "IIQ")  # udr_event + event_index, account, recv_time_ns
FRAME_FLAG_QUERY = 0x80  # kFrameFlagQuery, in the frame's copy of flags: an ACCOUNT_UPDATED answering a Query


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as the engine's crc32c.h computes it over a record's payload."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF
