"""udprouter.ring: segment lifecycle, ABI offsets, back pressure, wrap-around, wake-ups, two processes."""

import os
import struct
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
from udprouter._ring_cffi import ffi, lib

from udprouter import ring_records
from udprouter.ring import (
    COMMAND_LAYOUT,
    ENGINE_ABSENT,
    EVENT_LAYOUT,
    NO_ROUTER_LOG,
    RingAttachError,
    RingError,
    RingSegment,
)

COMMAND_FORMAT = "<QQQqQIIIiBBBBI"  # udr_command as documented in ring_abi.h
RECORDS_OFFSET = 256 + 2 * 192


def _unique_name() -> str:
    return f"udr-test-{os.getpid()}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def segment():
    seg = RingSegment.create(_unique_name(), 8, 8)
    try:
        yield seg
    finally:
        seg.unlink()
        seg.close()


def _fill(cmds, start_seq: int, n: int) -> None:
    for i in range(n):
        c = cmds[i]
        c.command_seq = start_seq + i
        c.cl_ord_id = 1000 + start_seq + i
        c.kind = lib.UDR_CMD_NEW_ORDER


def test_create_then_attach_sees_the_same_header_and_records(segment):
    cmds = segment.new_commands(3)
    _fill(cmds, 1, 3)
    assert segment.offer_commands(cmds, 3) == 3
    other = RingSegment.attach(segment.name)
    try:
        assert other.inbound_capacity == 8 and other.outbound_capacity == 8
        assert other.engine_state == ENGINE_ABSENT
        assert other.inbound_occupancy == 3
        out = other.new_commands(8)
        assert other.poll_commands(out, 8) == 3
        assert [out[i].command_seq for i in range(3)] == [1, 2, 3]
        assert [out[i].cl_ord_id for i in range(3)] == [1001, 1002, 1003]
    finally:
        other.close()
    assert segment.inbound_occupancy == 0


def test_command_written_from_python_sits_at_the_abi_offsets(segment):
    cmds = segment.new_commands(1)
    c = cmds[0]
    values = (7, 0x1122334455667788, 42, -123_450_000_000, 987654321, 3, 9, 500, -5, 1, 2, 2, 3, 0)
    names = ("command_seq", "cl_ord_id", "orig_cl_ord_id", "price", "recv_time_ns", "session_id",
             "account", "order_qty", "security_id", "kind", "side", "ord_type", "time_in_force", "reserved")
    for name, value in zip(names, values, strict=True):
        setattr(c, name, value)
    assert segment.offer_commands(cmds, 1) == 1
    raw = bytes(segment.raw_buffer()[RECORDS_OFFSET:RECORDS_OFFSET + 64])
    assert raw == struct.pack(COMMAND_FORMAT, *values)
    header = bytes(segment.raw_buffer()[0:24])
    assert struct.unpack("<QIIII", header[:24]) == (lib.UDR_SEGMENT_MAGIC, 2, 64, 8, 8)


def test_router_logged_position_sits_at_header_offset_72_and_starts_as_no_log(segment):
    assert segment.router_logged_through == NO_ROUTER_LOG
    assert struct.unpack("<Q", bytes(segment.raw_buffer()[72:80]))[0] == 2**64 - 1
    segment.router_logged_through = 0x0102030405060708
    assert bytes(segment.raw_buffer()[72:80]) == struct.pack("<Q", 0x0102030405060708)
    assert bytes(segment.raw_buffer()[80:256]) == bytes(176)  # journal latency and spin counters


def test_journal_latency_counters_sit_at_header_offsets_80_and_152():
    assert ffi.offsetof("udr_segment_header", "journal_append_buckets") == 80
    assert ffi.offsetof("udr_segment_header", "journal_append_sum_ns") == 144
    assert ffi.offsetof("udr_segment_header", "journal_fsync_buckets") == 152
    assert ffi.offsetof("udr_segment_header", "journal_fsync_sum_ns") == 216
    assert ffi.offsetof("udr_segment_header", "low_rate_spin_ns") == 224
    assert ffi.offsetof("udr_segment_header", "short_spins_caught") == 232
    assert ffi.offsetof("udr_segment_header", "short_spins_missed") == 240
    assert ffi.offsetof("udr_segment_header", "short_spins_skipped") == 248


def test_full_ring_accepts_what_fits_and_counts_the_refusal(segment):
    cmds = segment.new_commands(12)
    _fill(cmds, 1, 12)
    assert segment.offer_commands(cmds, 12) == 8
    assert segment.inbound_full_events == 1
    assert segment.offer_commands(cmds, 1) == 0
    assert segment.inbound_full_events == 2
    assert segment.inbound_occupancy == 8
    out = segment.new_commands(3)
    assert segment.poll_commands(out, 3) == 3
    assert segment.offer_commands(ffi.addressof(cmds, 8), 4) == 3
    assert segment.inbound_full_events == 3


def test_records_survive_wrap_around_over_many_batches(segment):
    cmds = segment.new_commands(5)
    out = segment.new_commands(8)
    next_seq, expected = 1, 1
    for _ in range(400):
        _fill(cmds, next_seq, 5)
        next_seq += segment.offer_commands(cmds, 5)
        got = segment.poll_commands(out, 3)
        for i in range(got):
            assert out[i].command_seq == expected
            assert out[i].cl_ord_id == 1000 + expected
            expected += 1
    assert next_seq > 1000
    while (got := segment.poll_commands(out, 8)) > 0:
        expected += got
    assert expected == next_seq


def test_attach_refuses_a_wrong_magic_with_a_clear_message(segment):
    segment.raw_buffer()[0:8] = b"NOTARING"
    with pytest.raises(RingAttachError, match="magic is not UDPRRING") as info:
        RingSegment.attach(segment.name)
    assert info.value.code == lib.UDR_SEGMENT_BAD_MAGIC


def test_attach_refuses_a_wrong_layout_version_with_a_clear_message(segment):
    segment.raw_buffer()[8:12] = struct.pack("<I", 99)
    with pytest.raises(RingAttachError, match="layout version differs"):
        RingSegment.attach(segment.name)


def test_attach_refuses_a_size_that_does_not_match_the_capacities(segment):
    segment.raw_buffer()[16:20] = struct.pack("<I", 16)
    with pytest.raises(RingAttachError, match="size differs"):
        RingSegment.attach(segment.name)


def test_attach_to_a_missing_name_says_so():
    with pytest.raises(RingError, match="No such file"):
        RingSegment.attach(_unique_name())


def test_create_refuses_a_capacity_that_is_not_a_power_of_two():
    with pytest.raises(RingError, match="power of two"):
        RingSegment.create(_unique_name(), 6, 8)


def test_create_refuses_a_name_already_taken(segment):
    with pytest.raises(RingError, match="File exists"):
        RingSegment.create(segment.name, 8, 8)


def test_sleeping_consumer_is_woken_through_its_eventfd_once(segment):
    assert segment.set_router_sleeping(True) == 0
    events = segment.new_events(2)
    events[0].command_seq = 5
    assert segment.offer_events(events, 1) == 1
    assert segment.wake_router_if_sleeping() is True
    assert segment.wake_router_if_sleeping() is False
    assert segment.drain_outbound_eventfd() == 1
    assert segment.poll_events(events, 2) == 1 and events[0].command_seq == 5


def test_sleep_is_withdrawn_when_events_are_already_waiting(segment):
    events = segment.new_events(1)
    assert segment.offer_events(events, 1) == 1
    assert segment.set_router_sleeping(True) == 1
    assert segment.wake_router_if_sleeping() is False
    assert segment.drain_outbound_eventfd() == 0


def test_producer_does_not_wake_a_consumer_that_is_not_sleeping(segment):
    cmds = segment.new_commands(1)
    assert segment.offer_commands(cmds, 1) == 1
    assert segment.wake_engine_if_sleeping() is False


# A stand-in engine in another process, on the C functions alone: attaches, polls commands, sleeps
# on the inbound eventfd when idle, and answers each command with one event (command_seq, cl_ord_id).
CHILD = textwrap.dedent("""
    import sys, time
    from udprouter._ring_cffi import ffi, lib
    name, in_fd, out_fd, total = sys.argv[1].encode(), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    size, err = ffi.new("size_t *"), ffi.new("int *")
    base = lib.udr_shm_attach(b"/" + name, size, err)
    assert base != ffi.NULL and lib.udr_segment_check(base, size[0]) == lib.UDR_SEGMENT_OK
    seg = ffi.new("udr_segment *")
    lib.udr_segment_view(seg, base, size[0])
    ring_in, ring_out = ffi.addressof(seg, "inbound"), ffi.addressof(seg, "outbound")
    cmds, evts = ffi.new("udr_command[64]"), ffi.new("udr_event[64]")
    done, deadline = 0, time.monotonic() + 20
    while done < total and time.monotonic() < deadline:
        n = lib.udr_ring_poll(ring_in, cmds, 64)
        if n == 0:
            if lib.udr_ring_consumer_prepare_sleep(ring_in):
                lib.udr_eventfd_wait(in_fd, 100)
            lib.udr_ring_consumer_awake(ring_in)
            continue
        for i in range(n):
            evts[i].command_seq = cmds[i].command_seq
            evts[i].cl_ord_id = cmds[i].cl_ord_id
            evts[i].flags = lib.UDR_EVT_FLAG_LAST
        sent = 0
        while sent < n and time.monotonic() < deadline:
            sent += lib.udr_ring_offer(ring_out, ffi.addressof(evts, sent), n - sent)
        if lib.udr_ring_producer_should_wake(ring_out):
            lib.udr_eventfd_signal(out_fd)
        done += n
    lib.udr_shm_detach(base, size[0])
    sys.exit(0 if done == total else 1)
""")


def test_child_process_consumes_commands_and_answers_every_one_in_order():
    total = 5000
    seg = RingSegment.create(_unique_name(), 64, 64)
    proc = None
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, seg.name, str(seg.inbound_eventfd), str(seg.outbound_eventfd),
             str(total)],
            pass_fds=(seg.inbound_eventfd, seg.outbound_eventfd))
        cmds, evts = seg.new_commands(64), seg.new_events(64)
        sent, received, deadline = 0, 0, time.monotonic() + 30
        while received < total and time.monotonic() < deadline:
            if sent < total:
                batch = min(64, total - sent)
                _fill(cmds, sent + 1, batch)
                sent += seg.offer_commands(cmds, batch)
                seg.wake_engine_if_sleeping()
            n = seg.poll_events(evts, 64)
            for i in range(n):
                received += 1
                assert evts[i].command_seq == received
                assert evts[i].cl_ord_id == 1000 + received
            if n == 0 and proc.poll() is not None and seg.outbound_occupancy == 0:
                break
            if n == 0 and sent == total and seg.set_router_sleeping(True) == 0:
                lib.udr_eventfd_wait(seg.outbound_eventfd, 100)
                seg.set_router_sleeping(False)
        assert received == total
        assert proc.wait(timeout=10) == 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        seg.unlink()
        seg.close()


def test_command_layout_matches_the_ring_abi_record():
    cmd = ffi.new("udr_command *")
    COMMAND_LAYOUT.pack_into(ffi.buffer(cmd), 0, 1, 2, 3, -4, 5, 6, 7, 8, -9, 10, 11, 12, 13, 0)
    assert COMMAND_LAYOUT.size == ffi.sizeof("udr_command")
    assert (cmd.command_seq, cmd.cl_ord_id, cmd.orig_cl_ord_id, cmd.price, cmd.recv_time_ns, cmd.session_id,
            cmd.account, cmd.order_qty, cmd.security_id, cmd.kind, cmd.side, cmd.ord_type,
            cmd.time_in_force) == (1, 2, 3, -4, 5, 6, 7, 8, -9, 10, 11, 12, 13)


def test_event_layout_matches_the_ring_abi_record():
    ev = ffi.new("udr_event *")
    ev.command_seq, ev.cl_ord_id, ev.orig_cl_ord_id, ev.order_id = 1, 2, 3, 4
    ev.price, ev.session_id, ev.security_id, ev.qty = -5, 6, -7, 8
    ev.leaves_qty, ev.cum_qty, ev.kind, ev.side, ev.reason, ev.flags = 9, 10, 11, 12, 13, 14
    assert EVENT_LAYOUT.size == ffi.sizeof("udr_event")
    assert EVENT_LAYOUT.unpack(ffi.buffer(ev)[:]) == (1, 2, 3, 4, -5, 6, -7, 8, 9, 10, 11, 12, 13, 14)


def test_event_layout_is_little_endian_64_bytes():
    assert EVENT_LAYOUT.format == "<QQQQqIiIIIBBBB" and struct.calcsize(EVENT_LAYOUT.format) == 64


def test_record_field_names_and_offsets_match_the_ring_abi_records():
    for layout, names, ctype in ((COMMAND_LAYOUT, ring_records.COMMAND_FIELDS, "udr_command"),
                                 (EVENT_LAYOUT, ring_records.EVENT_FIELDS, "udr_event")):
        codes = layout.format[1:]
        assert [name for name, _ in ffi.typeof(ctype).fields] == list(names)
        for i, name in enumerate(names):
            assert struct.calcsize("<" + codes[:i]) == ffi.offsetof(ctype, name), (ctype, name)


def test_every_kind_and_flag_of_ring_abi_h_has_its_python_twin():
    """ring_records (pure Python, for the journal tools) against the header cffi compiled: each
    UDR_CMD_*, UDR_EVT_* and UDR_EVT_FLAG_* once, with its value, and nothing Python-only."""
    expected = {}
    for name in dir(lib):
        if name.startswith("UDR_EVT_FLAG_"):
            expected["FLAG_" + name[len("UDR_EVT_FLAG_"):]] = getattr(lib, name)
        elif name.startswith(("UDR_CMD_", "UDR_EVT_")):
            expected[name[len("UDR_"):]] = getattr(lib, name)
    python = {name: getattr(ring_records, name) for name in dir(ring_records)
              if name.startswith(("CMD_", "EVT_", "FLAG_"))}
    assert python == expected
