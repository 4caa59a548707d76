"""Router log compaction: CPU a compaction costs per MB appended, the worker's fold + image write.

    python -m bench.bench_compaction [--quick] [--json]

A log like the one the UDP benchmark leaves: 4 sessions whose retransmission buffers are full (65536
frames of 64 bytes each, so the image is about 17 MB; and a 1-session scenario, a 4 MB image, where
the 16 MB threshold sets the bytes appended per compaction), the last one trading: per loop pass
a before-offer record and a commit record with FRAMES_PER_PASS frames (router logs of max20 runs hold
300-1200 per commit). Each round appends what triggers a compaction (max(journal.router_log_compact_bytes,
image size)), then measures on that same file, in this thread, what the worker thread would spend
(time.thread_time: CPU, including the syscalls of its GIL-slice sleeps, not the time asleep):
  decoded full fold   the worker before the incremental fold (its in-run baseline, inlined below):
                      decode every record of the whole file into a RecoveredState, encode the image
                      frame by frame
  raw full fold       build_image without a carried fold: the whole file, frames left undecoded
                      (the first compaction of a life, and the one after a failed compaction)
  incremental         build_image with the fold carried from the previous round's install: only the
                      records appended since; the last image's chunks still whole copied from
                      the installed file by copy_file_range (kernel CPU, counted)
and installs the incremental one (the next round resumes from it). Figure: CPU ms per MB appended,
median over the rounds; ratio = figure / baseline (below 1 is the saving). Every round checks that
the installed log replays to the state the uncompacted file replays to.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.module_cli import module_main, print_entries
from udprouter import router_log as rl
from udprouter.router_log_compactor import RouterLogCompactor, _Slicer, build_image

CAPACITY = 65536
SCENARIOS = {"4 full buffers": 4, "1 full buffer": 1}  # sessions; the last one trades
FRAME_BYTES = 64
FRAMES_PER_PASS = 500
COMPACT_BYTES = 16 << 20  # journal.router_log_compact_bytes default
OLD_CHUNK_FRAMES = 512


def frame(i: int) -> bytes:
    return i.to_bytes(8, "little") * (FRAME_BYTES // 8) + bytes(FRAME_BYTES % 8)


class Log:
    """A router.log written the way RouterLog writes it, without the sessions around it."""

    def __init__(self, directory: Path, sessions: int) -> None:
        self.path = directory / rl.FILE_NAME
        self.command_through = 0
        self.next_seq = {sid: CAPACITY + 1 for sid in range(1, sessions + 1)}
        self.pool = [frame(i) for i in range(4096)]
        full = [(sid, 1, 0, 0, CAPACITY + 1, self.pool * (CAPACITY // len(self.pool)))
                for sid in self.next_seq]
        with open(self.path, "wb") as f:
            for record in rl.image_records(0, 0, (0, 0), full):
                f.write(rl.frame_record(record))

    def append(self, nbytes: int) -> None:
        sid = len(self.next_seq)  # the one trading session
        out = bytearray()
        while len(out) < nbytes:
            self.command_through += FRAMES_PER_PASS // 2
            ct = self.command_through
            out += rl.frame_record(rl.PassRecord(True, ct, ct - 1, 0, 0, [(sid, ct, ct, 5)], []))
            first = self.next_seq[sid]
            frames = [self.pool[(first + k) % len(self.pool)] for k in range(FRAMES_PER_PASS)]
            self.next_seq[sid] = first + FRAMES_PER_PASS
            out += rl.frame_record(rl.PassRecord(False, ct, ct, 0, 0, [], [(sid, first, frames)]))
        with open(self.path, "ab") as f:
            f.write(out)


def decoded_full_fold(path: Path, tmp: Path) -> None:
    """The worker before this change: every record decoded and folded, the image encoded per frame."""
    slicer = _Slicer()  # it held the interpreter in slices too
    data = path.read_bytes()
    state = rl.RecoveredState(CAPACITY)
    for record, _ in rl.scan_records(data):
        state.apply(record)
        slicer.tick()
    sessions = ((sid, s.next_inbound, s.cl_ord_hwm, s.open_orders, s.next_outbound, s.kept)
                for sid, s in sorted(state.sessions.items()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for record in rl.image_records(state.command_through, state.done_through, state.partial,
                                       sessions, OLD_CHUNK_FRAMES):
            rl.write_all(fd, rl.frame_record(record))
            slicer.tick()
        if state.unconfirmed is not None:
            rl.write_all(fd, rl.frame_record(state.unconfirmed))
    finally:
        os.close(fd)


def cpu(fn, *args):
    began = time.thread_time()
    result = fn(*args)
    return time.thread_time() - began, result


def snapshot(state: rl.RecoveredState) -> tuple:
    return (state.command_through, state.done_through, state.partial, state.unconfirmed,
            {sid: (s.next_inbound, s.cl_ord_hwm, s.open_orders, s.next_outbound, list(s.kept))
             for sid, s in state.sessions.items()})


def run(quick: bool) -> list[dict]:
    entries = []
    for scenario, sessions in SCENARIOS.items():
        per_mb, image_bytes = measure(sessions, 5 if quick else 11)
        baseline = statistics.median(per_mb["decoded full fold"])
        for name, values in per_mb.items():
            figure = statistics.median(values)
            entries.append({"name": f"compaction {name}, {scenario} ({image_bytes / 1e6:.0f} MB image)",
                            "figure": round(figure * 1e3, 2), "unit": "CPU ms per MB appended",
                            "baseline_name": "decoded full fold", "baseline": round(baseline * 1e3, 2),
                            "ratio": round(figure / baseline, 3), "rounds": len(values)})
    return entries


def measure(sessions: int, rounds: int) -> tuple[dict[str, list[float]], int]:
    """CPU seconds per MB appended of each way, one value per round; and the last image's size."""
    per_mb: dict[str, list[float]] = {"decoded full fold": [], "raw full fold": [], "incremental": []}
    with tempfile.TemporaryDirectory(prefix="bench-compaction-") as work:
        directory = Path(work)
        log = Log(directory, sessions)
        compactor = RouterLogCompactor(log.path, CAPACITY, "os")
        scratch = directory / "scratch"
        image_bytes = log.path.stat().st_size
        for r in range(rounds + 1):  # round 0 folds the opening image whole: it sets up the carry
            size_before = log.path.stat().st_size
            log.append(max(COMPACT_BYTES, image_bytes))
            appended_mb = (log.path.stat().st_size - size_before) / 1e6
            expected = snapshot(rl.replay(directory, CAPACITY))
            carried = compactor.carried
            assert (carried is not None) == (r > 0)
            runs = {"decoded full fold": (decoded_full_fold, log.path, scratch),
                    "raw full fold": (build_image, log.path, scratch, CAPACITY, False),
                    "incremental": (build_image, log.path, compactor.tmp, CAPACITY, False, carried)}
            for name in list(runs)[r % 3:] + list(runs)[:r % 3]:  # each goes first in turn
                if r or name == "incremental":
                    seconds, result = cpu(*runs[name])
                    if r:
                        per_mb[name].append(seconds / appended_mb)
                    if name == "incremental":
                        built = result
            compactor.install(built, log.path.stat().st_size)  # after all three read the same file
            image_bytes = built.image_bytes
            assert snapshot(rl.replay(directory, CAPACITY)) == expected, f"round {r}: state differs"
    return per_mb, image_bytes


def main(argv: list[str] | None = None) -> int:
    def run_and_print(quick: bool) -> list[dict]:
        entries = run(quick)
        print_entries(entries)
        return entries

    return module_main(run_and_print, "router log compaction CPU per MB appended", argv)


if __name__ == "__main__":
    sys.exit(main())
