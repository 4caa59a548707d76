"""The real udprouter-engine against a segment created from Python: events, crash recovery, errors.

The test plays the router: it creates the segment and eventfds, spawns the binary with them,
pushes command batches and drains events. A run that is SIGKILLed mid-stream and restarted must
deliver exactly the event stream of an uninterrupted run (no duplicate, no gap) and end in the
same state digest.
"""

import os
import random
import re
import selectors
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from udprouter._ring_cffi import ffi, lib

from tests.system.conftest import fill
from udprouter.ring import ENGINE_READY, ENGINE_STOPPED, RingSegment

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "build" / "engine" / "udprouter-engine"
TICK, MID = 10_000_000, 100_000_000_000
INSTRUMENTS = [f"{sec}:{TICK}:{MID - 1000 * TICK}:{MID + 1000 * TICK}:1000000" for sec in (1, 2, 3)]
CONFIG_ARGS = [a for spec in INSTRUMENTS for a in ("--instrument", spec)] + [
    "--max-orders", "20000", "--max-sessions", "16", "--self-match-prevention"]
DEADLINE_S = 60


@pytest.fixture(scope="module")
def engine_binary() -> Path:
    if not ENGINE.is_file():
        pytest.fail(f"{ENGINE.relative_to(ROOT)} is not built: run `make engine` first")
    return ENGINE


def make_flow(n: int, seed: int = 11) -> list[dict]:
    """Seeded orders that cross often (trades on both sides), with cancels of recent orders."""
    rng = random.Random(seed)
    next_cl: dict[int, int] = {}
    recent: dict[int, list[int]] = {}
    flow = []
    for i in range(n):
        session = rng.randint(1, 4)
        cl = next_cl.get(session, 1)
        next_cl[session] = cl + 1
        mine = recent.setdefault(session, [])
        cancel = rng.randrange(100) < 15 and bool(mine)
        flow.append(dict(
            command_seq=i + 1, cl_ord_id=cl, session_id=session, account=session,
            orig_cl_ord_id=rng.choice(mine[-4:]) if cancel else 0,
            kind=lib.UDR_CMD_CANCEL if cancel else lib.UDR_CMD_NEW_ORDER,
            security_id=rng.randint(1, 3), side=rng.randint(1, 2), ord_type=2,
            time_in_force=3 if rng.randrange(10) == 0 else 0,
            price=MID + rng.randint(-10, 10) * TICK, order_qty=100 * rng.randint(1, 10)))
        mine.append(cl)
    return flow


class EngineRun:
    """One segment + journal directory, served by successive engine processes."""

    def __init__(self, binary: Path, journal: Path, *extra: str, outbound_capacity: int = 1024) -> None:
        self.binary, self.journal, self.extra = binary, journal, list(extra)
        name = f"udr-sys-{os.getpid()}-{uuid.uuid4().hex[:10]}"
        self.seg = RingSegment.create(name, 256, outbound_capacity)
        self.proc: subprocess.Popen | None = None
        self.events: list[bytes] = []
        self.commands_answered = 0
        self._evts = self.seg.new_events(256)

    def spawn(self) -> int:
        seg = self.seg
        self.proc = subprocess.Popen(
            [str(self.binary), "--shm", seg.name, "--inbound-eventfd", str(seg.inbound_eventfd),
             "--outbound-eventfd", str(seg.outbound_eventfd), "--journal", str(self.journal),
             "--durability", "os", "--spin-us", "20", *CONFIG_ARGS, *self.extra],
            pass_fds=(seg.inbound_eventfd, seg.outbound_eventfd),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self._read_ready_line()
        match = re.fullmatch(r"READY next_command_seq=(\d+)\n", line)
        assert match, f"unexpected first line {line!r}"
        assert self.seg.engine_state == ENGINE_READY
        assert self.seg.engine_pid == self.proc.pid
        return int(match.group(1))

    def _read_ready_line(self) -> str:
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 20
        try:
            while time.monotonic() < deadline:
                self.drain()  # replayed events may need room while the engine recovers
                if sel.select(timeout=0.01):
                    return self.proc.stdout.readline().decode()
        finally:
            sel.close()
        raise AssertionError("engine did not print READY within 20 s")

    def drain(self) -> int:
        n = self.seg.poll_events(self._evts, 256)
        raw = bytes(ffi.buffer(self._evts, 64 * n))
        for i in range(n):
            self.events.append(raw[64 * i:64 * i + 64])
            if self._evts[i].flags & lib.UDR_EVT_FLAG_LAST:
                self.commands_answered += 1
        return n

    def push(self, flow: list[dict], start: int, count: int) -> int:
        """Offers flow[start:start+count]; returns how many the ring accepted."""
        cmds = self.seg.new_commands(count)
        for i, fields in enumerate(flow[start:start + count]):
            for name, value in fields.items():
                setattr(cmds[i], name, value)
        accepted = self.seg.offer_commands(cmds, count)
        self.seg.wake_engine_if_sleeping()
        return accepted

    def run_until_answered(self, flow: list[dict], sent: int, until: int) -> int:
        deadline = time.monotonic() + DEADLINE_S
        while self.commands_answered < until and time.monotonic() < deadline:
            if sent < len(flow):
                sent += self.push(flow, sent, min(64, len(flow) - sent))
            if self.drain() == 0:
                time.sleep(0.0005)
        assert self.commands_answered >= until, f"answered {self.commands_answered} of {until}"
        return sent

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        deadline = time.monotonic() + 20
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.drain()
            time.sleep(0.001)
        code = self.proc.wait(timeout=5)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr) if self.proc else ():
            if not stream.closed:
                stream.close()
        self.seg.unlink()
        self.seg.close()


def state_digest(binary: Path, journal: Path) -> str:
    out = subprocess.run([str(binary), "--journal", str(journal), *CONFIG_ARGS, "--print-state-digest"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert re.fullmatch(r"STATE_DIGEST [0-9a-f]{16} last_command_seq=\d+\n", out), out
    return out


@pytest.fixture
def runs(engine_binary, tmp_path):
    made: list[EngineRun] = []

    def make(name: str, *extra: str, outbound_capacity: int = 1024) -> EngineRun:
        run = EngineRun(engine_binary, tmp_path / name, *extra, outbound_capacity=outbound_capacity)
        made.append(run)
        return run

    yield make
    for run in made:
        run.close()


def uninterrupted(runs, flow, *extra) -> tuple[list[bytes], EngineRun]:
    run = runs("straight", *extra)
    assert run.spawn() == 1
    run.run_until_answered(flow, 0, len(flow))
    assert run.stop() == 0
    assert run.seg.engine_state == ENGINE_STOPPED
    return run.events, run


def test_each_command_is_answered_once_with_its_last_event_flagged(runs):
    flow = make_flow(2000)
    events, run = uninterrupted(runs, flow)
    last_seqs = [int.from_bytes(e[:8], "little") for e in events if e[63] & lib.UDR_EVT_FLAG_LAST]
    assert last_seqs == list(range(1, 2001))
    kinds = {e[60] for e in events}
    assert {lib.UDR_EVT_ACCEPTED, lib.UDR_EVT_TRADE, lib.UDR_EVT_CANCELED} <= kinds
    assert run.seg.journaled_through == run.seg.events_through == 2000
    assert state_digest(run.binary, run.journal).endswith("last_command_seq=2000\n")


@pytest.mark.parametrize("snapshot_every", [0, 150])
def test_sigkill_mid_stream_then_restart_delivers_every_event_exactly_once(runs, snapshot_every):
    flow = make_flow(4000)
    extra = ("--snapshot-every", str(snapshot_every)) if snapshot_every else ()
    expected, straight = uninterrupted(runs, flow, *extra)
    run = runs("crashed", *extra)
    sent = 0
    for kill_after in (1000, 2500):
        run.spawn()
        sent = run.run_until_answered(flow, sent, kill_after)
        sent += run.push(flow, sent, min(200, len(flow) - sent))  # in flight when the engine dies
        assert run.stop(signal.SIGKILL) == -signal.SIGKILL
    next_seq = run.spawn()
    assert 2500 < next_seq <= sent + 1
    run.run_until_answered(flow, sent, len(flow))
    assert run.stop() == 0
    assert len(run.events) == len(expected)
    assert run.events == expected
    assert state_digest(run.binary, run.journal) == state_digest(straight.binary, straight.journal)


def test_sigkill_while_snapshots_are_written_in_the_background_loses_nothing(runs):
    # A snapshot every 5 commands keeps the engine's writer thread busy nearly all the time, so the
    # kills land among its writes, renames and removals as well as between them.
    flow = make_flow(3000)
    extra = ("--snapshot-every", "5")
    expected, straight = uninterrupted(runs, flow, *extra)
    run = runs("killed-among-snapshots", *extra)
    sent = 0
    for kill_after in range(300, 2700, 300):
        run.spawn()
        sent = run.run_until_answered(flow, sent, kill_after)
        sent += run.push(flow, sent, min(50, len(flow) - sent))  # in flight when the engine dies
        assert run.stop(signal.SIGKILL) == -signal.SIGKILL
    run.spawn()
    run.run_until_answered(flow, sent, len(flow))
    assert run.stop() == 0
    assert run.events == expected
    assert state_digest(run.binary, run.journal) == state_digest(straight.binary, straight.journal)
    assert not list(run.journal.glob("*.tmp")), "a killed snapshot's temporary file outlived the next start"


def test_sigkill_while_blocked_on_a_full_outbound_ring_neither_repeats_nor_loses_events(runs):
    flow = make_flow(600)
    expected, _ = uninterrupted(runs, flow)
    run = runs("blocked", outbound_capacity=16)
    run.spawn()
    assert run.push(flow, 0, 64) == 64
    deadline = time.monotonic() + 20
    def blocked() -> bool:
        return run.seg.outbound_occupancy == 16 and run.seg.journaled_through == 64

    while time.monotonic() < deadline and not blocked():
        time.sleep(0.001)
    # Journaled, partly published, not finished: the engine waits for the router to drain.
    assert run.seg.journaled_through == 64 and run.seg.events_through == 0
    # Journaled commands need no ring slot: theirs are free before their events go out, so a router
    # that has read a command's reports always finds the room that command took back.
    assert run.seg.inbound_occupancy == 0
    assert run.stop(signal.SIGKILL) == -signal.SIGKILL
    assert run.spawn() == 65
    run.run_until_answered(flow, 64, len(flow))
    assert run.stop() == 0
    assert run.events == expected


def test_terminate_command_stops_the_engine_cleanly_and_a_restart_continues(runs):
    flow = make_flow(300)
    run = runs("terminate")
    run.spawn()
    run.run_until_answered(flow, 0, 300)
    terminate = [dict(command_seq=301, kind=lib.UDR_CMD_TERMINATE)]
    assert run.push(terminate, 0, 1) == 1
    assert run.proc.wait(timeout=20) == 0
    assert run.seg.engine_state == ENGINE_STOPPED
    run.proc.stdout.close()
    run.proc.stderr.close()
    assert run.spawn() == 301
    assert run.stop() == 0


def test_bad_arguments_exit_2_naming_the_option(engine_binary):
    for args, fragment in (
        (["--journal", "/tmp/x", "--bogus", "1"], "unknown option --bogus"),
        (["--durability", "maybe"], "'maybe' for --durability"),
        (["--journal", "/tmp/x", *CONFIG_ARGS], "missing --shm"),
    ):
        done = subprocess.run([str(engine_binary), *args], capture_output=True, text=True, timeout=10)
        assert done.returncode == 2
        assert fragment in done.stderr
        assert "usage: udprouter-engine" in done.stderr


def test_missing_segment_is_refused_with_a_clear_message(engine_binary, tmp_path):
    done = subprocess.run(
        [str(engine_binary), "--shm", f"udr-absent-{uuid.uuid4().hex}", "--inbound-eventfd", "0",
         "--outbound-eventfd", "0", "--journal", str(tmp_path / "j"), *CONFIG_ARGS],
        capture_output=True, text=True, timeout=10)
    assert done.returncode == 1
    assert "cannot attach ring segment" in done.stderr and "No such file" in done.stderr


def test_segment_with_a_wrong_magic_is_refused(runs):
    run = runs("magic")
    run.seg.raw_buffer()[0:8] = b"NOTARING"
    seg = run.seg
    done = subprocess.run(
        [str(run.binary), "--shm", seg.name, "--inbound-eventfd", str(seg.inbound_eventfd),
         "--outbound-eventfd", str(seg.outbound_eventfd), "--journal", str(run.journal), *CONFIG_ARGS],
        pass_fds=(seg.inbound_eventfd, seg.outbound_eventfd), capture_output=True, text=True, timeout=10)
    assert done.returncode == 1
    assert "magic is not UDPRRING" in done.stderr



def test_full_disk_holds_commands_unjournaled_until_space_returns(runs, small_disk):
    """The journal's filesystem fills up mid-stream: the engine neither fails nor applies a command
    it could not journal (no torn record either); once space returns it goes on by itself, and the
    event stream and final state equal an uninterrupted run's."""
    flow = make_flow(3000)
    expected, straight = uninterrupted(runs, flow)
    run = EngineRun(straight.binary, small_disk / "journal")
    try:
        run.spawn()
        sent = run.run_until_answered(flow, 0, 300)
        filler = fill(small_disk, 0)
        deadline = time.monotonic() + DEADLINE_S
        # Raw reads of the descriptor, not readline(): the engine's stderr holds other lines (its
        # ready line), and a buffered readline() can take two lines from the pipe at once and
        # return only the first, leaving the one awaited where select() never sees it.
        stderr, fd = b"", run.proc.stderr.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"journal write failed" not in stderr:
                assert time.monotonic() < deadline, f"the engine never met the full disk: {stderr!r}"
                assert run.proc.poll() is None, "the engine exited on the full disk"
                if sent < len(flow):
                    sent += run.push(flow, sent, min(64, len(flow) - sent))
                run.drain()
                if sel.select(timeout=0.001):
                    stderr += os.read(fd, 65536)
        assert run.proc.poll() is None and run.seg.engine_state == ENGINE_READY
        held = run.seg.journaled_through
        assert run.seg.events_through <= held < sent  # nothing applied beyond what is journaled
        filler.unlink()
        run.run_until_answered(flow, sent, len(flow))
        assert run.stop() == 0
        assert run.events == expected
        assert state_digest(run.binary, run.journal) == state_digest(straight.binary, straight.journal)
    finally:
        run.close()
