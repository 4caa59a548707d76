"""Capture file formats, declared with construct: pcap, pcapng blocks, link layers, IPv4 and UDP.

These declarations are the reader's single description of every byte it accepts (and the tests
build byte-exact files from the same declarations). construct is slow, which is fine here: replay
parses a file once, before it sends anything.
"""

from __future__ import annotations

import types

from construct import (
    Bytes,
    BytesInteger,
    Const,
    GreedyBytes,
    GreedyRange,
    Int8ub,
    Int16ub,
    Int16ul,
    Int32sb,
    Int32sl,
    Int32ub,
    Int32ul,
    Int64sb,
    Int64sl,
    Padding,
    Struct,
    this,
)

# --- pcap (libpcap) -------------------------------------------------------------------------------
PCAP_MAGIC_MICRO = 0xA1B2C3D4
PCAP_MAGIC_NANO = 0xA1B23C4D
PCAP_GLOBAL_HEADER_LEN = 24
PCAP_RECORD_HEADER_LEN = 16


def _pcap_structs(int16, int32, sint32) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        global_header=Struct(
            "magic" / int32,
            "version_major" / int16,
            "version_minor" / int16,
            "thiszone" / sint32,
            "sigfigs" / int32,
            "snaplen" / int32,
            "linktype" / int32,
        ),
        record_header=Struct(
            "ts_sec" / int32,
            "ts_frac" / int32,
            "captured_len" / int32,
            "original_len" / int32,
        ),
    )


PCAP_LE = _pcap_structs(Int16ul, Int32ul, Int32sl)
PCAP_BE = _pcap_structs(Int16ub, Int32ub, Int32sb)

# --- pcapng ---------------------------------------------------------------------------------------
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_IDB = 0x00000001
PCAPNG_SPB = 0x00000003
PCAPNG_EPB = 0x00000006
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
PCAPNG_BLOCK_HEADER_LEN = 8
PCAPNG_MIN_BLOCK_LEN = 12
OPT_ENDOFOPT = 0
OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14
OPT_EPB_FLAGS = 2


def _pcapng_structs(int16, int32, sint64, byteorder: str) -> types.SimpleNamespace:
    option = Struct(
        "code" / int16,
        "length" / int16,
        "value" / Bytes(this.length),
        Padding((-this.length) % 4),
    )
    options = GreedyRange(option)
    return types.SimpleNamespace(
        block_header=Struct("block_type" / int32, "total_length" / int32),
        block_trailer=Struct("total_length" / int32),
        option=option,
        # Block bodies: the bytes between the 8-byte header and the 4-byte trailing length.
        shb=Struct(
            "byte_order_magic" / Const(PCAPNG_BYTE_ORDER_MAGIC, int32),
            "version_major" / int16,
            "version_minor" / int16,
            "section_length" / sint64,
            "options" / options,
        ),
        idb=Struct(
            "linktype" / int16,
            "reserved" / int16,
            "snaplen" / int32,
            "options" / options,
        ),
        epb=Struct(
            "interface_id" / int32,
            "ts_high" / int32,
            "ts_low" / int32,
            "captured_len" / int32,
            "original_len" / int32,
            "data" / Bytes(this.captured_len),
            Padding((-this.captured_len) % 4),
            "options" / options,
        ),
        spb=Struct("original_len" / int32, "data" / GreedyBytes),
        int32=int32,
        byteorder=byteorder,
    )


PCAPNG_LE = _pcapng_structs(Int16ul, Int32ul, Int64sl, "little")
PCAPNG_BE = _pcapng_structs(Int16ub, Int32ub, Int64sb, "big")

# --- link layers (LINKTYPE_* values from tcpdump.org) ---------------------------------------------
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_LINUX_SLL2 = 276
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_VLAN = 0x8100
AF_INET = 2

SLL_HOST = 0
SLL_OUTGOING = 4

NULL_HEADER = Struct("family" / Bytes(4))
ETHERNET_HEADER = Struct("dst" / Bytes(6), "src" / Bytes(6), "ethertype" / Int16ub)
VLAN_TAG = Struct("tci" / Int16ub, "ethertype" / Int16ub)
SLL_HEADER = Struct(
    "packet_type" / Int16ub,
    "arphrd_type" / Int16ub,
    "address_length" / Int16ub,
    "address" / Bytes(8),
    "protocol" / Int16ub,
)
SLL2_HEADER = Struct(
    "protocol" / Int16ub,
    "reserved" / Int16ub,
    "interface_index" / Int32ub,
    "arphrd_type" / Int16ub,
    "packet_type" / Int8ub,
    "address_length" / Int8ub,
    "address" / Bytes(8),
)

# --- IPv4 / UDP -----------------------------------------------------------------------------------
IP_PROTO_UDP = 17
IPV4_MIN_HEADER_LEN = 20
UDP_HEADER_LEN = 8
IPV4_FLAG_MORE_FRAGMENTS = 0x2000
IPV4_FRAGMENT_OFFSET_MASK = 0x1FFF

IPV4_HEADER = Struct(
    "version_ihl" / Int8ub,
    "tos" / Int8ub,
    "total_length" / Int16ub,
    "identification" / Int16ub,
    "flags_fragment" / Int16ub,
    "ttl" / Int8ub,
    "protocol" / Int8ub,
    "checksum" / Int16ub,
    "src" / BytesInteger(4),
    "dst" / BytesInteger(4),
    "options" / Bytes((this.version_ihl & 0x0F) * 4 - IPV4_MIN_HEADER_LEN),
)
UDP_HEADER = Struct(
    "src_port" / Int16ub,
    "dst_port" / Int16ub,
    "length" / Int16ub,
    "checksum" / Int16ub,
)
