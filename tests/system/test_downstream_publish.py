"""The engine's events on NATS JetStream, exactly once: a seeded run's every event in an R1 stream,
in engine order, each identified by (engine id, command_seq, event_index), against the reports the
clients received (the oracle); the publisher, the router and the engine each SIGKILLed mid-stream
and the stream still exact."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.system.downstream_checks import (
    PublisherProcess,
    assert_stream_exact,
    read_stream,
    seeded_flow,
    wait_for_stream_count,
)
from udprouter.downstream.local import NatsServer

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
