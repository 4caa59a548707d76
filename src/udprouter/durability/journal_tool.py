"""`udprouter journal dump|verify PATH`: the engine journal and snapshots for audits and support calls.

PATH is a journal directory (every segment and snapshot in order) or one file. The formats are the
engine's (journal_format.py, from engine/include/udprouter/engine/journal.h and snapshot_file.h): a
segment is a 24-byte header then records [u32 length = 64][u32 CRC-32C][udr_command]; a snapshot
is a 40-byte header then a checksummed payload.

dump prints one JSON object per line: each segment and snapshot header, then each command with its
file and byte offset. verify checks every header, length, CRC and that command_seq strictly
increases through and across segments; it prints a one-object summary and exits 0, or exits 1
naming the file and byte offset of the first bad record. A torn last record at the end of the
newest segment is what a crash leaves (the engine cuts it on its next start): reported, exit 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from udprouter.durability.journal_format import (
    COMMAND,
    RECORD_HEADER,
    SEGMENT_HEADER,
    SEGMENT_MAGIC,
    SEGMENT_RE,
    SEGMENT_VERSION,
    SNAPSHOT_HEADER,
    SNAPSHOT_MAGIC,
    SNAPSHOT_RE,
    SNAPSHOT_VERSION,
    crc32c,
)
from udprouter.ring_records import (
    CMD_CANCEL,
    CMD_NEW_ORDER,
    CMD_REPLACE,
    CMD_TERMINATE,
    COMMAND_FIELDS,
)

KINDS = {CMD_NEW_ORDER: "new_order", CMD_CANCEL: "cancel", CMD_REPLACE: "replace", CMD_TERMINATE: "terminate"}
READ_CHUNK = 1 << 20


class JournalDamage(Exception):
    def __init__(self, path: Path, offset: int, reason: str, torn: bool = False) -> None:
        super().__init__(f"{path} offset {offset}: {reason}")
        self.path, self.offset, self.reason, self.torn = path, offset, reason, torn


def journal_files(path: Path) -> list[Path]:
    """Segments and snapshots in command order (a snapshot before the segment that follows it)."""
    if path.is_file():
        return [path]
    entries = []
    for child in path.iterdir():
        if m := SEGMENT_RE.match(child.name):
            entries.append((int(m.group(1)), 1, child))  # segment N follows snapshot N - 1
        elif m := SNAPSHOT_RE.match(child.name):
            entries.append((int(m.group(1)) + 1, 0, child))
    return [p for _, _, p in sorted(entries)]


def read_segment(path: Path) -> Iterator[dict]:
    """The segment's header, then each command as a dict with its offset; JournalDamage at the
    first bad record."""
    with path.open("rb") as f:
        head = f.read(SEGMENT_HEADER.size)
        if len(head) < SEGMENT_HEADER.size:
            raise JournalDamage(path, 0, f"file shorter than the {SEGMENT_HEADER.size}-byte header",
                                torn=True)
        magic, version, record_size, first = SEGMENT_HEADER.unpack(head)
        if magic != SEGMENT_MAGIC or version != SEGMENT_VERSION or record_size != COMMAND.size:
            raise JournalDamage(path, 0, f"not a journal segment (magic {magic!r}, version {version}, "
                                         f"record size {record_size})")
        yield {"type": "segment", "file": path.name, "first_command_seq": first}
        offset = SEGMENT_HEADER.size
        data = b""
        while True:
            need = RECORD_HEADER.size + COMMAND.size
            if len(data) < need:
                data += f.read(READ_CHUNK)
            if not data:
                return
            if len(data) < RECORD_HEADER.size:
                raise JournalDamage(path, offset, "torn record header at the end of the file", torn=True)
            length, crc = RECORD_HEADER.unpack_from(data)
            if length != COMMAND.size:
                raise JournalDamage(path, offset, f"record length {length}, expected {COMMAND.size}")
            if len(data) < need:
                raise JournalDamage(path, offset, "torn record at the end of the file", torn=True)
            payload = data[RECORD_HEADER.size:need]
            if crc32c(payload) != crc:
                raise JournalDamage(path, offset, "CRC-32C mismatch")
            command = dict(zip(COMMAND_FIELDS, COMMAND.unpack(payload), strict=True))
            command["kind"] = KINDS.get(command["kind"], command["kind"])
            del command["reserved"]
            yield {"type": "command", "file": path.name, "offset": offset, **command}
            offset += need
            data = data[need:]


def read_snapshot(path: Path) -> dict:
    data = path.read_bytes()
    if len(data) < SNAPSHOT_HEADER.size:
        raise JournalDamage(path, 0, "file shorter than the snapshot header")
    magic, version, _, seq, length, crc, _ = SNAPSHOT_HEADER.unpack_from(data)
    if magic != SNAPSHOT_MAGIC or version != SNAPSHOT_VERSION:
        raise JournalDamage(path, 0, f"not a snapshot (magic {magic!r}, version {version})")
    payload = data[SNAPSHOT_HEADER.size:]
    if len(payload) != length:
        raise JournalDamage(path, SNAPSHOT_HEADER.size,
                            f"payload is {len(payload)} bytes, header says {length}")
    if crc32c(payload) != crc:
        raise JournalDamage(path, SNAPSHOT_HEADER.size, "snapshot payload CRC-32C mismatch")
    return {"type": "snapshot", "file": path.name, "command_seq": seq, "payload_bytes": length}


def walk(path: Path) -> Iterator[dict]:
    """Every header and command under path, in order, checking command_seq order across files."""
    last_seq, last_where = 0, None
    files = journal_files(path)
    for index, file in enumerate(files):
        if SNAPSHOT_RE.match(file.name) or (file.is_file() and file.suffix == ".bin"):
            yield read_snapshot(file)
            continue
        try:
            for item in read_segment(file):
                if item["type"] == "command":
                    if item["command_seq"] <= last_seq:
                        seq = item["command_seq"]
                        reason = f"command_seq {seq} does not follow {last_seq} ({last_where})"
                        raise JournalDamage(file, item["offset"], reason)
                    last_seq, last_where = item["command_seq"], f"{file.name} offset {item['offset']}"
                yield item
        except JournalDamage as damage:
            if damage.torn and index == len(files) - 1:
                yield {"type": "torn_tail", "file": file.name, "offset": damage.offset,
                       "reason": damage.reason}
                return
            raise


def dump(path: Path, out) -> int:
    try:
        for item in walk(path):
            out.write(json.dumps(item, separators=(",", ":")) + "\n")
    except JournalDamage as damage:
        out.flush()
        print(f"udprouter journal dump: {damage}", file=sys.stderr)
        return 1
    return 0


def verify(path: Path, out) -> int:
    summary = {"ok": True, "segments": 0, "snapshots": 0, "commands": 0, "first_command_seq": None,
               "last_command_seq": None}
    try:
        for item in walk(path):
            kind = item["type"]
            if kind == "segment":
                summary["segments"] += 1
            elif kind == "snapshot":
                summary["snapshots"] += 1
            elif kind == "torn_tail":
                summary["torn_tail"] = f"{item['file']} offset {item['offset']}"
            else:
                summary["commands"] += 1
                summary["first_command_seq"] = summary["first_command_seq"] or item["command_seq"]
                summary["last_command_seq"] = item["command_seq"]
    except JournalDamage as damage:
        summary.update(ok=False, file=damage.path.name, offset=damage.offset, error=damage.reason)
        out.write(json.dumps(summary) + "\n")
        print(f"udprouter journal verify: {damage}", file=sys.stderr)
        return 1
    out.write(json.dumps(summary) + "\n")
    return 0


def add_parser(sub) -> None:
    journal = sub.add_parser("journal", help="read or check the engine journal and snapshots")
    tools = journal.add_subparsers(dest="journal_command", required=True)
    for name, text in (("dump", "every command with its file and offset, as JSON lines"),
                       ("verify", "check every record; exit 1 naming the first bad one's offset")):
        tool = tools.add_parser(name, help=text)
        tool.add_argument("path", help="journal directory ([journal] dir) or one segment/snapshot file")


def run(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.exists():
        print(f"udprouter journal: {path}: no such file or directory", file=sys.stderr)
        return 2
    return (dump if args.journal_command == "dump" else verify)(path, sys.stdout)
