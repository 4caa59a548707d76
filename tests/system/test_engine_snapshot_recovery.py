"""The real engine re-emits the events the router never logged even when a newer snapshot covers them.

The test plays the router (test_engine_process.EngineRun): the engine snapshots every 100 commands
and again at its SIGTERM, so its newest snapshot is at the last command it applied; the "router"
pretends it durably logged only part of the events it consumed, drops the rest and prepares the
ring for a replay from its logged position (SupervisedRing.prepare_replay, as a restarted router
does). The new engine must start from an older kept snapshot and publish exactly the dropped events
again: the stream the router keeps equals an uninterrupted run's, and so does the state digest.
"""

import signal

import test_engine_process
from test_engine_process import EngineRun, make_flow, state_digest, uninterrupted
from udprouter._ring_cffi import lib

from udprouter.engine_link.supervised_ring import SupervisedRing

FLOW = 2000
STOPPED_AT = 1000  # the engine applied and snapshotted this far
LOGGED = 700       # the router logged the reports of commands up to here only
SNAPSHOTS = ("--snapshot-every", "100")

engine_binary = test_engine_process.engine_binary  # the fixtures, shared with that module
runs = test_engine_process.runs


def command_seq(event: bytes) -> int:
    return int.from_bytes(event[:8], "little")


def test_replay_from_below_the_newest_snapshot_re_emits_exactly_the_unlogged_events(runs):
    flow = make_flow(FLOW)
    expected, straight = uninterrupted(runs, flow, *SNAPSHOTS)
    run: EngineRun = runs("router-lagging", *SNAPSHOTS)
    assert run.spawn() == 1
    assert run.run_until_answered(flow[:STOPPED_AT], 0, STOPPED_AT) == STOPPED_AT
    assert run.stop(signal.SIGTERM) == 0
    assert (run.journal / f"snapshot-{STOPPED_AT:020d}.bin").exists(), "the stop snapshot is above LOGGED"

    run.events = [e for e in run.events if command_seq(e) <= LOGGED]  # the router never logged the rest
    run.commands_answered = LOGGED
    SupervisedRing.prepare_replay(run.seg, LOGGED)  # what a restarted router does before the spawn
    assert run.spawn() == STOPPED_AT + 1
    run.run_until_answered(flow, STOPPED_AT, FLOW)
    assert run.stop() == 0

    last_seqs = [command_seq(e) for e in run.events if e[63] & lib.UDR_EVT_FLAG_LAST]
    assert last_seqs == list(range(1, FLOW + 1)), "every command answered once, in order"
    assert run.events == expected
    assert state_digest(run.binary, run.journal) == state_digest(straight.binary, straight.journal)
