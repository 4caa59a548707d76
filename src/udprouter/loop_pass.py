"""LoopPass: the one owner of the router's loop pass, from the engine's events to the datagrams sent.

A pass ends the same way whoever started it: the batch of commands is offered to the ring (one
offer), the outbound ring is drained and its events routed into the sessions' frames, every session
with frames is flushed, the router log commits those frames (a frame leaves only once logged, so
the logged event routing position matches the logged frames exactly), and then the pass's
datagrams leave in one send (one sendmmsg on the fast path).

The server opens a pass when the socket is readable and ends it after reading; the engine's
eventfd (on_engine_events), the timer and the stop's drain run passes through the same methods.
In the common case each half of a pass is one C call: FastIngest.read takes the datagrams from the
socket to the ring (write-ahead record first, read_in_c counts it here), and drain_step takes the
engine's events to the socket (router log record first, fastpath/answer_pass.h); Python then keeps
the frames and the counters. Whatever C does not take goes the Python way below, which stays the
reference for every reply.
The dispatcher sends through send(): replies made outside a pass (a gRPC call, the timer, the
Admin API) end one by themselves one loop iteration later. RouterRecovery hands over the router
log it opened (use_log); with durability none there is none and replies go out as they are made.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from udprouter._generated.messages import MAX_DATAGRAM_SIZE, MAX_MESSAGES_PER_DATAGRAM
from udprouter._ring_cffi import ffi, lib
from udprouter.dispatcher import Dispatcher
from udprouter.durability.router_log import C_RECORD_FRAMES, RouterLog
from udprouter.engine_link.engine_supervisor import EngineSupervisor
from udprouter.fastpath.fast_io import DatagramSocket
from udprouter.fastpath.low_rate_spin import RateWindow
from udprouter.order_entry import DRAIN_CAPACITY, OrderEntry
from udprouter.ring import INPUT_ARRIVED

Send = Callable[[bytes, object], None]
REARM_TRIES = 16  # drains while re-announcing the router's sleep before yielding to the loop
assert DRAIN_CAPACITY <= C_RECORD_FRAMES, "a drained batch's record must fit RouterLog.reply_record"


class LoopPass:
    def __init__(self, order_entry: OrderEntry, dispatcher: Dispatcher, supervisor: EngineSupervisor) -> None:
        self.order_entry = order_entry
        self.dispatcher = dispatcher
        self.supervisor = supervisor  # its ring: the events drained and the router's sleep announced
        self.log: RouterLog | None = None
        self.socket: DatagramSocket | None = None  # the fast path's socket: its sends wait for flush()
        self._send: Send = _unsent  # the socket's send (or the capture's), from start()
        self._started = False
        self._schedule: Callable[[Callable[[], object]], object] = lambda callback: None
        self._outbox: list[tuple[bytes, object]] = []  # replies waiting for the log commit
        self._durable: list[asyncio.Future] = []  # gRPC answers waiting for the log commit (durable())
        self._in_pass = False  # a pass is open: its end commits and sends, nothing to schedule
        self._commit_scheduled = False
        self._drain_scheduled = False
        self._closed = False  # stopping: the log is closed, nothing more is journaled
        self.answer_wait_ns = 0  # a pass that offered commands waits this long for their events
        self.answer_waits = 0  # passes that waited ...
        self.answer_waits_skipped = 0  # passes at the busy rate that offered to a sleeping engine
        # The offered commands counted against the busy rate (per second), at or above which a pass
        # does not wait for an engine it had to wake (None: it always waits). The server sets [engine]
        # low_rate: above it the engine sleeps between batches itself (its adaptive wait), and the
        # router stops spinning for it too.
        self.offer_rate: RateWindow | None = None
        self.answered_in_pass = 0  # ... and those whose events came before the wait ran out
        self.waits_ended_by_input = 0  # ... and those a datagram ended first
        self.replies_built_in_c = 0  # routed batches answered by _reply_in_c (the rest: the sinks)
        # Passes by what started them: datagrams read (end()), the engine's events (on_engine_events).
        # Against the orders they carried they show how full the router is (README "flat out").
        self.read_passes = 0
        self.offered_in_c = 0  # read passes that FastIngest.read took from the socket to the ring
        self.event_passes = 0
        dispatcher.send = self.send
        # _reply_in_c's buffers: a drained batch's frames and datagrams (fastpath/fast_reply.h).
        frame_room = DRAIN_CAPACITY * lib.UDR_FP_MAX_REPORT_FRAME
        self._targets = ffi.new("udr_fr_target[]", DRAIN_CAPACITY)
        self._frames = ffi.new("char[]", frame_room)
        self._frame_bytes = ffi.buffer(self._frames)
        self._frame_ends = ffi.new("uint32_t[]", DRAIN_CAPACITY)
        self._datagrams = ffi.new("unsigned char[]",
                                  frame_room + DRAIN_CAPACITY * lib.UDR_FP_SEQUENCE_FRAME_SIZE)
        self._datagram_lens = ffi.new("uint32_t[]", DRAIN_CAPACITY)
        self._datagram_keys = ffi.new("uint64_t[]", DRAIN_CAPACITY)
        self._scratch = ffi.new("uint32_t[]", DRAIN_CAPACITY)
        # drain_step's C call (fastpath/answer_pass.h): OrderEntry's drain buffers, the ones above,
        # the router log's record buffer (use_log) and the socket (start).
        c = self._answer_context = ffi.new("udr_ap_context *")
        order_entry.drain_buffers(c)
        self._groups = c.groups  # the routed groups, read when a step answered them
        c.targets, c.frames, c.frame_ends = self._targets, self._frames, self._frame_ends
        c.datagrams, c.datagram_lens = self._datagrams, self._datagram_lens
        c.datagram_keys = self._datagram_keys
        c.pack_scratch = self._scratch
        c.sock_fd, c.max_bytes, c.max_messages = -1, MAX_DATAGRAM_SIZE, MAX_MESSAGES_PER_DATAGRAM
        self._answered = ffi.new("udr_ap_result *")

    def before_offer(self, command_through: int) -> bool:
        """The ring's write-ahead hook (installed by RouterRecovery): the sessions are flushed first,
        so the replies the router made itself to this batch's datagrams (rejects, NotApplied) are
        in the same record as the inbound progress that consumed their sequence numbers. A router
        killed after the offer, before the pass's commit, then still has them to retransmit."""
        self.dispatcher.flush_sessions()
        return self.log.before_offer(command_through, *self.order_entry.routing_position())

    def use_log(self, log: RouterLog | None) -> None:
        """The router log the pass commits before it sends (None: durability none). While the log
        cannot be written, the order entry refuses new orders (JournalUnavailable)."""
        self.log = log
        if log is not None:
            log.on_unavailable = self._journal_unavailable
            self._answer_context.record = log.reply_record

    def start(self, send: Send, socket: DatagramSocket | None, schedule: Callable, *,
              build_replies: bool = True) -> None:
        """At router start: the socket's send (and the fast path's socket, whose datagrams wait for
        the pass's one sendmmsg), and the loop's call_soon for the passes nobody else ends.
        build_replies: routed batches may be answered in C (_reply_in_c; the fast path's socket
        only, and not while a capture records every datagram sent through send)."""
        self._send, self.socket, self._schedule = send, socket, schedule
        self._started = True
        if socket is not None and build_replies:
            self.order_entry.reply_in_c = self._reply_in_c
            self._answer_context.sock_fd = socket.fd
            self.order_entry.drain_step = self.drain_step

    # -- a pass ---------------------------------------------------------------------------------

    def open(self) -> None:
        """Replies made until end() wait for it instead of each scheduling a loop callback. The
        router's sleep is withdrawn for the pass: events the engine publishes meanwhile are drained
        by the pass (its _rearm re-checks the ring), so the engine writes no eventfd for them."""
        self._in_pass = True
        ring = self.supervisor.ring
        if ring is not None:
            ring.set_router_sleeping(False)
        if self.socket is not None:
            self.socket.defer_flush = True

    def end(self) -> None:
        """The end of a pass that read datagrams: their commands offered, then every event routed,
        logged and sent."""
        ring = self.supervisor.ring
        # Events of earlier commands already waiting: the engine is ahead of this pass, no wait.
        wait = self.answer_wait_ns and ring is not None and ring.outbound_occupancy == 0
        self._answer(self.order_entry.flush(self.dispatcher.clock()), wait)

    def write_ahead_log(self) -> RouterLog | None:
        """The router log a read pass may append its write-ahead record to in C (FastIngest.read),
        when no session has frames to flush first (before_offer would); else None."""
        return None if self._closed or self.dispatcher.dirty else self.log

    def read_in_c(self, r, record, now: int) -> bool:
        """After FastIngest.read (r: its udr_rp_result): a write-ahead record it wrote, or failed to
        write (record: its bytes), goes into the router log's state. True when it also offered the
        pass's commands: the pass then ends here, as end() ends it."""
        if r.written == 0:
            return False
        oe = self.order_entry
        done, partial = oe.routing_position()
        if not self.log.written_ahead(record, r.written, r.command_through, done, partial):
            return False  # nothing offered: the batch waits for the log (end() tries again)
        assert r.offered == r.commands, f"ring accepted {r.offered} of {r.commands} counted-free slots"
        oe.published(r.offered, now)
        self.offered_in_c += 1
        self._answer(r.offered, self.answer_wait_ns and r.events_waiting == 0)
        return True

    def _answer(self, offered: int, wait) -> None:
        """end()'s rest once the pass's commands are offered: the engine's answer awaited or not,
        then every event routed, logged and sent."""
        self.read_passes += 1
        ring = self.supervisor.ring
        rate = self.offer_rate
        busy = offered and rate is not None and rate.add(offered, time.monotonic_ns())
        if offered and wait and busy:
            # At a high rate the engine is asleep (its answer comes after a wake-up, tens of
            # microseconds on a VM) or still at the last batch, and the next datagrams are already
            # coming. Waiting there, even for an awake engine, yields this core to whoever else
            # wants it (the clients) and cost 9% of the CPU per order and a third of the p99 at
            # 50k/s (README "The answer wait"). The engine's eventfd brings the answer instead.
            self.answer_waits_skipped += 1
        elif offered and wait:
            # The engine answers in microseconds if awake (spinning between batches), tens if
            # woken: waiting for it here saves the second pass (the engine's eventfd write, an
            # epoll wake-up, an eventfd read), and below the busy rate the CPU has room for it.
            # It ends early when a datagram arrives: the next pass has work to do.
            self.answer_waits += 1
            socket = self.socket
            seen = ring.await_events(self.answer_wait_ns, -1 if socket is None else socket.fd)
            if seen == INPUT_ARRIVED:
                self.waits_ended_by_input += 1
            elif seen:
                self.answered_in_pass += 1
        self.order_entry.drain()
        self._finish()

    def on_engine_events(self) -> int:
        """The outbound eventfd's reader (and the timer's, for a lost wake-up): a pass of its own.
        Returns the events drained before the router's sleep was announced again."""
        self._drain_scheduled = False
        ring = self.supervisor.ring
        if ring is None:
            return 0
        self.event_passes += 1
        self.open()
        ring.drain_outbound_eventfd()
        drained = self.order_entry.drain()
        self._finish()
        return drained

    def _finish(self) -> None:
        self._rearm()
        self.dispatcher.flush_sessions()
        self._in_pass = False
        # A pass that sequenced only gRPC reports has no datagram to hold, but its answers (filled
        # during the drain) are read after it: the commit is still made here, before them.
        if self._outbox or self._durable or (self.log is not None and self.log.frames_pending):
            self._commit(flushed=True)
        self.flush_socket()

    def _rearm(self) -> None:
        # Announce the sleep again and re-check: events published before the announcement woke nobody.
        ring = self.supervisor.ring
        for _ in range(REARM_TRIES):
            if ring is None or ring.set_router_sleeping(True) == 0:
                return
            self.order_entry.drain()
        # The engine is still publishing, so the sleep stays withdrawn and no eventfd write will
        # come: drain again next loop pass (UDP callbacks run in between), not on the timer.
        if not self._drain_scheduled:
            self._drain_scheduled = True
            self._schedule(self.on_engine_events)

    # -- sending --------------------------------------------------------------------------------

    def send(self, data: bytes, addr) -> None:
        """The dispatcher's send: with a router log, a reply waits for the commit of its pass."""
        if self.log is None or self._closed:
            self._send(data, addr)
            return
        self._outbox.append((data, addr))
        if not self._commit_scheduled and not self._in_pass:
            self._commit_scheduled = True
            self._schedule(self.commit_and_send)

    def drain_step(self, ring, sessions, session_cap: int) -> tuple[int, int]:
        """OrderEntry.drain's step on the fast path: the engine's events polled, tallied and routed,
        and in the common case answered in the same C call (fastpath/answer_pass.h): nothing else
        waiting to be logged or sent, every group to a session whose replies C may build, the
        router log (if any) in its common state. The replies are numbered, logged, sent, then kept
        here (_answered_in_c). Returns (events polled, groups left to OrderEntry: 0 if answered)."""
        log, dispatcher = self.log, self.dispatcher
        answer = not (self._outbox or self._durable or self._closed) and dispatcher.answers_in_c
        fd, through = -1, 0  # -1 with no log at all: the replies leave as they are made ...
        if log is not None and answer:
            fd, through = log.write_ahead_fd(), log.command_through
            answer = fd >= 0
        elif answer:
            self.socket.flush()  # ... after the datagrams this pass queued already
        now = dispatcher.clock()
        r = self._answered
        lib.udr_ap_run(self._answer_context, ring.outbound_ring, sessions, session_cap, now, answer, fd,
                       through, r)
        if not r.answered:
            return r.polled, r.groups
        self._answered_in_c(r)
        return r.polled, 0

    def _answered_in_c(self, r) -> None:
        """After drain_step answered in C: the router log's record (or its failure: the datagrams
        are held until a write succeeds), the frames kept in their sessions, the counters."""
        oe, log, groups, count = self.order_entry, self.log, self._groups, r.groups
        contexts = oe.contexts
        sessions = [contexts[groups[i].session_id] for i in range(count)]
        sent = log is None or log.reply_record_written(groups, count, self._targets, r.written,
                                                       *oe.routing_position())
        if r.send_errors:
            self.socket.send_errors += r.send_errors
        if not sent:
            self._hold_built(sessions, r.datagrams)
        self._keep_packed(sessions, groups)
        self.dispatcher.replied_in_c(r.answered, r.datagrams)
        if log is not None and sent:
            log.after_c_record()
        oe.events_routed += r.answered
        self.replies_built_in_c += 1

    def _reply_in_c(self, events, order, groups, count: int) -> int:
        """OrderEntry's reply_in_c, for a routed batch drain_step left to it (the router log in
        another state than its common one: frames waiting, fsync durability, unavailable), whose
        events all go to established UDP sessions, with nothing else waiting to be logged or sent:
        its reports are encoded and packed in one C call (fastpath/fast_reply.h), the sessions take
        the frames as a flush's, the log commits them and the datagrams leave in one sendmmsg.
        The same frames, record and datagrams as the sinks' way. Returns the events answered; 0:
        the sinks take the batch (nothing was changed)."""
        if self._outbox or self._durable or self._closed:
            return 0
        sessions = self.dispatcher.reply_sessions(groups, count)
        if sessions is None:
            return 0
        socket, targets = self.socket, self._targets
        key_of = socket.key_of
        for i, session in enumerate(sessions):
            targets[i] = (session.next_outbound, key_of(session.addr))
        now = self.dispatcher.clock()
        datagrams = lib.udr_fr_build(events, order, groups, count, targets, now, MAX_DATAGRAM_SIZE,
                                     MAX_MESSAGES_PER_DATAGRAM, self._frames, self._frame_ends,
                                     self._datagrams, self._datagram_lens, self._datagram_keys, self._scratch)
        if datagrams == lib.UDR_FR_PACK_MISMATCH:
            return 0
        # The sessions first: sequenced() tells the log of the frames its commit writes.
        answered = self._hand_frames(sessions, groups)
        log = self.log
        if log is None or log.commit(*self.order_entry.routing_position()):
            socket.send_built(self._datagrams, self._datagram_lens, self._datagram_keys, datagrams)
        else:  # held, as _commit holds the outbox, until a write succeeds (retry_log)
            self._hold_built(sessions, datagrams)
        self.dispatcher.replied(sessions, answered, datagrams, now)
        self.replies_built_in_c += 1
        return answered

    def _hand_frames(self, sessions, groups) -> int:
        """Each group's frames (slices of _frames) to its session as a flush's (ServerSession.sequenced:
        the router log hears of them); returns how many in all."""
        data, ends, start, answered = self._frame_bytes, self._frame_ends, 0, 0
        for i, session in enumerate(sessions):
            n = groups[i].count
            frames = []
            for end in ffi.unpack(ends + answered, n):
                frames.append(data[start:end])
                start = end
            answered += n
            session.sequenced(frames)
        return answered

    def _keep_packed(self, sessions, groups) -> int:
        """Each group's frames (numbered in C) to its session's retransmission buffer as one block
        (one copy of its bytes and of its end offsets, not an object per frame); returns how many
        in all."""
        data, ends, start, answered = self._frame_bytes, self._frame_ends, 0, 0
        for i, session in enumerate(sessions):
            n = groups[i].count
            if n:
                answered += n
                end = ends[answered - 1]
                offsets = ffi.buffer(ends + answered - n, 4 * n)[:] if n > 1 else None  # one frame: none
                session.keep_packed(data[start:end], offsets, start, n)
                start = end
        return answered

    def _hold_built(self, sessions, datagrams: int) -> None:
        """The built datagrams into the outbox, as (bytes, address) pairs send() would have queued."""
        key_of = self.socket.key_of
        addr_of = {key_of(session.addr): session.addr for session in sessions}
        data, lens, keys, at = self._datagrams, self._datagram_lens, self._datagram_keys, 0
        for d in range(datagrams):
            self._outbox.append((bytes(ffi.buffer(data + at, lens[d])), addr_of[keys[d]]))
            at += lens[d]

    def durable(self) -> asyncio.Future | None:
        """For replies that leave by another way than send() (gRPC answers and streams): None when
        everything sequenced so far is in the router log, else a future set by the commit that
        writes it (held, like the outbox, while the log cannot be written)."""
        if self.log is None or self._closed or not self.log.dirty:
            return None
        future = asyncio.get_running_loop().create_future()
        self._durable.append(future)
        if not self._commit_scheduled and not self._in_pass:
            self._commit_scheduled = True
            self._schedule(self.commit_and_send)
        return future

    def commit_and_send(self) -> None:
        """Flushes every session (so all routed events are in logged frames), commits the log, then
        sends what waited for it. A commit that fails holds the replies until a write succeeds."""
        if self._commit(flushed=False):
            self.flush_socket()

    def _commit(self, flushed: bool) -> bool:
        """commit_and_send up to the socket's flush (a pass's end flushes once, after it); flushed:
        the sessions were flushed just before. True if datagrams were queued."""
        if self.log is not None and not self._closed:
            self._commit_scheduled = True  # replies made by this flush join this outbox
            if not flushed:
                self.dispatcher.flush_sessions()
            if not self.log.commit(*self.order_entry.routing_position()):
                self._commit_scheduled = False  # held until a write succeeds (a later pass, or retry())
                return False
        out, self._outbox = self._outbox, []
        self._commit_scheduled = False
        if self._durable:
            durable, self._durable = self._durable, []
            for future in durable:
                if not future.done():
                    future.set_result(None)
        send = self._send
        for data, addr in out:
            send(data, addr)
        return bool(out)

    def flush_socket(self) -> None:
        """The fast path's queued datagrams leave (one sendmmsg; the socket counts its errors)."""
        socket = self.socket
        if socket is not None:
            socket.defer_flush = False
            socket.flush()

    # -- the router log -------------------------------------------------------------------------

    def retry_log(self) -> None:
        """The router's timer: while the log cannot be written, tries again and sends what it held."""
        if self.log is None or not self.log.unavailable or not self.log.retry():
            return
        self.order_entry.flush()  # a batch whose write-ahead record had failed
        if self._outbox or self._durable:
            self.commit_and_send()

    def _journal_unavailable(self, unavailable: bool) -> None:
        self.order_entry.journal_unavailable = unavailable

    def close(self) -> None:
        """Stopping: the last commit and send, then the log is closed."""
        if self.log is not None:
            if self._started:
                self.commit_and_send()
            self.log.close()
            self._closed = True


def _unsent(data: bytes, addr) -> None:
    """The send before the router has a socket: nothing leaves."""
