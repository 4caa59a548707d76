"""RouterLog: records written by the session hooks replay into the same session state; torn tails,
corruption, the write-ahead record of an offer that never happened, durability modes, segments,
the logged position published in the ring header."""

import contextlib
import os
import time
import uuid

import pytest

from udprouter.config import KeyConfig
from udprouter.durability.router_log import (
    FILE_NAME,
    IMAGE_CHUNK_FRAMES,
    RECORD_HEADER,
    RouterLog,
    read_records,
    replay,
)
from udprouter.ring import NO_ROUTER_LOG, RingSegment
from udprouter.server_session import ServerSession, SessionState, not_applied_frame, sequence_frame

KEY = KeyConfig(key_id="k", secret="s", account=7)
CAPACITY = 8


@contextlib.contextmanager
def writes_fail(log: RouterLog):
    """Every write of the log fails while inside (EBADF: a read-only descriptor in place of its
    own, as a full disk would fail it), and the log's own descriptor is back afterwards."""
    writable = log._fd
    log._fd = os.open(log.path, os.O_RDONLY)
    try:
        yield
    finally:
        os.close(log._fd)
        log._fd = writable


def make_session(session_id: int, log: RouterLog) -> ServerSession:
    addr = ("127.0.0.1", 40000 + session_id)
    session = ServerSession(bytes([session_id]) * 16, session_id, KEY, addr, CAPACITY)
    log.attach(session)
    return session


def frames(n: int, tag: int) -> list[bytes]:
    return [not_applied_frame(tag * 1000 + i, 1) for i in range(n)]


def send_pass(log: RouterLog, session: ServerSession, first_seq: int, count: int, hwm: int, n_frames: int,
              command_through: int) -> None:
    """One loop pass: count messages in, commands offered, n_frames replies sequenced and committed."""
    session.accept_inbound(first_seq, count)
    session.cl_ord_hwm = hwm
    log.before_offer(command_through)
    session.pending.extend(frames(n_frames, first_seq))
    session.flush()
    log.commit(command_through, (0, 0))


def assert_same(recovered, session: ServerSession) -> None:
    assert recovered.next_inbound == session.next_inbound
    assert recovered.next_outbound == session.next_outbound
    assert recovered.cl_ord_hwm == session.cl_ord_hwm
    assert list(recovered.kept) == session.kept_frames()


@pytest.mark.parametrize("durability", ["os", "fsync"])
def test_replay_rebuilds_sequence_numbers_buffer_and_cl_ord_marks(tmp_path, durability):
    log = RouterLog(tmp_path, durability, CAPACITY)
    a, b = make_session(1, log), make_session(2, log)
    log.open()
    send_pass(log, a, 1, 3, 103, 4, 3)
    send_pass(log, b, 1, 2, 52, 1, 5)
    send_pass(log, a, 4, 5, 108, 6, 10)  # a's kept buffer wraps (capacity 8, 10 frames sent)
    state = replay(tmp_path, CAPACITY)
    assert state.cut_bytes == 0 and state.unconfirmed is None
    assert state.command_through == 10 and state.done_through == 10
    assert_same(state.sessions[1], a)
    assert_same(state.sessions[2], b)
    assert a.next_outbound == 11 and len(state.sessions[1].kept) == CAPACITY
    log.close()


def test_fsync_mode_syncs_once_per_commit_for_every_session_in_it(tmp_path):
    log = RouterLog(tmp_path, "fsync", CAPACITY)
    sessions = [make_session(i, log) for i in (1, 2, 3)]
    log.open()
    for s in sessions:
        s.accept_inbound(1, 1)
    log.before_offer(3)
    for s in sessions:
        s.pending.append(sequence_frame(9))
        s.flush()
    syncs = log.syncs
    log.commit(3, (0, 0))
    assert log.syncs == syncs + 1
    sessions = replay(tmp_path, CAPACITY).sessions
    assert {sid for sid, s in sessions.items() if s.next_outbound == 2} == {1, 2, 3}
    log.close()


def test_none_mode_writes_nothing_until_close(tmp_path):
    log = RouterLog(tmp_path, "none", CAPACITY)
    session = make_session(1, log)
    log.open()
    size = (tmp_path / FILE_NAME).stat().st_size
    send_pass(log, session, 1, 2, 5, 2, 2)
    assert (tmp_path / FILE_NAME).stat().st_size == size
    log.close()
    assert_same(replay(tmp_path, CAPACITY).sessions[1], session)


def test_torn_tail_at_every_byte_keeps_the_records_before_it(tmp_path):
    log = RouterLog(tmp_path, "os", CAPACITY)
    session = make_session(1, log)
    log.open()
    send_pass(log, session, 1, 2, 5, 2, 2)
    log.close()
    data = (tmp_path / FILE_NAME).read_bytes()
    whole, valid = read_records(data)
    assert valid == len(data) and len(whole) == 3  # image, before-offer, commit
    last_start = len(data) - RECORD_HEADER.size - RECORD_HEADER.unpack_from(
        data, _record_offsets(data)[-1])[0]
    for cut in range(last_start, len(data)):
        records, valid = read_records(data[:cut])
        assert len(records) == 2 and valid == last_start


def _record_offsets(data: bytes) -> list[int]:
    offsets, offset = [], 0
    while offset < len(data):
        offsets.append(offset)
        offset += RECORD_HEADER.size + RECORD_HEADER.unpack_from(data, offset)[0]
    return offsets


def test_corrupt_record_ends_replay_and_is_counted_as_cut(tmp_path):
    log = RouterLog(tmp_path, "os", CAPACITY)
    session = make_session(1, log)
    log.open()
    send_pass(log, session, 1, 2, 5, 2, 2)
    send_pass(log, session, 3, 2, 9, 2, 4)
    log.close()
    path = tmp_path / FILE_NAME
    data = bytearray(path.read_bytes())
    offsets = _record_offsets(bytes(data))
    data[offsets[3] + RECORD_HEADER.size + 2] ^= 0xFF  # the second pass's before-offer record
    path.write_bytes(bytes(data))
    state = replay(tmp_path, CAPACITY)
    assert state.cut_bytes == len(data) - offsets[3]
    assert state.sessions[1].next_inbound == 3 and state.sessions[1].cl_ord_hwm == 5


def test_trailing_before_offer_record_applies_only_if_its_commands_reached_the_ring(tmp_path):
    log = RouterLog(tmp_path, "os", CAPACITY)
    session = make_session(1, log)
    log.open()
    send_pass(log, session, 1, 2, 5, 1, 2)
    session.accept_inbound(3, 4)
    session.cl_ord_hwm = 20
    log.before_offer(6)  # SIGKILL here: the offer may or may not have happened
    log.close()
    never_offered = replay(tmp_path, CAPACITY)
    assert never_offered.unconfirmed is not None
    assert not never_offered.confirm(published_through=2)
    assert never_offered.sessions[1].next_inbound == 3 and never_offered.command_through == 2
    offered = replay(tmp_path, CAPACITY)
    assert offered.confirm(published_through=6)
    assert offered.sessions[1].next_inbound == 7 and offered.sessions[1].cl_ord_hwm == 20
    assert offered.command_through == 6 and offered.done_through == 2


def test_trailing_record_without_commands_is_rolled_back_so_its_answers_are_regenerated(tmp_path):
    log = RouterLog(tmp_path, "os", CAPACITY)
    session = make_session(1, log)
    log.open()
    send_pass(log, session, 1, 1, 5, 1, 1)
    session.accept_inbound(2, 1)  # a message the risk checks rejected: no command
    log.before_offer(1)
    log.close()
    state = replay(tmp_path, CAPACITY)
    assert not state.confirm(published_through=1)
    assert state.sessions[1].next_inbound == 2


def test_segments_are_closed_never_rewritten_dropped_whole_and_the_state_replays_exact(tmp_path):
    log = RouterLog(tmp_path, "os", CAPACITY, segment_bytes=1024)
    session = make_session(1, log)
    log.open()
    closed: dict[str, bytes] = {}
    for i in range(200):
        send_pass(log, session, 1 + 2 * i, 2, 10 + i, 3, 2 * i + 2)
        for path in tmp_path.glob("router-*.log"):
            try:
                data = path.read_bytes()
            except FileNotFoundError:  # dropped meanwhile (off the loop)
                continue
            first = closed.setdefault(path.name, data)  # a drop truncates it: a prefix, never new bytes
            assert data == first[:len(data)]
        assert_same(replay(tmp_path, CAPACITY).sessions[1], session)
    log.close()
    assert log.segments_closed > 10 and log.segments_dropped >= log.segments_closed - 2
    assert len(list(tmp_path.glob("router-*.log"))) <= 2  # the last 8 frames fit in one or two
    assert not (tmp_path / (FILE_NAME + ".tmp")).exists()


def test_the_next_segment_file_is_made_ahead_off_the_loop_and_gone_after_close(tmp_path):
    """The roll takes a file the worker thread made beforehand (the loop renames it, never creates
    it); a crash's leftover router.log.next is never replayed; a clean close leaves none."""
    (tmp_path / (FILE_NAME + ".next")).write_bytes(b"garbage from a roll a crash cut short")
    log = RouterLog(tmp_path, "os", CAPACITY, segment_bytes=1024)
    session = make_session(1, log)
    log.open()
    made_ahead = 0
    for i in range(60):
        send_pass(log, session, 1 + 2 * i, 2, 10 + i, 3, 2 * i + 2)
        following = tmp_path / (FILE_NAME + ".next")
        deadline = time.monotonic() + 10
        while not following.exists() and time.monotonic() < deadline:  # the worker thread makes it
            time.sleep(0.001)
        made_ahead += following.exists() and following.stat().st_size == 0
        assert_same(replay(tmp_path, CAPACITY).sessions[1], session)
    assert log.segments_closed > 5 and made_ahead == 60
    log.close()
    assert not (tmp_path / (FILE_NAME + ".next")).exists()
    assert_same(replay(tmp_path, CAPACITY).sessions[1], session)


def test_quiet_sessions_with_few_frames_keep_no_old_segment_and_replay_exact(tmp_path):
    log = RouterLog(tmp_path, "os", CAPACITY, segment_bytes=1024)
    busy = make_session(1, log)
    log.open()
    quiet = []
    for i in range(200):
        if i % 20 == 0:  # a client that sends one order's worth, then nothing more
            quiet.append(make_session(2 + i // 20, log))
            send_pass(log, quiet[-1], 1, 2, 5, 2, 2 * i + 1)
        send_pass(log, busy, 1 + 2 * i, 2, 10 + i, 3, 2 * i + 2)
    log.close()
    assert log.segments_closed > 10
    assert len(list(tmp_path.glob("router-*.log"))) <= 2, "the quiet sessions' frames were carried"
    state = replay(tmp_path, CAPACITY)
    for session in [busy, *quiet]:
        assert_same(state.sessions[session.session_id], session)


def test_a_crash_between_closing_a_segment_and_starting_the_next_replays_the_same(tmp_path):
    log = RouterLog(tmp_path, "os", CAPACITY, segment_bytes=1024)
    session = make_session(1, log)
    log.open()
    for i in range(40):
        send_pass(log, session, 1 + 2 * i, 2, 10 + i, 3, 2 * i + 2)
    log.close()
    before = replay(tmp_path, CAPACITY).sessions[1]
    number = max((int(p.name[7:-4]) for p in tmp_path.glob("router-*.log")), default=0) + 1
    (tmp_path / FILE_NAME).rename(tmp_path / f"router-{number:010d}.log")  # no router.log yet
    after = replay(tmp_path, CAPACITY).sessions[1]
    assert (after.next_inbound, after.next_outbound, list(after.kept)) == \
        (before.next_inbound, before.next_outbound, list(before.kept))
    assert_same(after, session)


def test_restore_gives_a_session_its_numbers_and_retransmission_buffer(tmp_path):
    log = RouterLog(tmp_path, "os", CAPACITY)
    session = make_session(1, log)
    log.open()
    send_pass(log, session, 1, 3, 42, 5, 3)
    log.close()
    recovered = replay(tmp_path, CAPACITY).sessions[1]
    fresh = ServerSession(session.uuid, 1, KEY, None, CAPACITY)
    fresh.restore(recovered.next_inbound, recovered.next_outbound, list(recovered.kept),
                  recovered.cl_ord_hwm, recovered.open_orders)
    assert fresh.kept_range() == session.kept_range() == (1, 6)
    assert fresh.retransmit(2, 3, 10) == session.retransmit(2, 3, 10)
    assert fresh.accept_inbound(1, 3) == 3  # already applied before the restart: duplicates


def test_missing_log_replays_as_empty_and_bad_durability_is_refused(tmp_path):
    assert replay(tmp_path, CAPACITY).empty
    with pytest.raises(ValueError):
        RouterLog(tmp_path, "sometimes", CAPACITY)
    assert not os.listdir(tmp_path)


def test_image_of_a_large_retransmission_buffer_is_written_in_bounded_chunks(tmp_path):
    capacity = 3 * IMAGE_CHUNK_FRAMES
    log = RouterLog(tmp_path, "os", capacity)
    session = ServerSession(bytes(16), 1, KEY, ("127.0.0.1", 40001), capacity)
    log.attach(session)
    log.open()
    session.accept_inbound(1, 1)
    session.pending.extend(frames(capacity + 100, 1))  # the buffer wraps: the oldest 100 are gone
    session.flush()
    log.commit(0, (0, 0))
    log.close()
    reopened = RouterLog(tmp_path, "os", capacity)
    reopened.attach(session)
    reopened.open()  # the opening image: numbers + chunks
    reopened.close()
    records, _ = read_records((tmp_path / FILE_NAME).read_bytes())
    assert len(records) == 1 + 3
    assert max(len(r.sent[0][2]) for r in records[1:]) == IMAGE_CHUNK_FRAMES
    state = replay(tmp_path, capacity)
    assert_same(state.sessions[1], session)
    assert session.kept_range() == (101, capacity + 101)


@pytest.fixture
def ring_header():
    segment = RingSegment.create(f"udr-test-log-{os.getpid()}-{uuid.uuid4().hex[:12]}", 8, 8)
    try:
        yield segment
    finally:
        segment.unlink()
        segment.close()


@pytest.mark.parametrize("durability", ["os", "fsync"])
def test_commit_publishes_the_logged_routing_position_in_the_ring_header(tmp_path, ring_header, durability):
    log = RouterLog(tmp_path, durability, CAPACITY)
    a = make_session(1, log)
    log.position_header = ring_header
    log.open()
    assert ring_header.router_logged_through == 0  # the opening image holds done_through 0
    send_pass(log, a, 1, 3, 103, 2, 3)
    assert ring_header.router_logged_through == 3 == replay(tmp_path, CAPACITY).done_through
    send_pass(log, a, 4, 2, 105, 1, 5)
    assert ring_header.router_logged_through == 5 == replay(tmp_path, CAPACITY).done_through
    log.close()


def test_position_without_a_record_written_is_not_published(tmp_path, ring_header):
    log = RouterLog(tmp_path, "os", CAPACITY)
    a = make_session(1, log)
    log.position_header = ring_header
    log.open()
    send_pass(log, a, 1, 3, 103, 2, 3)
    log.commit(9, (0, 0))  # nothing sequenced: no record, the file still says 3
    assert replay(tmp_path, CAPACITY).done_through == 3
    assert ring_header.router_logged_through == 3
    log.close()


def test_none_mode_publishes_no_position(tmp_path, ring_header):
    log = RouterLog(tmp_path, "none", CAPACITY)
    a = make_session(1, log)
    log.position_header = ring_header
    log.open()
    send_pass(log, a, 1, 3, 103, 2, 3)
    assert ring_header.router_logged_through == NO_ROUTER_LOG
    log.close()


def test_a_reused_session_id_never_replays_its_previous_occupants_state(tmp_path):
    """Occupants of session id 2 come and go (released, reset, reused; each numbering on from the
    last) beside a busy session 1, through many segment rolls and drops: at every point the replay
    gives id 2 only its current occupant's numbers and frames, and a session rebuilt from it cannot
    retransmit anything below its first number."""
    log = RouterLog(tmp_path, "os", CAPACITY, segment_bytes=1024)
    busy = make_session(1, log)
    log.open()
    first, command = 1, 0
    occupant = None
    for i in range(120):
        if i % 10 == 0:
            if occupant is not None:
                log.detach(2)
                first = occupant.next_outbound + 1
            occupant = ServerSession(bytes([i]) * 16, 2, KEY, ("127.0.0.1", 41000 + i), CAPACITY, first)
            log.reset(2, first)
            log.attach(occupant)
        command += 2
        if i % 10 < 3:  # each occupant sends a few frames early, then goes quiet
            send_pass(log, occupant, 1 + 2 * (i % 10), 2, 10 + i % 10, 2, command)
        send_pass(log, busy, 1 + 2 * i, 2, 10 + i, 3, command)
        recovered = replay(tmp_path, CAPACITY).sessions[2]
        assert recovered.first_outbound == occupant.first_outbound
        assert_same(recovered, occupant)
        rebuilt = ServerSession(occupant.uuid, 2, KEY, None, CAPACITY, recovered.first_outbound)
        rebuilt.restore(recovered.next_inbound, recovered.next_outbound, list(recovered.kept),
                        recovered.cl_ord_hwm, recovered.open_orders)
        assert rebuilt.kept_range()[0] >= occupant.first_outbound
    log.close()
    assert log.segments_dropped > 5


def set_cod(log: RouterLog, session: ServerSession, cod_type: int, established: bool,
            due_ns: int = 0) -> None:
    session.cod_type, session.cod_window_ms, session.keepalive_ms = cod_type, 1500, 200
    session.state = SessionState.ESTABLISHED if established else SessionState.TERMINATED
    session.cod_due_ns = due_ns
    log.note_cod(session)


def test_cancel_on_disconnect_state_replays_through_reopens_and_dropped_segments(tmp_path):
    log = RouterLog(tmp_path, "os", CAPACITY, segment_bytes=1024)
    armed, silent, plain = make_session(1, log), make_session(2, log), make_session(3, log)
    log.open()
    set_cod(log, armed, 3, True)
    set_cod(log, armed, 3, False, due_ns=123_456)  # terminated: armed
    set_cod(log, silent, 1, True)
    set_cod(log, plain, 2, True)
    set_cod(log, plain, 2, False)  # terminated after its cancel was carried out: nothing left
    records = log.records
    log.note_cod(silent)  # unchanged: nothing written
    assert log.records == records
    for i in range(100):  # segments close and are dropped: each new one states the records again
        send_pass(log, armed, 1 + i, 1, 10 + i, 3, i + 1)
    assert log.segments_dropped > 0
    cod = replay(tmp_path, CAPACITY).cod
    assert sorted(cod) == [1, 2]
    assert (cod[1].cod_type, cod[1].window_ms, cod[1].keepalive_ms, cod[1].established, cod[1].due_ns) == \
        (3, 1500, 200, False, 123_456)
    assert cod[2].established and cod[2].due_ns == 0
    log.note_cod(silent, done=True)  # carried out (router stop): nothing left for it either
    log.close()
    assert sorted(replay(tmp_path, CAPACITY).cod) == [1]
    reopened = RouterLog(tmp_path, "os", CAPACITY)
    reopened.attach(armed)
    reopened.note_cod(armed)  # restored before the open: the opening image writes it
    reopened.open()
    reopened.close()
    assert sorted(replay(tmp_path, CAPACITY).cod) == [1]
