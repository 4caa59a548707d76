"""One captured frame -> one UDP datagram: link layer, IPv4 and UDP, per the declarations in formats.py.

A frame that is not a whole IPv4/UDP datagram is not an error in the file: it is skipped and the
reason returned (and counted by the reader), so a capture of a busy interface still replays.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from construct import ConstructError

from udprouter.capture import CaptureDirection
from udprouter.replay import formats as f


@dataclass(frozen=True, slots=True)
class UdpDatagram:
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes


@dataclass(frozen=True, slots=True)
class LinkFrame:
    """The network-layer bytes of a frame and the direction its link header states (if any)."""

    network: bytes
    direction: CaptureDirection | None


SUPPORTED_LINKTYPES = {
    f.LINKTYPE_NULL: "loopback null",
    f.LINKTYPE_ETHERNET: "Ethernet",
    f.LINKTYPE_RAW: "raw IP",
    f.LINKTYPE_LINUX_SLL: "Linux cooked v1",
    f.LINKTYPE_IPV4: "raw IPv4",
    f.LINKTYPE_LINUX_SLL2: "Linux cooked v2",
}

_SLL_DIRECTION = {f.SLL_HOST: CaptureDirection.INBOUND, f.SLL_OUTGOING: CaptureDirection.OUTBOUND}


def strip_link(linktype: int, frame: bytes) -> LinkFrame | str:
    """The IPv4 bytes inside a link-layer frame, or why there are none (a skip reason)."""
    try:
        if linktype in (f.LINKTYPE_IPV4, f.LINKTYPE_RAW):
            return LinkFrame(frame, None)
        if linktype == f.LINKTYPE_NULL:
            family = f.NULL_HEADER.parse(frame).family
            # The family is in the capturing host's byte order, which the file does not record.
            if struct.unpack("<I", family)[0] != f.AF_INET and struct.unpack(">I", family)[0] != f.AF_INET:
                return "not IPv4"
            return LinkFrame(frame[f.NULL_HEADER.sizeof() :], None)
        if linktype == f.LINKTYPE_ETHERNET:
            return _strip_ethernet(frame)
        if linktype == f.LINKTYPE_LINUX_SLL:
            sll = f.SLL_HEADER.parse(frame)
            return _cooked(sll.protocol, sll.packet_type, frame[f.SLL_HEADER.sizeof() :])
        if linktype == f.LINKTYPE_LINUX_SLL2:
            sll2 = f.SLL2_HEADER.parse(frame)
            return _cooked(sll2.protocol, sll2.packet_type, frame[f.SLL2_HEADER.sizeof() :])
    except ConstructError:
        return "link-layer header truncated"
    return f"unsupported link type {linktype}"


def _strip_ethernet(frame: bytes) -> LinkFrame | str:
    eth = f.ETHERNET_HEADER.parse(frame)
    rest = frame[f.ETHERNET_HEADER.sizeof() :]
    ethertype = eth.ethertype
    if ethertype == f.ETHERTYPE_VLAN:
        tag = f.VLAN_TAG.parse(rest)
        ethertype, rest = tag.ethertype, rest[f.VLAN_TAG.sizeof() :]
    if ethertype != f.ETHERTYPE_IPV4:
        return "not IPv4"
    return LinkFrame(rest, None)


def _cooked(protocol: int, packet_type: int, rest: bytes) -> LinkFrame | str:
    if protocol != f.ETHERTYPE_IPV4:
        return "not IPv4"
    return LinkFrame(rest, _SLL_DIRECTION.get(packet_type))


def parse_ipv4_udp(network: bytes) -> UdpDatagram | str:
    """The UDP datagram inside IPv4 bytes, or why there is none (a skip reason)."""
    if len(network) < f.IPV4_MIN_HEADER_LEN:
        return "IPv4 header truncated"
    version, ihl = network[0] >> 4, network[0] & 0x0F
    if version != 4:
        return "not IPv4"
    if ihl < 5:
        return "IPv4 header length below 20 bytes"
    try:
        ip = f.IPV4_HEADER.parse(network)
    except ConstructError:
        return "IPv4 header truncated"
    if ip.protocol != f.IP_PROTO_UDP:
        return "not UDP"
    if ip.flags_fragment & (f.IPV4_FLAG_MORE_FRAGMENTS | f.IPV4_FRAGMENT_OFFSET_MASK):
        return "IPv4 fragment refused (udprouter datagrams never exceed 1472 bytes; reassemble first)"
    header_len = ihl * 4
    segment = network[header_len : ip.total_length]
    try:
        udp = f.UDP_HEADER.parse(segment)
    except ConstructError:
        return "UDP header truncated"
    payload_len = udp.length - f.UDP_HEADER_LEN
    if payload_len < 0 or f.UDP_HEADER_LEN + payload_len > len(segment):
        return "UDP payload truncated (captured length shorter than the datagram)"
    payload = bytes(segment[f.UDP_HEADER_LEN : f.UDP_HEADER_LEN + payload_len])
    src = (socket.inet_ntoa(ip.src.to_bytes(4, "big")), udp.src_port)
    dst = (socket.inet_ntoa(ip.dst.to_bytes(4, "big")), udp.dst_port)
    return UdpDatagram(src, dst, payload)
