"""Incremental router log compaction: the worker folds only the records appended since the image it
wrote last (carried state) and rewrites the chunks of that image still whole as they are. Whatever
the history (appends while a worker runs, trailing write-ahead records, failed compactions, gaps,
tiny capacities and chunks), the compacted log replays to exactly the state of the same records
never compacted."""

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.router_log_faults import write_then_fail
from udprouter import router_log as rl
from udprouter import router_log_compactor as rlc
from udprouter.router_log import FILE_NAME, PassRecord, frame_record, image_records, read_records, replay
from udprouter.router_log_compactor import CompactionStep, RouterLogCompactor, build_image


def frame(sid: int, seq: int, padding: int) -> bytes:
    """Distinct to the last byte (a frame cut or shifted by one byte differs)."""
    tail = bytes([(seq + i) % 251 + 1 for i in range(padding)])
    return sid.to_bytes(2, "little") + seq.to_bytes(4, "little") + tail


def snapshot(directory: Path, capacity: int) -> tuple:
    state = replay(directory, capacity)
    assert state.cut_bytes == 0
    return (state.command_through, state.done_through, state.partial, state.unconfirmed,
            {sid: (s.next_inbound, s.cl_ord_hwm, s.open_orders, s.next_outbound, list(s.kept))
             for sid, s in state.sessions.items()})


class Twin:
    """The same records appended to a log that is compacted and to one that never is."""

    def __init__(self, root: Path, capacity: int, opening: list[int]) -> None:
        self.live, self.ref = root / "live", root / "ref"
        self.live.mkdir()
        self.ref.mkdir()
        self.capacity = capacity
        self.next_seq = {sid: 1 for sid in range(1, 5)}
        self.command_through = self.done_through = 0
        sessions = []
        for sid, kept in enumerate(opening, 1):  # an opening image as RouterLog.open writes it
            frames = [frame(sid, seq, 20) for seq in range(1, kept + 1)][-capacity:] if capacity else []
            self.next_seq[sid] = kept + 1
            sessions.append((sid, 1, 0, 0, kept + 1, frames))
        self.append(*image_records(0, 0, (0, 0), sessions, chunk_frames=3))
        self.compactor = RouterLogCompactor(self.live / FILE_NAME, capacity, "os")

    def append(self, *records) -> None:
        data = b"".join(frame_record(r) for r in records)
        for directory in (self.live, self.ref):
            with open(directory / FILE_NAME, "ab") as f:
                f.write(data)

    def one_pass(self, sent: list[tuple[int, int, int]], offer: bool, commit: bool, gap: bool) -> None:
        """sent: (session, frame count, frame length); offer: a before-offer record; commit: then
        its commit record (an offer without one stays trailing until the next record)."""
        records = []
        if offer:
            self.command_through += 1
            inbound = [(sid, self.command_through, 7 * self.command_through, sid) for sid, _, _ in sent]
            records.append(PassRecord(True, self.command_through, self.done_through, 0, 0, inbound, []))
        if commit:
            entries = []
            for sid, count, length in sent:
                first = self.next_seq[sid] + (5 if gap else 0)  # never written so; the fold clears
                entries.append((sid, first, [frame(sid, first + k, length) for k in range(count)]))
                self.next_seq[sid] = first + count
            self.done_through = self.command_through
            partial = (self.command_through + 1, 2) if gap else (0, 0)
            records.append(PassRecord(False, self.command_through, self.done_through, *partial, [], entries))
        self.append(*records)

    def compact(self, appends_meanwhile: list, fail: bool, monkeypatch) -> CompactionStep:
        """One compaction on the worker thread, like RouterLog.compaction_step: start, appends while
        it runs, take, install (or the failure path: the old log stays, the carried fold is gone)."""
        if fail:
            monkeypatch.setattr(rlc, "_write_records", write_then_fail)
        self.compactor.start()
        for args in appends_meanwhile:
            self.one_pass(*args)
        self.compactor.wait(10)
        monkeypatch.undo()
        built = self.compactor.take()
        if built is None:
            assert self.compactor.carried is None
            return CompactionStep.FAILED
        self.compactor.install(built, (self.live / FILE_NAME).stat().st_size)
        return CompactionStep.INSTALLED

    def check(self) -> None:
        assert snapshot(self.live, self.capacity) == snapshot(self.ref, self.capacity)


passes = st.tuples(
    st.lists(st.tuples(st.integers(1, 4), st.integers(0, 9), st.sampled_from([0, 7, 40, 300])), max_size=3,
             unique_by=lambda e: e[0]),
    st.booleans(), st.booleans(), st.integers(0, 30).map(lambda n: n == 0))
failing = st.integers(0, 5).map(lambda n: n == 0)  # one compaction in six fails half way
steps = st.one_of(passes.map(lambda p: ("pass", p)),
                  st.tuples(st.lists(passes, max_size=3), failing).map(lambda c: ("compact", c)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(capacity=st.sampled_from([0, 1, 4, 9]), chunk_bytes=st.sampled_from([1, 50, 400, 64 << 10]),
       opening=st.lists(st.integers(0, 12), max_size=3), history=st.lists(steps, max_size=25))
def test_compactions_in_a_row_replay_to_the_uncompacted_state(tmp_path_factory, monkeypatch, capacity,
                                                             chunk_bytes, opening, history):
    monkeypatch.setattr(rlc, "CHUNK_BYTES", chunk_bytes)
    with monkeypatch.context() as patch:
        twin = Twin(tmp_path_factory.mktemp("twin"), capacity, opening)
        try:
            for kind, args in history:
                if kind == "pass":
                    twin.one_pass(*args)
                else:
                    twin.compact(*args, patch)
                    twin.check()
            twin.compact([], False, patch)
            twin.check()
        finally:
            twin.compactor.discard()


def test_each_compaction_after_the_first_folds_only_the_appended_records(tmp_path, monkeypatch):
    twin = Twin(tmp_path, 9, [12, 3])
    for _ in range(4):
        for i in range(30):
            twin.one_pass([(1 + i % 2, 3, 40)], True, True, False)
        with monkeypatch.context() as patch:
            assert twin.compact([], False, patch) == CompactionStep.INSTALLED
        twin.check()
        carried = twin.compactor.carried  # resumes right after the image it wrote
        records, valid = read_records((tmp_path / "live" / FILE_NAME).read_bytes()[:carried.offset])
        assert valid == carried.offset and isinstance(records[0], rl.ImageRecord)
    assert twin.compactor.incremental == 3  # every compaction but the first resumed the carried fold
    twin.compactor.discard()


def test_chunks_of_an_idle_session_are_written_again_byte_for_byte(tmp_path, monkeypatch):
    monkeypatch.setattr(rlc, "CHUNK_BYTES", 200)
    twin = Twin(tmp_path, 64, [60, 0])  # session 1 idle with a full buffer, session 2 trading
    log = tmp_path / "live" / FILE_NAME
    with monkeypatch.context() as patch:
        twin.compact([], False, patch)
    first = log.read_bytes()
    idle_chunks = [r for r in read_records(first)[0]
                   if isinstance(r, PassRecord) and r.sent and r.sent[0][0] == 1]
    assert len(idle_chunks) > 3
    for _ in range(10):
        twin.one_pass([(2, 5, 40)], True, True, False)
    with monkeypatch.context() as patch:
        twin.compact([], False, patch)
    second = log.read_bytes()
    for record in idle_chunks:
        assert frame_record(record) in second  # not re-encoded: the same bytes, the same CRC
    twin.check()
    twin.compactor.discard()


def test_a_carried_fold_is_not_applied_to_another_file(tmp_path, monkeypatch):
    twin = Twin(tmp_path, 9, [5])
    with monkeypatch.context() as patch:
        twin.compact([], False, patch)
    carried = twin.compactor.carried
    twin.one_pass([(1, 2, 7)], True, True, False)
    # Another file now sits at the path (say RouterLog.open rewrote it): its records are the truth.
    other = tmp_path / "other"
    other.mkdir()
    other_twin = Twin(other, 9, [3, 4])
    os.replace(other_twin.live / FILE_NAME, tmp_path / "live" / FILE_NAME)
    built = build_image(tmp_path / "live" / FILE_NAME, twin.compactor.tmp, 9, False, carried)
    twin.compactor.install(built, (tmp_path / "live" / FILE_NAME).stat().st_size)
    assert snapshot(tmp_path / "live", 9) == snapshot(other_twin.ref, 9)
    twin.compactor.discard()


def test_chunks_are_copied_through_user_space_where_copy_file_range_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(rlc, "CHUNK_BYTES", 200)
    monkeypatch.delattr(os, "copy_file_range")
    twin = Twin(tmp_path, 64, [60, 10])
    for _ in range(3):
        twin.one_pass([(2, 5, 40)], True, True, False)
        with monkeypatch.context() as patch:
            assert twin.compact([], False, patch) == CompactionStep.INSTALLED
        twin.check()
    assert twin.compactor.incremental == 2
    twin.compactor.discard()
