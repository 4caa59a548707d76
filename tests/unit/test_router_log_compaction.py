"""RouterLog compaction off the loop: the worker's image plus the records appended meanwhile replay
to the same state as the uncompacted log; a crash at each step (worker writing, tail copied, renamed)
leaves a log that recovers that state; a failed worker leaves the old log and is retried; the loop's
share of a compaction is timed."""

import os
import shutil
import signal
from pathlib import Path

import pytest

from tests.unit.router_log_faults import write_then_fail
from udprouter.config import KeyConfig
from udprouter.router_log import FILE_NAME, RECORD_HEADER, RouterLog, frame_record, read_records, replay
from udprouter.router_log_compactor import COMPACTION_NICE, CompactionStep, build_image, valid_length
from udprouter.server_session import ServerSession, not_applied_frame

KEY = KeyConfig(key_id="k", secret="s", account=7)
CAPACITY = 64
NEVER = 1 << 40


def make_sessions(log: RouterLog, n: int) -> list[ServerSession]:
    sessions = []
    for sid in range(1, n + 1):
        session = ServerSession(bytes([sid]) * 16, sid, KEY, ("127.0.0.1", 40000 + sid), CAPACITY)
        log.attach(session)
        sessions.append(session)
    return sessions


def one_pass(log: RouterLog, sessions: list[ServerSession], i: int) -> None:
    """Pass i: every session gets one message in and (i % 5) + 1 frames out; commands 1 per message."""
    for s in sessions:
        s.accept_inbound(s.next_inbound, 1)
        s.ctx.cl_ord_hwm = 100 * i + s.session_id
    through = (i + 1) * len(sessions)
    log.before_offer(through)
    for s in sessions:
        s.pending.extend(not_applied_frame(1000 * i + k, 1) for k in range(i % 5 + 1))
        s.flush()
    log.commit(through, (through, 1) if i % 3 else (0, 0))


def state_of(directory) -> tuple:
    state = replay(directory, CAPACITY)
    assert state.cut_bytes == 0
    sessions = {sid: (s.next_inbound, s.cl_ord_hwm, s.open_orders, s.next_outbound, list(s.kept))
                for sid, s in state.sessions.items()}
    return state.command_through, state.done_through, state.partial, sessions


def reference_state(tmp_path, passes: int, n_sessions: int) -> tuple:
    """The same passes written to a log that never compacts after its opening image."""
    directory = tmp_path / "reference"
    shutil.rmtree(directory, ignore_errors=True)
    log = RouterLog(directory, "os", CAPACITY, compact_bytes=NEVER)
    sessions = make_sessions(log, n_sessions)
    log.open()
    for i in range(passes):
        one_pass(log, sessions, i)
    log.close()
    return state_of(directory)


def test_background_compaction_with_appends_in_flight_replays_to_the_uncompacted_state(tmp_path):
    directory = tmp_path / "compacted"
    log = RouterLog(directory, "fsync", CAPACITY, compact_bytes=2048)
    sessions = make_sessions(log, 3)
    log.open()
    opened = log.compactions  # the opening image
    installed_with_tail = 0
    for i in range(120):
        one_pass(log, sessions, i)
        if log.compactor.in_flight and i % 4 == 3:  # some passes append while the worker runs
            before = log.compactions
            log.wait_compaction(timeout=10)
            installed_with_tail += log.compactions - before
    log.wait_compaction(timeout=10)
    assert log.compactions - opened >= 3 and installed_with_tail >= 1
    assert not (directory / (FILE_NAME + ".tmp")).exists()
    assert state_of(directory) == reference_state(tmp_path, 120, 3)
    log.close()
    assert state_of(directory) == reference_state(tmp_path, 120, 3)


def test_a_crash_at_each_step_of_the_install_leaves_a_log_that_recovers_the_state(tmp_path):
    directory = tmp_path / "live"
    log = RouterLog(directory, "fsync", CAPACITY, compact_bytes=2048)
    sessions = make_sessions(log, 3)
    log.open()
    crashed: dict[str, object] = {}

    def crash_here(step: str) -> None:  # the files a SIGKILL at this moment leaves on disk
        copy = tmp_path / f"crash-{step}"
        shutil.copytree(directory, copy)
        crashed[step] = copy

    log.compactor.step_hook = crash_here
    opened, passes = log.compactions, 0
    while log.compactions == opened and passes < 200:
        one_pass(log, sessions, passes)
        passes += 1
        if log.compactor.in_flight:
            one_pass(log, sessions, passes)  # appended after the worker may have read the file
            passes += 1
            log.wait_compaction(timeout=10)
    assert log.compactions == opened + 1 and set(crashed) == {"built", "tail_copied", "renamed"}
    expected = reference_state(tmp_path, passes, 3)
    for step, copy in crashed.items():
        assert state_of(copy) == expected, step
    # The worker killed while writing: any prefix of the temporary file next to the old log.
    built = crashed["built"]
    image = (built / (FILE_NAME + ".tmp")).read_bytes()
    for cut in (0, 1, len(image) // 3, len(image) - 1):
        (built / (FILE_NAME + ".tmp")).write_bytes(image[:cut])
        assert state_of(built) == expected
    log.close()


def test_worker_stops_at_a_record_being_written_and_install_copies_the_rest(tmp_path):
    log = RouterLog(tmp_path, "os", CAPACITY, compact_bytes=NEVER)
    sessions = make_sessions(log, 2)
    log.open()
    for i in range(10):
        one_pass(log, sessions, i)
    path = tmp_path / FILE_NAME
    whole = path.read_bytes()
    one_pass(log, sessions, 10)
    grown = path.read_bytes()
    torn = len(whole) + RECORD_HEADER.size + 3  # the loop is in the middle of writing a record
    path.write_bytes(grown[:torn])
    built = build_image(path, path.with_name(FILE_NAME + ".tmp"), CAPACITY, sync=False)
    assert built.consumed == len(whole) == valid_length(grown[:torn])
    path.write_bytes(grown)  # the write completed
    size = log.compactor.install(built, len(grown))
    assert size == path.stat().st_size
    assert state_of(tmp_path) == reference_state(tmp_path, 11, 2)
    log.close()


def test_a_trailing_write_ahead_record_stays_undecided_in_the_image(tmp_path):
    log = RouterLog(tmp_path, "os", CAPACITY, compact_bytes=NEVER)
    (session,) = make_sessions(log, 1)
    log.open()
    one_pass(log, [session], 0)
    session.accept_inbound(session.next_inbound, 3)
    log.before_offer(4)  # SIGKILL before the offer, or after: recovery asks the ring
    log.close()
    path = tmp_path / FILE_NAME
    built = build_image(path, path.with_name(FILE_NAME + ".tmp"), CAPACITY, sync=False)
    log.compactor.install(built, path.stat().st_size)
    records, _ = read_records(path.read_bytes())
    assert records[-1].before_offer and records[-1].command_through == 4
    assert not replay(tmp_path, CAPACITY).confirm(published_through=1)
    assert replay(tmp_path, CAPACITY).confirm(published_through=4)


def test_a_failed_worker_leaves_the_old_log_and_is_retried_after_another_threshold(tmp_path):
    log = RouterLog(tmp_path, "os", CAPACITY, compact_bytes=2048)
    sessions = make_sessions(log, 2)
    log.open()
    tmp = tmp_path / (FILE_NAME + ".tmp")
    tmp.mkdir()  # the worker cannot create its file
    opened, i = log.compactions, 0
    while not log.compactor.in_flight:
        one_pass(log, sessions, i)
        i += 1
    assert log.wait_compaction(timeout=10) == CompactionStep.FAILED
    assert log.compactor.failures == 1 and isinstance(log.compactor.last_error, OSError)
    tmp.rmdir()
    one_pass(log, sessions, i)
    assert not log.compactor.in_flight  # not at once: after another compact_bytes
    for last in range(i + 1, i + 40):
        one_pass(log, sessions, last)
        if log.wait_compaction(timeout=10) == CompactionStep.INSTALLED:
            break
    assert log.compactions == opened + 1
    log.close()
    assert state_of(tmp_path) == reference_state(tmp_path, last + 1, 2)


def test_close_with_a_compaction_in_flight_keeps_the_complete_old_log(tmp_path):
    log = RouterLog(tmp_path, "os", CAPACITY, compact_bytes=2048)
    sessions = make_sessions(log, 2)
    log.open()
    i = 0
    while not log.compactor.in_flight:
        one_pass(log, sessions, i)
        i += 1
    log.close()
    assert not (tmp_path / (FILE_NAME + ".tmp")).exists()
    assert state_of(tmp_path) == reference_state(tmp_path, i, 2)


def test_the_loop_share_of_each_compaction_is_timed(tmp_path):
    log = RouterLog(tmp_path, "os", CAPACITY, compact_bytes=2048)
    sessions = make_sessions(log, 2)
    log.open()
    opened = log.compactions
    for i in range(60):
        one_pass(log, sessions, i)
        log.wait_compaction(timeout=10)
    assert log.compactions - opened >= 2
    assert len(log.compaction_loop_ns) == 2 * (log.compactions - opened)  # one start and one install each
    assert all(ns > 0 for ns in log.compaction_loop_ns)
    log.close()


def test_frame_records_are_whole_records_for_the_scan(tmp_path):
    log = RouterLog(tmp_path, "os", CAPACITY)
    log.open()
    log.close()
    data = (tmp_path / FILE_NAME).read_bytes()
    extra = frame_record(read_records(data)[0][0])
    assert valid_length(data + extra) == len(data) + len(extra)
    assert valid_length(data + extra[:-1]) == len(data)


class LiveLog:
    """A RouterLog with three attached sessions, driven pass by pass (one_pass)."""

    def __init__(self, directory: Path, durability: str, timeout: float, **options) -> None:
        self.log = RouterLog(directory, durability, CAPACITY, compact_bytes=2048, **options)
        self.sessions = make_sessions(self.log, 3)
        self.log.open()
        self.passes = 0  # the number of the next pass
        self.timeout = timeout

    def run_pass(self) -> None:
        one_pass(self.log, self.sessions, self.passes)
        self.passes += 1
        self.log.wait_compaction(timeout=self.timeout)

    def run_until_installed(self, max_passes: int = 200) -> None:
        """Runs passes until one more compaction is installed."""
        before = self.log.compactions
        for _ in range(max_passes):
            self.run_pass()
            if self.log.compactions > before:
                return
        raise AssertionError("no compaction installed")


@pytest.mark.parametrize("durability", ["os", "fsync"])
def test_router_log_compactions_with_a_failure_and_a_reopen_in_between(tmp_path, durability, monkeypatch):
    """The RouterLog path: threshold-started compactions resume the carried fold; a failed one
    drops it (the next folds the whole log); close and open start afresh; replay matches."""
    directory = tmp_path / "live"
    live = LiveLog(directory, durability, timeout=10)
    log = live.log
    for _ in range(3):
        live.run_until_installed()
    assert log.compactor.incremental >= 2 and log.compactor.carried is not None
    # A worker that dies after folding into the carried state: the old log stays, the fold goes.
    monkeypatch.setattr("udprouter.router_log_compactor._write_records", write_then_fail)
    for _ in range(200):  # the failure is taken by a commit or by the wait, whichever comes first
        live.run_pass()
        if log.compactor.failures:
            break
    monkeypatch.undo()
    assert log.compactor.failures == 1
    assert log.compactor.carried is None
    incremental = log.compactor.incremental
    live.run_until_installed()
    assert log.compactor.incremental == incremental  # folded the whole log
    live.run_until_installed()
    assert log.compactor.incremental == incremental + 1
    assert state_of(directory) == reference_state(tmp_path, live.passes, 3)
    log.close()
    assert log.compactor.carried is None
    log.open()  # reopen: a fresh opening image, nothing carried over
    assert log.compactor.carried is None
    live.run_until_installed()
    live.run_until_installed()
    assert state_of(directory) == reference_state(tmp_path, live.passes, 3)
    log.close()


def test_compactions_in_a_process_of_their_own_resume_the_fold_and_replay_the_same(tmp_path):
    """The router's mode: the worker is a spawned process keeping the carried fold between
    compactions; the installed log replays to the state of the uncompacted records; a worker that
    dies is replaced and its next compaction folds the whole log."""
    directory = tmp_path / "live"
    live = LiveLog(directory, "os", timeout=30, compaction_process=True)
    log = live.log
    try:
        for _ in range(3):
            live.run_until_installed()
        assert log.compactor.incremental >= 2  # every one after the first resumed the worker's fold
        assert state_of(directory) == reference_state(tmp_path, live.passes, 3)
        worker_pids = set(log.compactor._executor._processes)
        assert worker_pids and os.getpid() not in worker_pids  # not this interpreter
        assert {os.getpriority(os.PRIO_PROCESS, pid) for pid in worker_pids} == {COMPACTION_NICE}
        for pid in worker_pids:  # the worker dies while idle: the next compaction gets a new one
            os.kill(pid, signal.SIGKILL)
        live.run_until_installed()
        live.run_until_installed()
        assert worker_pids.isdisjoint(log.compactor._executor._processes)
        assert state_of(directory) == reference_state(tmp_path, live.passes, 3)
    finally:
        log.close()
