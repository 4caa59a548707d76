"""The engine's events on NATS JetStream, exactly once: a seeded run's every event in an R1 stream,
in engine order, each identified by (engine id, command_seq, event_index), against the reports the
clients received (the oracle); the publisher, the router and the engine each SIGKILLed mid-stream
and the stream still exact."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import nats
import pytest

from tests.system.downstream_checks import (
    PublisherProcess,
    assert_stream_exact,
    read_stream,
    seeded_flow,
    wait_for_stream_count,
)
from tests.system.test_router_crash import engine_pids, kill_and_restart
from udprouter.downstream.events import STREAM
from udprouter.downstream.local import NatsCluster, NatsServer

SEED = 16
ROUNDS = 30


@pytest.fixture
def nats_server(tmp_path):
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()


@pytest.fixture
def publishers(tmp_path):
    started: list[PublisherProcess] = []

    def start(router, urls, *extra) -> PublisherProcess:
        work = tmp_path / f"pub{len(started)}"
        work.mkdir()
        started.append(PublisherProcess(work, router, urls, *extra).start())
        return started[-1]

    yield start
    for pub in started:
        pub.stop()


async def test_every_event_exactly_once_in_an_r1_stream(router, nats_server, publishers):
    publisher = publishers(router, nats_server.url)
    reports = await seeded_flow(router, SEED, ROUNDS)
    total = sum(len(r) for r in reports.values())
    assert total > 200
    assert await wait_for_stream_count(nats_server.url, total) == total, publisher.log.read_text()[-2000:]
    assert_stream_exact(await read_stream(nats_server.url), reports)


async def test_publisher_killed_mid_stream_resumes_from_the_stream(router, nats_server, publishers):
    pubs = [publishers(router, nats_server.url)]
    stored = [0]

    async def kill_publisher(r: int) -> None:
        if r in (6, 15, 22):  # SIGKILL once it has published more, then a new one resumes from the stream
            # Started first: the killed one's last publishes can still land in the stream after its
            # kill, so the count alone may grow before the new one has found its place.
            await asyncio.to_thread(pubs[-1].wait_publishing)
            stored.append(await wait_for_stream_count(nats_server.url, stored[-1] + 1))
            pubs[-1].stop(signal.SIGKILL)
            pubs.append(publishers(router, nats_server.url))

    reports = await seeded_flow(router, SEED + 1, ROUNDS, kill_publisher)
    total = sum(len(r) for r in reports.values())
    assert await wait_for_stream_count(nats_server.url, total) == total
    await asyncio.sleep(0.5)  # nothing more may arrive: a duplicate would show up in the count
    messages = await read_stream(nats_server.url)
    assert_stream_exact(messages, reports)
    for pub in pubs[1:]:
        assert "PUBLISHING" in pub.log.read_text()
        assert " after=0.-1 " not in pub.log.read_text(), "every later publisher resumed from the stream"


async def test_router_and_engine_killed_mid_stream_leave_the_stream_exact(router, nats_server, publishers):
    """The router SIGKILLed (its engine dies with it) and restarted on its journal, and the engine
    SIGKILLed alone (the router restarts it): the stream is still every event exactly once."""
    publisher = publishers(router, nats_server.url)
    stored = [0]

    async def kill(r: int) -> None:
        if r not in (5, 12, 19, 26):
            return
        stored.append(await wait_for_stream_count(nats_server.url, stored[-1] + 1))
        if r in (5, 19):
            kill_and_restart(router)
        else:
            (pid,) = engine_pids(router)
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while engine_pids(router) in ([], [pid]):
                assert time.monotonic() < deadline, "the router did not restart its engine"
                await asyncio.sleep(0.02)

    reports = await seeded_flow(router, SEED + 2, ROUNDS, kill)
    total = sum(len(r) for r in reports.values())
    assert await wait_for_stream_count(nats_server.url, total) == total, publisher.log.read_text()[-2000:]
    await asyncio.sleep(0.5)
    assert_stream_exact(await read_stream(nats_server.url), reports)


async def test_r3_cluster_with_the_leader_killed_mid_stream(router, tmp_path, publishers):
    """Three nats-server nodes on loopback, an R3 stream; its leader SIGKILLed mid-stream: the two
    left elect a new one, the publisher sends its unacknowledged messages again (deduplicated), and
    the stream read back from the survivors is every event exactly once."""
    cluster = NatsCluster(tmp_path / "cluster").start()
    try:
        publisher = publishers(router, cluster.urls, "--replicas", "3")
        stored = [0]

        async def kill_leader(r: int) -> None:
            if r != 10:
                return
            stored.append(await wait_for_stream_count(cluster.urls, 1))
            leader = await stream_leader(cluster.urls)
            (node,) = [n for n in cluster.nodes if n.name == leader]
            node.stop(signal.SIGKILL)

        reports = await seeded_flow(router, SEED + 3, ROUNDS, kill_leader)
        survivors = ",".join(n.url for n in cluster.nodes if n.proc.poll() is None)
        assert len(survivors.split(",")) == 2
        total = sum(len(r) for r in reports.values())
        assert await wait_for_stream_count(survivors, total) == total, publisher.log.read_text()[-3000:]
        await asyncio.sleep(0.5)
        assert_stream_exact(await read_stream(survivors), reports)
    finally:
        cluster.stop()


async def stream_leader(urls: str) -> str:
    nc = await nats.connect(servers=urls.split(","), connect_timeout=2)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            info = await nc.jetstream(timeout=5).stream_info(STREAM)
            if info.cluster and info.cluster.leader:
                return info.cluster.leader
            await asyncio.sleep(0.1)
        raise AssertionError("the R3 stream has no leader")
    finally:
        await nc.close()


def read_hold(journal: Path) -> int:
    """The publisher's downstream.hold (0 while there is none)."""
    try:
        return int((journal / "downstream.hold").read_text())
    except (FileNotFoundError, ValueError):
        return 0


async def test_snapshots_and_new_segments_with_publishers_killed(start_router, nats_server, publishers):
    """The engine snapshots every 40 commands (a new journal segment each time, old ones pruned):
    the replay follows from segment to segment, the publisher's hold keeps what it still needs
    while it is dead, and a publisher started after a kill resumes from a snapshot base, accounts of
    resting orders included (a later trade names the resting side's account even when that session
    sent nothing since the snapshot)."""
    router = start_router("[journal]\nsnapshot_every = 40\n")
    pubs = [publishers(router, nats_server.url).wait_publishing()]
    stored = [0]

    async def kill_publisher(r: int) -> None:
        if r in (10, 21):
            stored.append(await wait_for_stream_count(nats_server.url, stored[-1] + 1))
            pubs[-1].stop(signal.SIGKILL)
            pubs.append(publishers(router, nats_server.url))
        if r == 24:
            # Retention runs when a snapshot is written and keeps what the hold still needs: the
            # oldest segment can go only at a snapshot taken once the publisher has passed the
            # first snapshot. The new publisher may still be starting (the flow does not wait for
            # it), so wait for its hold here; the rounds left write more snapshots.
            first = min(int(p.stem.split("-")[1]) for p in router.journal.glob("snapshot-*.bin"))
            deadline = time.monotonic() + 60
            while read_hold(router.journal) < first:
                assert time.monotonic() < deadline, f"the publisher's hold never passed snapshot {first}"
                await asyncio.sleep(0.05)

    reports = await seeded_flow(router, SEED + 4, ROUNDS, kill_publisher)
    assert len(list(router.journal.glob("snapshot-*.bin"))) >= 1
    segments = sorted(int(p.stem.split("-")[1]) for p in router.journal.glob("journal-*.log"))
    assert segments[0] > 1, "retention removed the oldest segments (once the publisher had them)"
    total = sum(len(r) for r in reports.values())
    assert await wait_for_stream_count(nats_server.url, total) == total, pubs[-1].log.read_text()[-2000:]
    await asyncio.sleep(0.5)
    assert_stream_exact(await read_stream(nats_server.url), reports)
