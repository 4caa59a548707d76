"""read_capture(path): the UDP datagrams of a pcap or pcapng file, and the first corruption if any.

A corrupt or truncated file is not an exception: the datagrams read before the bad byte are kept,
nothing past it is read, and CaptureContents.error names the byte offset and the reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from construct import ConstructError

from udprouter.capture import CaptureDirection
from udprouter.replay import formats as f
from udprouter.replay.packets import SUPPORTED_LINKTYPES, LinkFrame, UdpDatagram, parse_ipv4_udp, strip_link

# Larger than any frame a real capture holds; a bigger length field means the header is garbage.
MAX_FRAME_LEN = 256 * 1024


@dataclass(frozen=True, slots=True)
class CapturedDatagram:
    index: int  # 1-based frame number, as Wireshark counts
    offset: int  # byte offset of the frame's record or block in the file
    ts_ns: int  # nanoseconds since the Unix epoch
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes
    direction: CaptureDirection | None


@dataclass(frozen=True, slots=True)
class CaptureFormatError:
    offset: int
    reason: str

    def __str__(self) -> str:
        return f"capture file unreadable at byte offset {self.offset}: {self.reason}"


@dataclass
class CaptureContents:
    path: str
    file_format: str = "unknown"
    datagrams: list[CapturedDatagram] = field(default_factory=list)
    error: CaptureFormatError | None = None
    skipped: Counter = field(default_factory=Counter)  # skip reason -> frames
    frames: int = 0


class _Corrupt(Exception):
    """Internal: unwinds the block walk to read_capture, which turns it into a CaptureFormatError."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset, self.reason = offset, reason


def read_capture(path: str) -> CaptureContents:
    """Read a whole capture file (pcap in either byte order, micro or nano; or pcapng)."""
    contents = CaptureContents(path)
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        if len(data) < 4:
            raise _Corrupt(0, f"file is {len(data)} bytes, too short for any capture header")
        magic_le = int.from_bytes(data[:4], "little")
        if magic_le == f.PCAPNG_SHB:
            contents.file_format = "pcapng"
            _read_pcapng(data, contents)
        elif magic_le in (f.PCAP_MAGIC_MICRO, f.PCAP_MAGIC_NANO) or int.from_bytes(data[:4], "big") in (
            f.PCAP_MAGIC_MICRO,
            f.PCAP_MAGIC_NANO,
        ):
            contents.file_format = "pcap"
            _read_pcap(data, contents)
        else:
            raise _Corrupt(0, f"unknown file magic 0x{magic_le:08x} (neither pcap nor pcapng)")
    except _Corrupt as exc:
        contents.error = CaptureFormatError(exc.offset, exc.reason)
    return contents


def _add_frame(
    contents: CaptureContents,
    offset: int,
    ts_ns: int,
    linktype: int,
    frame: bytes,
    direction: CaptureDirection | None,
) -> None:
    contents.frames += 1
    link = strip_link(linktype, frame)
    udp = parse_ipv4_udp(link.network) if isinstance(link, LinkFrame) else link
    if not isinstance(udp, UdpDatagram):
        contents.skipped[udp] += 1
        return
    if direction is None:
        direction = link.direction
    contents.datagrams.append(
        CapturedDatagram(contents.frames, offset, ts_ns, udp.src, udp.dst, udp.payload, direction)
    )


def _read_pcap(data: bytes, contents: CaptureContents) -> None:
    if len(data) < f.PCAP_GLOBAL_HEADER_LEN:
        raise _Corrupt(0, f"truncated pcap global header ({len(data)} of {f.PCAP_GLOBAL_HEADER_LEN} bytes)")
    little = int.from_bytes(data[:4], "little") in (f.PCAP_MAGIC_MICRO, f.PCAP_MAGIC_NANO)
    structs = f.PCAP_LE if little else f.PCAP_BE
    header = structs.global_header.parse(data)
    frac_to_ns = 1 if header.magic == f.PCAP_MAGIC_NANO else 1000
    linktype = header.linktype & 0xFFFF  # upper bits may carry FCS flags
    _check_linktype(linktype, 20)
    offset = f.PCAP_GLOBAL_HEADER_LEN
    while offset < len(data):
        if offset + f.PCAP_RECORD_HEADER_LEN > len(data):
            raise _Corrupt(offset, f"truncated record header ({len(data) - offset} of 16 bytes)")
        rec = structs.record_header.parse(data[offset : offset + f.PCAP_RECORD_HEADER_LEN])
        if rec.captured_len > MAX_FRAME_LEN:
            raise _Corrupt(offset, f"record captured length {rec.captured_len} exceeds {MAX_FRAME_LEN}")
        start = offset + f.PCAP_RECORD_HEADER_LEN
        if start + rec.captured_len > len(data):
            raise _Corrupt(
                offset, f"truncated record: declares {rec.captured_len} bytes, {len(data) - start} remain"
            )
        ts_ns = rec.ts_sec * 1_000_000_000 + rec.ts_frac * frac_to_ns
        _add_frame(contents, offset, ts_ns, linktype, data[start : start + rec.captured_len], None)
        offset = start + rec.captured_len


def _check_linktype(linktype: int, offset: int) -> None:
    if linktype not in SUPPORTED_LINKTYPES:
        names = ", ".join(f"{k} ({v})" for k, v in sorted(SUPPORTED_LINKTYPES.items()))
        raise _Corrupt(offset, f"unsupported link type {linktype}; supported: {names}")


@dataclass
class _Interface:
    linktype: int
    ts_units_per_s: int
    ts_offset_s: int


def _read_pcapng(data: bytes, contents: CaptureContents) -> None:
    offset = 0
    structs = None
    interfaces: list[_Interface] = []
    while offset < len(data):
        if offset + f.PCAPNG_MIN_BLOCK_LEN > len(data):
            raise _Corrupt(offset, f"truncated block header ({len(data) - offset} bytes left)")
        block_type_le = int.from_bytes(data[offset : offset + 4], "little")
        if block_type_le == f.PCAPNG_SHB:
            structs = _section_structs(data, offset)
            interfaces = []  # interface ids are per section
        elif structs is None:
            raise _Corrupt(offset, "pcapng file does not start with a section header block")
        head = structs.block_header.parse(data[offset : offset + 8])
        total = head.total_length
        if total < f.PCAPNG_MIN_BLOCK_LEN or total % 4:
            raise _Corrupt(offset, f"block total length {total} is not a multiple of 4 of at least 12")
        if offset + total > len(data):
            raise _Corrupt(
                offset,
                f"truncated block: type 0x{head.block_type:08x} declares {total} bytes, "
                f"{len(data) - offset} remain",
            )
        trailer = structs.int32.parse(data[offset + total - 4 : offset + total])
        if trailer != total:
            raise _Corrupt(offset, f"block trailing length {trailer} differs from its leading length {total}")
        body = data[offset + 8 : offset + total - 4]
        try:
            _read_block(head.block_type, body, structs, interfaces, contents, offset)
        except ConstructError as exc:
            raise _Corrupt(offset, f"malformed block type 0x{head.block_type:08x}: {exc}") from None
        offset += total


def _section_structs(data: bytes, offset: int):
    magic = data[offset + 8 : offset + 12]
    if len(magic) < 4:
        raise _Corrupt(offset, "truncated section header block")
    if int.from_bytes(magic, "little") == f.PCAPNG_BYTE_ORDER_MAGIC:
        return f.PCAPNG_LE
    if int.from_bytes(magic, "big") == f.PCAPNG_BYTE_ORDER_MAGIC:
        return f.PCAPNG_BE
    raise _Corrupt(offset + 8, f"section header byte-order magic 0x{magic.hex()} is not 1a2b3c4d")


def _read_block(
    block_type: int,
    body: bytes,
    structs,
    interfaces: list[_Interface],
    contents: CaptureContents,
    offset: int,
) -> None:
    if block_type == f.PCAPNG_SHB:
        structs.shb.parse(body)
    elif block_type == f.PCAPNG_IDB:
        interfaces.append(_interface(structs.idb.parse(body), offset, structs.byteorder))
    elif block_type == f.PCAPNG_EPB:
        epb = structs.epb.parse(body)
        iface = _interface_at(interfaces, epb.interface_id, offset)
        ticks = (epb.ts_high << 32) | epb.ts_low
        ts_ns = ticks * 1_000_000_000 // iface.ts_units_per_s + iface.ts_offset_s * 1_000_000_000
        direction = None
        for opt in epb.options:
            if opt.code == f.OPT_EPB_FLAGS and len(opt.value) == 4:
                bits = structs.int32.parse(opt.value) & 0x3
                direction = CaptureDirection(bits) if bits in (1, 2) else None
        _add_frame(contents, offset, ts_ns, iface.linktype, epb.data, direction)
    elif block_type == f.PCAPNG_SPB:
        spb = structs.spb.parse(body)
        iface = _interface_at(interfaces, 0, offset)
        # A simple packet block has no timestamp: it takes its predecessor's.
        ts_ns = contents.datagrams[-1].ts_ns if contents.datagrams else 0
        _add_frame(contents, offset, ts_ns, iface.linktype, spb.data[: spb.original_len], None)
    # Every other block type (name resolution, statistics, custom, ...) is skipped by its length.


def _interface(idb, offset: int, byteorder: str) -> _Interface:
    _check_linktype(idb.linktype, offset)
    units, ts_offset = 1_000_000, 0  # pcapng default resolution is microseconds
    for opt in idb.options:
        if opt.code == f.OPT_IF_TSRESOL and len(opt.value) == 1:
            res = opt.value[0]
            units = 2 ** (res & 0x7F) if res & 0x80 else 10**res
        elif opt.code == f.OPT_IF_TSOFFSET and len(opt.value) == 8:
            ts_offset = int.from_bytes(opt.value, byteorder, signed=True)
    return _Interface(idb.linktype, units, ts_offset)


def _interface_at(interfaces: list[_Interface], interface_id: int, offset: int) -> _Interface:
    if interface_id >= len(interfaces):
        raise _Corrupt(
            offset,
            f"packet refers to interface {interface_id}, but only "
            f"{len(interfaces)} interface description block(s) precede it",
        )
    return interfaces[interface_id]
