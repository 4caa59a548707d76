"""read_capture: pcap and pcapng in every byte order and link layer we claim, and clear errors on bad files.

Files are built byte-exactly from the same construct declarations the reader parses with, the way
`tcpdump -i lo -w` writes them (Ethernet link with zero MAC addresses on Linux loopback).
"""

import socket
import struct
from pathlib import Path

import pytest

from udprouter.capture import CaptureDirection, CaptureWriter
from udprouter.replay import formats as f
from udprouter.replay.reader import read_capture

SRC, DST = ("127.0.0.1", 51000), ("127.0.0.1", 9000)


def ipv4_udp(payload, src=SRC, dst=DST, flags_fragment=0x4000, options=b""):
    udp = f.UDP_HEADER.build(dict(src_port=src[1], dst_port=dst[1], length=8 + len(payload), checksum=0))
    ihl = 5 + len(options) // 4
    ip = f.IPV4_HEADER.build(
        dict(
            version_ihl=0x40 | ihl,
            tos=0,
            total_length=ihl * 4 + len(udp) + len(payload),
            identification=7,
            flags_fragment=flags_fragment,
            ttl=64,
            protocol=17,
            checksum=0,
            src=int.from_bytes(socket.inet_aton(src[0]), "big"),
            dst=int.from_bytes(socket.inet_aton(dst[0]), "big"),
            options=options,
        )
    )
    return ip + udp + payload


def ethernet(ip):
    return f.ETHERNET_HEADER.build(dict(dst=bytes(6), src=bytes(6), ethertype=f.ETHERTYPE_IPV4)) + ip


def pcap_file(frames, linktype, little=True, nano=False):
    structs = f.PCAP_LE if little else f.PCAP_BE
    magic = f.PCAP_MAGIC_NANO if nano else f.PCAP_MAGIC_MICRO
    out = structs.global_header.build(
        dict(
            magic=magic,
            version_major=2,
            version_minor=4,
            thiszone=0,
            sigfigs=0,
            snaplen=262144,
            linktype=linktype,
        )
    )
    for ts_sec, ts_frac, frame in frames:
        out += structs.record_header.build(
            dict(ts_sec=ts_sec, ts_frac=ts_frac, captured_len=len(frame), original_len=len(frame))
        )
        out += frame
    return out


def pcapng_block(structs, block_type, body):
    total = 12 + len(body)
    return (
        structs.block_header.build(dict(block_type=block_type, total_length=total))
        + body
        + structs.int32.build(total)
    )


def pcapng_options(structs, options):
    return b"".join(structs.option.build(dict(code=c, length=len(v), value=v)) for c, v in options) + bytes(4)


def pcapng_file(frames, linktype, little=True, tsresol=None, extra_blocks=b""):
    s = f.PCAPNG_LE if little else f.PCAPNG_BE
    out = pcapng_block(
        s, f.PCAPNG_SHB, s.shb.build(dict(version_major=1, version_minor=0, section_length=-1, options=[]))
    )
    idb_opts = pcapng_options(s, [(f.OPT_IF_TSRESOL, bytes([tsresol]))]) if tsresol is not None else b""
    out += pcapng_block(
        s, f.PCAPNG_IDB, s.idb.build(dict(linktype=linktype, reserved=0, snaplen=0, options=[])) + idb_opts
    )
    out += extra_blocks
    for ticks, frame, flags in frames:
        body = s.epb.build(
            dict(
                interface_id=0,
                ts_high=ticks >> 32,
                ts_low=ticks & 0xFFFFFFFF,
                captured_len=len(frame),
                original_len=len(frame),
                data=frame,
                options=[],
            )
        )
        opts = [(f.OPT_EPB_FLAGS, s.int32.build(flags))] if flags is not None else []
        out += pcapng_block(s, f.PCAPNG_EPB, body + (pcapng_options(s, opts) if opts else b""))
    return out


def read_bytes(tmp_path, data):
    path = tmp_path / "capture"
    path.write_bytes(data)
    return read_capture(str(path))


def test_tcpdump_lo_pcap_with_ethernet_link_is_read(tmp_path):
    data = pcap_file(
        [(1700000000, 5, ethernet(ipv4_udp(b"abc"))), (1700000001, 0, ethernet(ipv4_udp(b"d")))], 1
    )
    contents = read_bytes(tmp_path, data)
    assert contents.error is None and contents.file_format == "pcap"
    assert [(d.ts_ns, d.src, d.dst, d.payload) for d in contents.datagrams] == [
        (1_700_000_000_000_005_000, SRC, DST, b"abc"),
        (1_700_000_001_000_000_000, SRC, DST, b"d"),
    ]


@pytest.mark.parametrize("little", [True, False])
@pytest.mark.parametrize("nano", [True, False])
def test_pcap_in_both_byte_orders_and_resolutions_gives_nanoseconds(tmp_path, little, nano):
    data = pcap_file([(10, 123, ipv4_udp(b"xyz"))], f.LINKTYPE_RAW, little=little, nano=nano)
    (datagram,) = read_bytes(tmp_path, data).datagrams
    assert datagram.ts_ns == 10_000_000_000 + 123 * (1 if nano else 1000)
    assert datagram.payload == b"xyz"


def test_linux_cooked_v1_gives_direction_from_packet_type(tmp_path):
    def sll(packet_type, ip):
        return (
            f.SLL_HEADER.build(
                dict(
                    packet_type=packet_type,
                    arphrd_type=772,
                    address_length=6,
                    address=bytes(8),
                    protocol=f.ETHERTYPE_IPV4,
                )
            )
            + ip
        )

    data = pcap_file(
        [(1, 0, sll(f.SLL_HOST, ipv4_udp(b"in"))), (2, 0, sll(f.SLL_OUTGOING, ipv4_udp(b"out")))],
        f.LINKTYPE_LINUX_SLL,
    )
    contents = read_bytes(tmp_path, data)
    assert [(d.payload, d.direction) for d in contents.datagrams] == [
        (b"in", CaptureDirection.INBOUND),
        (b"out", CaptureDirection.OUTBOUND),
    ]


def test_linux_cooked_v2_is_read(tmp_path):
    frame = f.SLL2_HEADER.build(
        dict(
            protocol=f.ETHERTYPE_IPV4,
            reserved=0,
            interface_index=1,
            arphrd_type=772,
            packet_type=f.SLL_HOST,
            address_length=6,
            address=bytes(8),
        )
    )
    data = pcapng_file([(5, frame + ipv4_udp(b"v2"), None)], f.LINKTYPE_LINUX_SLL2)
    (datagram,) = read_bytes(tmp_path, data).datagrams
    assert (datagram.payload, datagram.ts_ns, datagram.direction) == (b"v2", 5000, CaptureDirection.INBOUND)


@pytest.mark.parametrize("family", [struct.pack("<I", 2), struct.pack(">I", 2)])
def test_loopback_null_link_in_either_host_byte_order(tmp_path, family):
    data = pcap_file([(1, 0, family + ipv4_udp(b"null"))], f.LINKTYPE_NULL)
    assert [d.payload for d in read_bytes(tmp_path, data).datagrams] == [b"null"]


def test_vlan_tagged_ethernet_and_ip_options_are_handled(tmp_path):
    tagged = (
        f.ETHERNET_HEADER.build(dict(dst=bytes(6), src=bytes(6), ethertype=f.ETHERTYPE_VLAN))
        + f.VLAN_TAG.build(dict(tci=5, ethertype=f.ETHERTYPE_IPV4))
        + ipv4_udp(b"tag", options=bytes(8))
    )
    data = pcap_file([(1, 0, tagged)], f.LINKTYPE_ETHERNET)
    assert [d.payload for d in read_bytes(tmp_path, data).datagrams] == [b"tag"]


def test_big_endian_pcapng_with_power_of_two_resolution(tmp_path):
    data = pcapng_file([(3 * 1024, ipv4_udp(b"be"), 1)], f.LINKTYPE_IPV4, little=False, tsresol=0x80 | 10)
    (datagram,) = read_bytes(tmp_path, data).datagrams
    assert (datagram.payload, datagram.ts_ns, datagram.direction) == (
        b"be",
        3_000_000_000,
        CaptureDirection.INBOUND,
    )


def test_unknown_blocks_are_skipped_and_simple_packet_blocks_read(tmp_path):
    s = f.PCAPNG_LE
    unknown = pcapng_block(s, 0x00000BAD, bytes(12))
    spb_frame = ipv4_udp(b"spb")
    spb = pcapng_block(
        s, f.PCAPNG_SPB, s.int32.build(len(spb_frame)) + spb_frame + bytes((-len(spb_frame)) % 4)
    )
    data = pcapng_file([(9, ipv4_udp(b"epb"), None)], f.LINKTYPE_IPV4, tsresol=9, extra_blocks=unknown) + spb
    contents = read_bytes(tmp_path, data)
    assert contents.error is None
    assert [(d.payload, d.ts_ns) for d in contents.datagrams] == [(b"epb", 9), (b"spb", 9)]


def test_fragments_and_non_udp_frames_are_skipped_with_their_reason(tmp_path):
    tcp = bytearray(ipv4_udp(b"t"))
    tcp[9] = 6
    data = pcap_file(
        [(1, 0, ipv4_udp(b"frag", flags_fragment=0x2000)), (2, 0, bytes(tcp)), (3, 0, ipv4_udp(b"ok"))],
        f.LINKTYPE_RAW,
    )
    contents = read_bytes(tmp_path, data)
    assert [d.payload for d in contents.datagrams] == [b"ok"]
    assert contents.datagrams[0].index == 3
    assert contents.skipped["not UDP"] == 1
    assert sum(n for reason, n in contents.skipped.items() if "fragment refused" in reason) == 1


def test_truncated_pcap_keeps_earlier_packets_and_names_the_offset(tmp_path):
    data = pcap_file([(1, 0, ipv4_udp(b"first")), (2, 0, ipv4_udp(b"second"))], f.LINKTYPE_RAW)
    second_record = 24 + 16 + len(ipv4_udp(b"first"))
    contents = read_bytes(tmp_path, data[:-3])
    assert [d.payload for d in contents.datagrams] == [b"first"]
    assert contents.error.offset == second_record
    assert "truncated record" in contents.error.reason
    assert f"byte offset {second_record}" in str(contents.error)


def test_pcapng_with_mismatched_trailing_length_stops_there(tmp_path):
    data = bytearray(pcapng_file([(1, ipv4_udp(b"a"), None), (2, ipv4_udp(b"b"), None)], f.LINKTYPE_IPV4))
    second_epb = len(data) - (12 + 20 + len(ipv4_udp(b"b")) + 3)
    data[-4:] = struct.pack("<I", 999)
    contents = read_bytes(tmp_path, bytes(data))
    assert [d.payload for d in contents.datagrams] == [b"a"]
    assert contents.error.offset == second_epb
    assert "trailing length 999" in contents.error.reason


def test_truncated_pcapng_written_by_capture_writer_names_the_cut_block(tmp_path):
    path = tmp_path / "cut.pcapng"
    with CaptureWriter(str(path)) as writer:
        for i in range(3):
            writer.record(CaptureDirection.INBOUND, SRC, DST, b"p%d" % i, i)
    data = path.read_bytes()
    contents = read_bytes(tmp_path, data[:-10])
    assert [d.payload for d in contents.datagrams] == [b"p0", b"p1"]
    assert "truncated block" in contents.error.reason
    assert contents.error.offset == data.rindex(struct.pack("<I", 6), 0, len(data) - 40)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"\x00\x01", "too short"),
        (b"GIF89a" + bytes(30), "unknown file magic"),
        (pcap_file([], 147), "unsupported link type 147"),
    ],
)
def test_unreadable_headers_are_named(tmp_path, data, reason):
    contents = read_bytes(tmp_path, data)
    assert contents.datagrams == []
    assert reason in contents.error.reason


def test_pcapng_with_corrupt_byte_order_magic_is_refused_at_its_offset(tmp_path):
    data = bytearray(pcapng_file([(1, ipv4_udp(b"a"), None)], f.LINKTYPE_IPV4))
    data[8:12] = b"\xde\xad\xbe\xef"
    contents = read_bytes(tmp_path, bytes(data))
    assert contents.datagrams == [] and contents.error.offset == 8


@pytest.mark.parametrize("name, linktype", [("demo_tcpdump_lo.pcap", 1), ("demo_tcpdump_any.pcap", 276)])
def test_files_written_by_tcpdump_are_read_whole(name, linktype):
    path = Path(__file__).resolve().parents[3] / "src/udprouter/replay/samples" / name
    data = path.read_bytes()
    assert int.from_bytes(data[20:24], "little") == linktype
    contents = read_capture(str(path))
    assert contents.error is None and not contents.skipped
    assert len(contents.datagrams) == 30
    assert all(d.src[0] == d.dst[0] == "127.0.0.1" for d in contents.datagrams)
    assert [d.ts_ns for d in contents.datagrams] == sorted(d.ts_ns for d in contents.datagrams)
