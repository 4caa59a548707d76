"""journal_format against the engine's C++ headers, field by field: the journal segment and record
headers (journal.h), the snapshot header (snapshot_file.h), the journaled udr_command (ring_abi.h)
and udprouter-events' frames (events_main.cpp). The layouts are parsed from the headers' text, not
from cffi, so the check holds for exactly what the pure-Python tools read; and those tools run
with the compiled module missing."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

from udprouter.config import REPO_ROOT
from udprouter.durability import journal_format as jf
from udprouter.ring_records import COMMAND_FIELDS, EVENT_FIELDS, EVENT_LAYOUT

ENGINE_INCLUDE = REPO_ROOT / "engine" / "include" / "udprouter" / "engine"
JOURNAL_H = ENGINE_INCLUDE / "journal.h"
SNAPSHOT_H = ENGINE_INCLUDE / "snapshot_file.h"
RING_ABI_H = ENGINE_INCLUDE / "ring_abi.h"
EVENTS_MAIN = REPO_ROOT / "engine" / "src" / "events_main.cpp"
C_TYPES = {"char": "s", "uint8_t": "B", "int32_t": "i", "uint32_t": "I", "int64_t": "q", "uint64_t": "Q"}


def _without_comments(text: str) -> str:
    return re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)


def c_struct(path: Path, name: str, nested: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """(struct format, field names) of `struct name { ... }` in path. Every field must sit at its
    natural alignment (so the C struct has no padding the '<' format would miss)."""
    text = _without_comments(path.read_text())
    body = re.search(r"struct\s+" + name + r"\s*\{(.*?)\}", text, re.S)
    assert body is not None, f"struct {name} not found in {path.name}"
    fmt, names, offset = "<", [], 0
    for decl in filter(None, (d.strip() for d in body.group(1).split(";"))):
        field = re.fullmatch(r"(\w+)\s+(\w+)(?:\[(\d+)\])?", decl)
        assert field is not None, f"{name}: cannot read {decl!r}"
        ctype, fname, count = field.groups()
        code = (nested or {}).get(ctype) or C_TYPES[ctype]
        align = 8 if ctype in (nested or {}) else struct.calcsize("<" + code[-1])
        assert offset % align == 0, f"{name}.{fname} at {offset}: not naturally aligned"
        code = f"{count}{code}" if count else code
        fmt += code
        offset += struct.calcsize("<" + code)
        names.append(fname)
    return fmt, names


def c_size(path: Path, name: str) -> int:
    m = re.search(r"static_assert\(sizeof\(" + name + r"\)\s*==\s*(\w+)", path.read_text())
    assert m is not None, f"no static_assert on sizeof({name}) in {path.name}"
    return int(m.group(1), 0)


def c_magic(path: Path, name: str) -> bytes:
    m = re.search(name + r"\[8\]\s*=\s*\{([^}]*)\}", path.read_text())
    assert m is not None
    return bytes(ord(c) for c in re.findall(r"'(.)'", m.group(1)))


def c_constant(path: Path, name: str) -> int:
    m = re.search(name + r"\s*=\s*(\w+)", path.read_text())
    assert m is not None, f"{name} not found in {path.name}"
    return int(m.group(1), 0)


def test_segment_header_and_record_header_match_journal_h():
    fmt, names = c_struct(JOURNAL_H, "JournalFileHeader")
    assert fmt == jf.SEGMENT_HEADER.format
    assert names == ["magic", "version", "record_size", "first_command_seq"]
    assert jf.SEGMENT_HEADER.size == c_size(JOURNAL_H, "JournalFileHeader")
    assert jf.SEGMENT_MAGIC == c_magic(JOURNAL_H, "kJournalMagic")
    assert jf.SEGMENT_VERSION == c_constant(JOURNAL_H, "kJournalVersion")
    assert c_struct(JOURNAL_H, "JournalRecordHeader") == (jf.RECORD_HEADER.format, ["length", "crc"])
    # kJournalRecordSize = sizeof(JournalRecordHeader) + sizeof(udr_command)
    assert "sizeof(JournalRecordHeader) + sizeof(udr_command)" in JOURNAL_H.read_text()
    assert jf.RECORD_SIZE == jf.RECORD_HEADER.size + jf.COMMAND.size == 72


def test_the_journaled_command_is_ring_abi_h_udr_command():
    fmt, names = c_struct(RING_ABI_H, "udr_command")
    assert (fmt, tuple(names)) == (jf.COMMAND.format, COMMAND_FIELDS)
    record_size = re.search(r"#define UDR_RECORD_SIZE (\d+)", RING_ABI_H.read_text())
    assert jf.COMMAND.size == int(record_size.group(1)) == 64


def test_snapshot_header_matches_snapshot_file_h():
    fmt, names = c_struct(SNAPSHOT_H, "SnapshotFileHeader")
    assert fmt == jf.SNAPSHOT_HEADER.format
    assert names == ["magic", "version", "reserved0", "command_seq", "payload_length", "payload_crc",
                     "reserved1"]
    assert jf.SNAPSHOT_HEADER.size == c_size(SNAPSHOT_H, "SnapshotFileHeader")
    assert jf.SNAPSHOT_MAGIC == c_magic(SNAPSHOT_H, "kSnapshotFileMagic")
    assert jf.SNAPSHOT_VERSION == c_constant(SNAPSHOT_H, "kSnapshotFileVersion")


def test_event_frame_matches_events_main_and_ring_abi_h_udr_event():
    fmt, names = c_struct(RING_ABI_H, "udr_event")
    assert (fmt, tuple(names)) == (EVENT_LAYOUT.format, EVENT_FIELDS)
    fmt, names = c_struct(EVENTS_MAIN, "EventFrame", nested={"udr_event": EVENT_LAYOUT.format[1:]})
    assert (fmt, names) == (jf.EVENT_FRAME.format, ["event", "event_index", "account", "recv_time_ns"])
    assert jf.EVENT_FRAME.size == c_size(EVENTS_MAIN, "EventFrame")
    assert jf.FRAME_FLAG_QUERY == c_constant(EVENTS_MAIN, "kFrameFlagQuery")


def test_crc32c_matches_the_standard_check_value():
    assert jf.crc32c(b"123456789") == 0xE3069283  # the CRC-32C (Castagnoli) check value


def test_the_journal_tools_run_without_the_compiled_module(tmp_path):
    payload = jf.COMMAND.pack(1, 11, 0, 100, 0, 1, 1, 5, 1, 1, 1, 2, 0, 0)
    record = jf.RECORD_HEADER.pack(jf.COMMAND.size, jf.crc32c(payload)) + payload
    header = jf.SEGMENT_HEADER.pack(jf.SEGMENT_MAGIC, jf.SEGMENT_VERSION, jf.COMMAND.size, 1)
    (tmp_path / f"journal-{1:020d}.log").write_bytes(header + record)
    script = textwrap.dedent(f"""
        import io, json, sys
        sys.modules["udprouter._ring_cffi"] = None  # any import of it raises ImportError
        from pathlib import Path
        from udprouter.durability import journal_tool
        from udprouter.downstream import events
        out = io.StringIO()
        assert journal_tool.verify(Path({str(tmp_path)!r}), out) == 0
        assert json.loads(out.getvalue())["commands"] == 1
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
