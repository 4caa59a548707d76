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
from typing import BinaryIO

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


# EPB fixed part: type, total length, interface id, ts high, ts low, captured len, original len.
_EPB_HEAD = struct.Struct("<IIIIIII")
# IPv4 header (network order) + UDP header (network order).
_IP_UDP = struct.Struct("!BBHHHBBH4s4sHHHH")
# epb_flags option, end of options, trailing block total length.
_EPB_TAIL = struct.Struct("<HHIHHI")


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


def _fold_checksum(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class CaptureWriter:
    """Appends datagrams to a pcapng file; not thread-safe (one event loop owns it)."""

    def __init__(self, path: str, *, flush_threshold: int = FLUSH_THRESHOLD_BYTES) -> None:
        self._file: BinaryIO | None = open(path, "wb")  # noqa: SIM115 - lives until close()
        self._buffer = bytearray(file_header())
        self._flush_threshold = flush_threshold
        self._ident = 0
        # Packed address and the constant part of the IPv4 header checksum, per address pair.
        self._pair_cache: dict[tuple, tuple[bytes, bytes, int]] = {}
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
        key = (src_addr, dst_addr)
        cached = self._pair_cache.get(key)
        if cached is None:
            cached = self._cache_pair(src_addr, dst_addr)
        src_ip, dst_ip, partial_sum = cached
        payload_len = len(payload)
        ip_len = IPV4_HEADER_LEN + UDP_HEADER_LEN + payload_len
        ident = self._ident = (self._ident + 1) & 0xFFFF
        checksum = _fold_checksum(partial_sum + ip_len + ident)
        pad = (-ip_len) % 4
        block_len = _EPB_HEAD.size + ip_len + pad + _EPB_TAIL.size
        buf = self._buffer
        buf += _EPB_HEAD.pack(EPB_TYPE, block_len, 0, ts_ns >> 32, ts_ns & 0xFFFFFFFF, ip_len, ip_len)
        buf += _IP_UDP.pack(
            0x45,
            0,
            ip_len,
            ident,
            0x4000,
            _IP_TTL,
            IP_PROTO_UDP,
            checksum,
            src_ip,
            dst_ip,
            src_addr[1],
            dst_addr[1],
            UDP_HEADER_LEN + payload_len,
            0,
        )
        buf += payload
        if pad:
            buf += b"\x00" * pad
        buf += _EPB_TAIL.pack(OPT_EPB_FLAGS, 4, int(direction), OPT_ENDOFOPT, 0, block_len)
        self.datagrams += 1
        if len(buf) >= self._flush_threshold:
            self.flush()

    def _cache_pair(self, src_addr: tuple[str, int], dst_addr: tuple[str, int]) -> tuple[bytes, bytes, int]:
        src_ip = socket.inet_aton(src_addr[0])
        dst_ip = socket.inet_aton(dst_addr[0])
        # Checksum words that do not change between datagrams of this pair (length and id do).
        words = struct.unpack(
            "!7H", struct.pack("!BBHBB4s4s", 0x45, 0, 0x4000, _IP_TTL, IP_PROTO_UDP, src_ip, dst_ip)
        )
        cached = (src_ip, dst_ip, sum(words))
        if len(self._pair_cache) < 4096:
            self._pair_cache[(src_addr, dst_addr)] = cached
        return cached

    def flush(self) -> None:
        """Write what is buffered with one write() call; cheap when nothing is buffered."""
        if self._buffer and self._file is not None:
            self._file.write(self._buffer)
            self._file.flush()
            self._buffer.clear()

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
