"""The write-ahead record written in C (fastpath/write_ahead.h): the same bytes msgspec makes of the
same PassRecord, the same file as the Python path, and a failed write left as _write_out leaves one."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st
from test_router_log import CAPACITY, make_session, send_pass, writes_fail
from udprouter._ring_cffi import ffi, lib

from udprouter.durability import router_log
from udprouter.durability.router_log import PassRecord, RouterLog, frame_record, replay
from udprouter.server_session import ServerSession

U32 = st.integers(0, 2**32 - 1)
U64 = st.integers(0, 2**64 - 1)
# Integers around every boundary of MessagePack's integer forms, and anywhere in range.
EDGES = st.sampled_from([0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1])
NUMBER = st.one_of(EDGES, U64)
ENTRY = st.tuples(U32, NUMBER, NUMBER, U32)


def c_record(command_through: int, done_through: int, partial: tuple[int, int],
             inbound: list[tuple[int, int, int, int]]) -> bytes:
    structs = [ffi.new("udr_fp_session *") for _ in inbound]
    for s, (session_id, next_inbound, hwm, open_orders) in zip(structs, inbound, strict=True):
        s.session_id, s.next_inbound, s.cl_ord_hwm, s.open_orders = session_id, next_inbound, hwm, open_orders
    pointers = ffi.new("udr_fp_session *[]", structs or 1)
    out = ffi.new("unsigned char[]", lib.UDR_WA_FIXED_MAX + len(inbound) * lib.UDR_WA_SESSION_MAX)
    length = lib.udr_wa_encode(out, command_through, done_through, *partial, pointers, len(inbound))
    return bytes(ffi.buffer(out, length))


@settings(max_examples=300, deadline=None)
@given(NUMBER, NUMBER, st.tuples(NUMBER, NUMBER), st.lists(ENTRY, max_size=40))
def test_c_record_is_msgspecs_record_byte_for_byte(command_through, done_through, partial, inbound):
    expected = frame_record(PassRecord(True, command_through, done_through, *partial, inbound, []))
    assert c_record(command_through, done_through, partial, inbound) == expected


def passes(log: RouterLog) -> ServerSession:
    """Two sessions, a few passes each, and a trailing write-ahead record (as at a crash)."""
    first, second = make_session(1, log), make_session(2, log)
    log.open()
    send_pass(log, first, 1, 2, 5, 1, 2)
    send_pass(log, second, 1, 3, 300, 2, 5)
    send_pass(log, first, 3, 1, 70_000, 0, 6)
    first.accept_inbound(4, 2)
    second.accept_inbound(4, 1)
    log.before_offer(9)
    log.close()
    return first


def test_the_c_path_writes_the_file_the_python_path_writes(tmp_path, monkeypatch):
    python_append = RouterLog._append

    def commits_only(self, before_offer: bool, command_through: int) -> None:
        assert not before_offer, "a write-ahead record went through _append, not the C path"
        python_append(self, before_offer, command_through)

    monkeypatch.setattr(RouterLog, "_append", commits_only)
    passes(RouterLog(tmp_path / "c", "os", CAPACITY))
    monkeypatch.setattr(RouterLog, "_append", python_append)
    monkeypatch.setattr(router_log, "WRITE_AHEAD_SESSIONS", 0)  # every record through _append
    passes(RouterLog(tmp_path / "python", "os", CAPACITY))
    c_file = (tmp_path / "c" / router_log.FILE_NAME).read_bytes()
    assert c_file == (tmp_path / "python" / router_log.FILE_NAME).read_bytes()
    state = replay(tmp_path / "c", CAPACITY)
    assert state.confirm(published_through=9)
    assert state.sessions[1].next_inbound == 6 and state.sessions[2].next_inbound == 5


def test_a_failed_c_write_keeps_the_record_buffered_and_the_log_unavailable_until_retry(tmp_path):
    log = RouterLog(tmp_path, "os", CAPACITY)
    session = make_session(1, log)
    log.open()
    send_pass(log, session, 1, 2, 5, 1, 2)
    size = log._size
    with writes_fail(log):
        session.accept_inbound(3, 1)
        assert log.before_offer(3) is False  # the commands must not be offered
        assert log.unavailable and log.write_failures == 1
        assert os.path.getsize(tmp_path / router_log.FILE_NAME) == size  # nothing torn in the file
    assert log.retry()  # the buffered record, written by the Python path
    log.close()
    state = replay(tmp_path, CAPACITY)
    assert state.confirm(published_through=3)
    assert state.sessions[1].next_inbound == 4


def test_sessions_beyond_the_c_array_take_the_python_path(tmp_path, monkeypatch):
    monkeypatch.setattr(router_log, "WRITE_AHEAD_SESSIONS", 2)
    log = RouterLog(tmp_path, "os", CAPACITY)
    sessions = [make_session(i, log) for i in (1, 2, 3)]
    log.open()
    for s in sessions:
        s.accept_inbound(1, 1)
    assert log.before_offer(3)
    log.close()
    state = replay(tmp_path, CAPACITY)
    assert state.confirm(published_through=3)
    assert [state.sessions[i].next_inbound for i in (1, 2, 3)] == [2, 2, 2]
