"""CaptureWriter: every datagram the router sees, written as pcapng that tcpdump, Wireshark and tshark read.

One Section Header Block, one Interface Description Block (LINKTYPE_IPV4, if_tsresol=9 so timestamps
keep their nanoseconds), then one Enhanced Packet Block per datagram with the direction in its
epb_flags option. The router hands us UDP payloads, not packets, so the IPv4 and UDP headers are
synthesised from the socket addresses (UDP checksum 0 means "not computed", which IPv4 allows).

record() only appends to an in-memory buffer; flush() (called once per event-loop pass by the
server, and by close()) does the one write() system call, so leaving capture on costs a struct
pack per datagram rather than a syscall.
"""

from __future__ import annotations

import enum
import socket
import struct
import time
from typing import BinaryIO, NamedTuple

# pcapng block types and option codes (draft-ietf-opsawg-pcapng).
SHB_TYPE = 0x0A0D0D0A
IDB_TYPE = 0x00000001
EPB_TYPE = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_ENDOFOPT = 0
OPT_SHB_USERAPPL = 4
OPT_IF_NAME = 2
OPT_IF_TSRESOL = 9
OPT_EPB_FLAGS = 2
LINKTYPE_IPV4 = 228
SNAPLEN = 65535

IPV4_HEADER_LEN = 20
UDP_HEADER_LEN = 8
IP_PROTO_UDP = 17
_IP_TTL = 64

# Flush on our own once this much is buffered, so a server that never calls flush() stays bounded.
FLUSH_THRESHOLD_BYTES = 1 << 20


class CaptureDirection(enum.IntEnum):
    """The epb_flags direction bits (pcapng: 01 inbound, 10 outbound), seen from the router."""

    INBOUND = 1
    OUTBOUND = 2


_IP_FLAGS_DF = 0x4000
_IP_UDP_LEN = IPV4_HEADER_LEN + UDP_HEADER_LEN
_EPB_FIXED_LEN = 28 + 16  # head (type .. original length) + epb_flags + opt_endofopt + trailing length
_MAX_LAYOUTS = 4096


class _Layout(NamedTuple):
    """Everything of an EPB but its timestamp and payload, for one (direction, addresses, length)."""

    block: struct.Struct  # head, ts high, ts low, lengths + IPv4 + UDP headers, payload, tail
    head: bytes  # block type, total length, interface id
    headers: bytes  # captured and original length, IPv4 header, UDP header
    tail: bytes  # padding, epb_flags option, opt_endofopt, trailing total length


def _ipv4_udp_headers(src_addr: tuple[str, int], dst_addr: tuple[str, int], payload_len: int) -> bytes:
    ip_len = _IP_UDP_LEN + payload_len
    # Identification 0 is fine for an atomic datagram (DF set, RFC 6864), and keeps the header constant.
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        ip_len,
        0,
        _IP_FLAGS_DF,
        _IP_TTL,
        IP_PROTO_UDP,
        0,
        socket.inet_aton(src_addr[0]),
        socket.inet_aton(dst_addr[0]),
    )
    total = sum(struct.unpack("!10H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    header = header[:10] + struct.pack("!H", ~total & 0xFFFF) + header[12:]
    return header + struct.pack("!HHHH", src_addr[1], dst_addr[1], UDP_HEADER_LEN + payload_len, 0)


def _layout(
    direction: int, src_addr: tuple[str, int], dst_addr: tuple[str, int], payload_len: int
) -> _Layout:
    ip_len = _IP_UDP_LEN + payload_len
    pad = (-ip_len) % 4
    block_len = _EPB_FIXED_LEN + ip_len + pad
    head = struct.pack("<III", EPB_TYPE, block_len, 0)
    headers = struct.pack("<II", ip_len, ip_len) + _ipv4_udp_headers(src_addr, dst_addr, payload_len)
    tail = b"\x00" * pad + struct.pack("<HHIHHI", OPT_EPB_FLAGS, 4, direction, OPT_ENDOFOPT, 0, block_len)
    block = struct.Struct(f"<12sII{len(headers)}s{payload_len}s{len(tail)}s")
    return _Layout(block, head, headers, tail)


def _option(code: int, value: bytes) -> bytes:
    pad = (-len(value)) % 4
    return struct.pack("<HH", code, len(value)) + value + b"\x00" * pad


def _block(block_type: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


def file_header(interface_name: str = "udprouter") -> bytes:
    """The SHB and the single IDB that start every capture file the writer produces."""
    shb_body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1)
    shb_body += _option(OPT_SHB_USERAPPL, b"udprouter") + _option(OPT_ENDOFOPT, b"")
    idb_body = struct.pack("<HHI", LINKTYPE_IPV4, 0, SNAPLEN)
    idb_body += _option(OPT_IF_NAME, interface_name.encode()) + _option(OPT_IF_TSRESOL, bytes([9]))
    idb_body += _option(OPT_ENDOFOPT, b"")
    return _block(SHB_TYPE, shb_body) + _block(IDB_TYPE, idb_body)


class CaptureWriter:
    """Appends datagrams to a pcapng file; not thread-safe (one event loop owns it)."""

    def __init__(self, path: str, *, flush_threshold: int = FLUSH_THRESHOLD_BYTES) -> None:
        self._file: BinaryIO | None = open(path, "wb")  # noqa: SIM115 - lives until close()
        self._chunks: list[bytes] = [file_header()]
        self._pending = 0
        self._flush_threshold = flush_threshold
        self._layouts: dict[tuple, _Layout] = {}
        self.datagrams = 0
        self.flush()

    def record(
        self,
        direction: CaptureDirection,
        src_addr: tuple[str, int],
        dst_addr: tuple[str, int],
        payload: bytes,
        ts_ns: int | None = None,
    ) -> None:
        """Buffer one UDP datagram as an EPB; ts_ns defaults to the wall clock (Unix epoch ns)."""
        if ts_ns is None:
            ts_ns = time.time_ns()
        key = (direction, src_addr, dst_addr, len(payload))
        layout = self._layouts.get(key)
        if layout is None:
            layout = _layout(int(direction), src_addr, dst_addr, len(payload))
            if len(self._layouts) < _MAX_LAYOUTS:
                self._layouts[key] = layout
        block = layout.block
        self._chunks.append(
            block.pack(layout.head, ts_ns >> 32, ts_ns & 0xFFFFFFFF, layout.headers, payload, layout.tail)
        )
        self._pending += block.size
        self.datagrams += 1
        if self._pending >= self._flush_threshold:
            self.flush()

    def flush(self) -> None:
        """Write what is buffered with one write() call; cheap when nothing is buffered."""
        if self._chunks and self._file is not None:
            self._file.write(b"".join(self._chunks))
            self._file.flush()
            self._chunks.clear()
            self._pending = 0

    def close(self) -> None:
        """Flush and close; further record() calls are a programming error."""
        if self._file is not None:
            self.flush()
            self._file.close()
            self._file = None

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
