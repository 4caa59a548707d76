"""udprouter-publish: the engine's events, from its journal, to a JetStream stream, exactly once.

    udprouter-publish --config router.toml --nats nats://127.0.0.1:4222[,nats://...] [--replicas 3]
                      [--stream UDPROUTER_EXEC] [--engine-id 1] [--window 1024] [--nice 10]

Off the order path: events come from `udprouter-events --follow` (a read-only replay of the
engine's journal), so the router and the engine never wait for the publisher or the broker.

Exactly once, in order:
- At start, the last event of this engine already in the stream (scanning back from the stream's
  last message to the first with our Udr-Engine header) is where the replay resumes, so a crash of
  the publisher, the router or the engine costs neither a gap nor a duplicate: the replay is the
  same events with the same identities.
- The engine keeps the journal the publisher still needs: the publisher writes
  <journal>/downstream.hold (the command_seq through which every event is stored, rewritten
  atomically at most every HOLD_EVERY_S) and the engine's retention keeps a snapshot at or below it
  (journal_store.h). It is the only file the publisher writes there.
- Publishes are pipelined (up to --window unacknowledged) on one connection, which the stream
  stores in order. When an acknowledgement fails (a node or the leader gone), every unacknowledged
  message is sent again in order, with its Nats-Msg-Id = (engine id, command_seq, event_index):
  the stream drops the ones it already stored (duplicate window 10 min, far above a retry).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path

import nats
import nats.errors
import nats.js.errors
from nats.js.api import StreamConfig

from udprouter.config import load_config
from udprouter.downstream.events import (
    FRAME,
    H_COMMAND,
    H_ENGINE,
    H_INDEX,
    STREAM,
    SUBJECTS,
    EventId,
    Outgoing,
    encode,
    events_command,
)
from udprouter.errors import ConfigError

log = logging.getLogger("udprouter.publish")
DUPLICATE_WINDOW_S = 600.0
ACK_TIMEOUT_S = 5.0
RETRY_BACKOFF_S = (0.05, 1.0)  # first and longest wait before sending unacknowledged messages again
HOLD_EVERY_S = 0.25
HOLD_NAME = "downstream.hold"  # engine/include/udprouter/engine/journal_store.h kDownstreamHoldName
SCAN_LIMIT = 100_000  # messages of other engines looked at before giving up on finding our last one


def server_urls(text: str) -> list[str]:
    """--nats: comma-separated server URLs (ConfigError when there is none)."""
    servers = [s.strip() for s in text.split(",") if s.strip()]
    if not servers:
        raise ConfigError("--nats: expected at least one server URL")
    return servers


async def connect(servers: list[str]) -> nats.NATS:
    """A connection that keeps trying every server (a node may be down), saying so in the log."""
    async def error(exc: Exception) -> None:
        log.warning("NATS: %s", exc)

    return await nats.connect(servers=servers, connect_timeout=2, reconnect_time_wait=0.2,
                              max_reconnect_attempts=-1, allow_reconnect=True, error_cb=error)


async def ensure_stream(js, name: str, replicas: int) -> None:
    """Creates the stream if missing (subjects udprouter.exec.> and udprouter.admin.>, file storage,
    10 min dedup window); adds the admin subjects to a stream created before they existed."""
    try:
        info = await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        await js.add_stream(StreamConfig(name=name, subjects=list(SUBJECTS), num_replicas=replicas,
                                         duplicate_window=DUPLICATE_WINDOW_S))
        return
    missing = [s for s in SUBJECTS if s not in (info.config.subjects or [])]
    if missing:
        info.config.subjects = list(info.config.subjects or []) + missing
        await js.update_stream(info.config)


async def last_published(js, stream: str, engine_id: int) -> EventId | None:
    """This engine's newest event in the stream, None when it has none."""
    info = await js.stream_info(stream)
    seq, first = info.state.last_seq, info.state.first_seq
    for _ in range(SCAN_LIMIT):
        if seq < max(first, 1):
            return None
        try:
            msg = await js.get_msg(stream, seq)
        except nats.js.errors.NotFoundError:  # removed by retention meanwhile
            seq -= 1
            continue
        headers = msg.headers or {}
        if headers.get(H_ENGINE) == str(engine_id):
            return EventId(int(headers[H_COMMAND]), int(headers[H_INDEX]))
        seq -= 1
    raise RuntimeError(f"no event of engine {engine_id} in the last {SCAN_LIMIT} messages of {stream}")


class Publisher:
    def __init__(self, config, servers: list[str], stream: str, engine_id: int, replicas: int, window: int,
                 journal: Path) -> None:
        self.config, self.servers, self.stream = config, servers, stream
        self.engine_id, self.replicas, self.window, self.journal = engine_id, replicas, window, journal
        self.published = 0  # acknowledged (stored or duplicate) by this process
        self.last: EventId | None = None
        self.stopping = asyncio.Event()
        self.held_at = 0.0
        self.held_through = -1

    def hold_stale(self) -> bool:
        return (self.last.command_seq - 1 if self.last else 0) != self.held_through

    def hold(self) -> None:
        """Tells the engine's retention what the publisher still needs (the next command's base)."""
        through = self.last.command_seq - 1 if self.last else 0
        self.held_through = through
        self.journal.mkdir(parents=True, exist_ok=True)  # the publisher may start before the engine
        tmp = self.journal / (HOLD_NAME + ".tmp")
        tmp.write_text(f"{through}\n")
        os.replace(tmp, self.journal / HOLD_NAME)
        self.held_at = time.monotonic()

    async def run(self) -> int:
        nc = await connect(self.servers)
        try:
            js = nc.jetstream(timeout=ACK_TIMEOUT_S)
            await self.retry(lambda: ensure_stream(js, self.stream, self.replicas))
            self.last = await self.retry(lambda: last_published(js, self.stream, self.engine_id))
            self.hold()
            args = events_command(self.config, self.journal, self.last, follow=True)
            proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE)
            print(f"PUBLISHING stream={self.stream} engine={self.engine_id} after="
                  f"{self.last.command_seq if self.last else 0}.{self.last.event_index if self.last else -1} "
                  f"events_pid={proc.pid}", flush=True)
            try:
                return await self.pump(js, proc)
            finally:
                if proc.returncode is None:
                    proc.kill()
                await proc.wait()
        finally:
            with contextlib.suppress(Exception):
                await nc.close()

    async def retry(self, call):
        """call() until it succeeds: the cluster may be electing a leader or a node restarting."""
        delay = RETRY_BACKOFF_S[0]
        while True:
            try:
                return await call()
            except (TimeoutError, nats.errors.Error, nats.js.errors.Error) as exc:
                if self.stopping.is_set():
                    raise
                log.warning("JetStream not available (%s); retrying in %.2f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_BACKOFF_S[1])

    async def pump(self, js, proc) -> int:
        pending: collections.deque[tuple[Outgoing, asyncio.Future]] = collections.deque()
        buffer = b""
        reader = asyncio.ensure_future(proc.stdout.read(1 << 16))
        stopper = asyncio.ensure_future(self.stopping.wait())
        try:
            while True:
                waits = {reader, stopper} | ({pending[0][1]} if pending else set())
                # A caught-up publisher rewrites a stale hold after HOLD_EVERY_S even with no new
                # acknowledgement: otherwise the engine keeps journal it no longer needs until the
                # next event comes.
                stale = self.hold_stale()
                done, _ = await asyncio.wait(waits, timeout=HOLD_EVERY_S if stale else None,
                                             return_when=asyncio.FIRST_COMPLETED)
                if stale and time.monotonic() - self.held_at > HOLD_EVERY_S:
                    self.hold()
                while pending and pending[0][1].done():
                    await self.settle(js, pending)
                if stopper in done:
                    while pending:  # everything read is published before a clean stop
                        await self.settle(js, pending)
                    return 0
                if reader in done:
                    chunk = reader.result()
                    if not chunk:
                        while pending:
                            await self.settle(js, pending)
                        await proc.wait()
                        log.error("udprouter-events exited with status %s", proc.returncode)
                        return 1
                    buffer += chunk
                    whole = len(buffer) - len(buffer) % FRAME.size
                    for offset in range(0, whole, FRAME.size):
                        msg = encode(self.engine_id, buffer[offset:offset + FRAME.size])
                        if msg is None:  # a read's answer: not on the stream
                            continue
                        pending.append((msg, await self.send(js, msg)))
                        while len(pending) >= self.window:
                            await self.settle(js, pending)
                    buffer = buffer[whole:]
                    reader = asyncio.ensure_future(proc.stdout.read(1 << 16))
        finally:
            reader.cancel()
            stopper.cancel()
            for _, future in pending:
                future.cancel()

    @staticmethod
    async def send(js, msg: Outgoing) -> asyncio.Future:
        """Publishes without waiting: the acknowledgement resolves the future (one reply
        subscription for all of them, not a request per message)."""
        return await js.publish_async(msg.subject, msg.payload, headers=msg.headers)

    async def settle(self, js, pending) -> None:
        """Waits for the oldest acknowledgement; on failure sends every unacknowledged message again."""
        delay = RETRY_BACKOFF_S[0]
        while True:
            msg, future = pending[0]
            try:
                # The future alone never times out (a node gone takes its acknowledgements with it).
                await asyncio.wait_for(asyncio.shield(future), ACK_TIMEOUT_S)
                pending.popleft()
                self.published += 1
                self.last = msg.event_id
                if time.monotonic() - self.held_at > HOLD_EVERY_S:
                    self.hold()
                return
            except (TimeoutError, nats.errors.Error, nats.js.errors.Error) as exc:
                log.warning("publish of %s failed (%s): sending %d unacknowledged again in %.2f s",
                            msg.headers["Nats-Msg-Id"], exc, len(pending), delay)
                for _, other in pending:
                    other.cancel()
                await asyncio.gather(*(f for _, f in pending), return_exceptions=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_BACKOFF_S[1])
                for i, (queued, _) in enumerate(pending):
                    pending[i] = (queued, await self.send(js, queued))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="udprouter-publish", description=__doc__.split("\n")[0])
    p.add_argument("--config", help="the router's config file (engine instruments, limits, journal dir)")
    p.add_argument("--nats", default="nats://127.0.0.1:4222", help="comma-separated server URLs")
    p.add_argument("--stream", default=STREAM)
    p.add_argument("--replicas", type=int, default=1, help="replicas when the stream is created")
    p.add_argument("--engine-id", type=int, default=1, help="this engine's identity in the stream")
    p.add_argument("--window", type=int, default=1024, help="unacknowledged publishes in flight")
    p.add_argument("--journal", help="the engine's journal directory (default: the config's journal.dir)")
    p.add_argument("--nice", type=int, default=10,
                   help="CPU niceness of the publisher and its replay (order path first on a shared host)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        config = load_config(args.config)
        for name, value, low in (("--replicas", args.replicas, 1), ("--engine-id", args.engine_id, 1),
                                 ("--window", args.window, 1)):
            if value < low:
                raise ConfigError(f"{name}: expected >= {low}, got {value}")
        journal = Path(args.journal or config.journal.dir)
        servers = server_urls(args.nats)
    except ConfigError as exc:
        print(f"udprouter-publish: {exc}", file=sys.stderr)
        return 2
    if args.nice:
        os.nice(args.nice)  # udprouter-events inherits it

    async def run() -> int:
        publisher = Publisher(config, servers, args.stream, args.engine_id, args.replicas, args.window,
                              journal)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, publisher.stopping.set)
        started = time.monotonic()
        status = await publisher.run()
        log.info("published %d events in %.1f s, last %s", publisher.published, time.monotonic() - started,
                 publisher.last)
        return status

    return asyncio.run(run())


if __name__ == "__main__":
    raise SystemExit(main())
