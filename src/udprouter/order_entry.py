"""OrderEntry: the one path from a decoded order to the engine's ring, for UDP and gRPC alike.

submit() runs the risk checks and either returns an immediate reject message (ExecutionReportReject,
OrderCancelReject or BusinessMessageReject, with exec_id 0 for the caller to fill) or fills the next
udr_command in a batch array and returns the command_seq it assigned. flush() offers the batch to
the ring in one call. Free slots are counted when a batch starts and the router is the ring's only
producer, so an offer never fails part-way: a command that does not fit is refused at submit with
BusinessMessageReject EngineBusy (nothing dropped silently) and consumes no command_seq.

drain() polls the outbound ring and routes each event by session_id to the sink registered for it
(register_sink), one call per session per drain with the list of event tuples (reports.EVENT_LAYOUT).
With fast_route (the router's udp.fast_path) the routing runs in C (src/udprouter/fastpath/fast_egress.h)
and a sink that carries a `raw` callable gets (events array, index pointer, count) instead of
tuples, so the UDP sessions encode their reports in C too; other sinks (gRPC) still get tuples.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from udprouter._generated.messages import (
    BusinessMessageReject,
    BusinessRejectReason,
    CxlRejResponseTo,
    ExecutionReportReject,
    MassActionRejectReason,
    MassActionResponse,
    MassActionScope,
    NewOrderSingle,
    OrderCancelReject,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    OrderMassActionReport,
    OrderMassActionRequest,
    OrderStatusRequest,
)
from udprouter._ring_cffi import ffi, lib
from udprouter.ring import (
    CMD_CANCEL,
    CMD_MASS_CANCEL,
    CMD_NEW_ORDER,
    CMD_ORDER_STATUS,
    CMD_REPLACE,
    CMD_RESET_SESSION,
    COMMAND_LAYOUT,
    EV_COMMAND_SEQ,
    EV_FLAGS,
    EV_KIND,
    EV_LEAVES_QTY,
    EV_SESSION_ID,
    EVENT_LAYOUT,
    EVT_CANCELED,
    EVT_REJECTED,
    EVT_TRADE,
    FLAG_LAST,
    RingSegment,
)
from udprouter.risk import Risk
from udprouter.server_session import SessionContext

Sink = Callable[[list[tuple]], None]
BATCH_CAPACITY = 4096
DRAIN_CAPACITY = 4096
_NEW, _CANCEL, _REPLACE = CMD_NEW_ORDER, CMD_CANCEL, CMD_REPLACE
# CancelReason values a MASS_CANCEL command carries (protocol/orders.xml)
CANCEL_REASON_MASS_CANCEL, CANCEL_REASON_ON_DISCONNECT = 4, 5


class OrderEntry:
    def __init__(self, risk: Risk, clock: Callable[[], int] = time.time_ns) -> None:
        self.risk = risk
        self.clock = clock
        self.ring: RingSegment | None = None
        self.available = True  # False once the engine is given up on: ApplicationNotAvailable
        self.journal_unavailable = False  # the router log cannot be written: JournalUnavailable
        self.sinks: dict[int, Sink] = {}
        self.contexts: dict[int, SessionContext] = {}
        # The batch being filled, shared with the C fast path (fast_ingest.h udr_fp_batch, filled by
        # FastIngest and packed_batch.h in place): its n, room and next_command_seq are the one
        # copy of those counters. room is counted when a batch starts (n == 0).
        self._cmds = RingSegment.new_commands(BATCH_CAPACITY)
        self._cmd_bytes = ffi.buffer(self._cmds)
        batch = self.batch = ffi.new("udr_fp_batch *")
        batch.cmds, batch.capacity, batch.next_command_seq = self._cmds, BATCH_CAPACITY, 1
        self._events = RingSegment.new_events(DRAIN_CAPACITY)
        self._event_bytes = ffi.buffer(self._events)
        self.published_through = 0  # highest command_seq offered to the ring
        # The routing position (done_through, partial, the skip after an engine restart) lives in the
        # C struct that udr_fp_route advances; Python's _route and readers use the same fields.
        self.route_state = ffi.new("udr_fp_route_state *")
        self._polled = ffi.new("uint32_t *")  # events read by the last udr_py_drain_route
        self.resets_in_flight: dict[int, int] = {}  # session_id -> command_seq of its reset (submit_reset)
        self.on_reset_done = lambda session_id: None
        self._batches: deque[tuple[int, int]] = deque()  # (last command_seq, receive ns) per batch
        self.on_batch_acked: Callable[[int], None] | None = None  # latency (ns) per acked batch
        self.fast_route = False
        self._order = ffi.new("uint32_t[]", DRAIN_CAPACITY)
        self._scratch = ffi.new("uint32_t[]", DRAIN_CAPACITY)
        self._groups = ffi.new("udr_fp_group[]", DRAIN_CAPACITY)
        self._fp_cap = 256
        self._fp_table = ffi.new("udr_fp_session *[]", self._fp_cap)  # session_id -> its C struct
        self.raw_sinks: dict[int, Callable] = {}
        # Takes a routed batch whole (LoopPass._reply_in_c): (events, order, groups, count) -> events
        # answered, 0 when the sinks are to take it.
        self.reply_in_c: Callable[[object, object, object, int], int] | None = None
        # One step of drain on the fast path, answering the batch in C when it can
        # (LoopPass.drain_step): (ring, session table, its size) -> (events polled, groups left
        # to route here, 0 when answered).
        self.drain_step: Callable[[object, object, int], tuple[int, int]] | None = None
        self.engine_busy = 0
        self.undeliverable = 0
        self.events_routed = 0
        self.commands_published = 0
        # Fills, volume and the engine's rejects, tallied in C once per polled batch (event_stats.h).
        self.event_stats = ffi.new("udr_event_stats *")
        self.set_stat_instruments(sorted(risk.instruments))

    @property
    def next_command_seq(self) -> int:
        """The command_seq the next command takes (kept in the C batch)."""
        return self.batch.next_command_seq

    def set_stat_instruments(self, security_ids: list[int]) -> None:
        """The SecurityIDs counted apart (the configured ones); a new list restarts the counts of
        instruments that moved slots, so it is kept in order and only grows."""
        st = self.event_stats
        known = list(st.security_ids[0:st.instrument_count])
        for sid in security_ids:
            if sid not in known and len(known) < lib.UDR_STATS_MAX_INSTRUMENTS:
                known.append(sid)
        if len(known) > st.instrument_count:  # "other" moves to the end: carry its counts along
            other = st.instrument_count
            st.fills[len(known)], st.volume[len(known)] = st.fills[other], st.volume[other]
            for slot in range(other, len(known)):
                st.security_ids[slot], st.fills[slot], st.volume[slot] = known[slot], 0, 0
            st.instrument_count = len(known)

    # -- sessions -------------------------------------------------------------------------------

    def register_sink(self, session_id: int, sink: Sink, ctx: SessionContext | None = None) -> None:
        self.sinks[session_id] = sink
        raw = getattr(sink, "raw", None)
        if raw is not None:
            self.raw_sinks[session_id] = raw
        else:
            self.raw_sinks.pop(session_id, None)
        if ctx is not None:
            self.contexts[session_id] = ctx
            if session_id >= self._fp_cap:
                cap = max(2 * self._fp_cap, session_id + 1)
                table = ffi.new("udr_fp_session *[]", cap)
                ffi.memmove(table, self._fp_table, self._fp_cap * ffi.sizeof("udr_fp_session *"))
                self._fp_table, self._fp_cap = table, cap
            self._fp_table[session_id] = ctx.fp  # ctx (in contexts) keeps the struct alive

    def release_session(self, session_id: int) -> None:
        """A released session: nothing of it kept (its later events count as undeliverable)."""
        self.sinks.pop(session_id, None)
        self.raw_sinks.pop(session_id, None)
        if self.contexts.pop(session_id, None) is not None and session_id < self._fp_cap:
            self._fp_table[session_id] = ffi.NULL

    def submit_reset(self, session_id: int) -> int | None:
        """A released session_id's UDR_CMD_RESET_SESSION (its events go to no session): its
        command_seq, or None when it cannot go now (ring full, engine or journal unavailable).
        on_reset_done(session_id) is called once every event of it has been routed (the engine
        journals a command before it publishes its events)."""
        b = self.batch
        n = b.n
        if n == 0:
            b.room = self._free_slots()
        if n >= b.room or self.journal_unavailable:
            return None
        seq = b.next_command_seq
        b.next_command_seq, b.n = seq + 1, n + 1
        COMMAND_LAYOUT.pack_into(self._cmd_bytes, n * 64, seq, 0, 0, 0, 0, session_id, 0, 0, 0,
                                 CMD_RESET_SESSION, 0, 0, 0, 0)
        self.resets_in_flight[session_id] = seq
        self.flush()
        return seq

    def _resets_done(self) -> None:
        done = self.done_through
        for session_id, seq in list(self.resets_in_flight.items()):
            if seq <= done:
                del self.resets_in_flight[session_id]
                self.on_reset_done(session_id)

    # -- inbound --------------------------------------------------------------------------------

    def submit(self, ctx: SessionContext, msg, recv_ns: int = 0):
        """command_seq (int) on success, else the reject message to send back (exec_id 0)."""
        b = self.batch
        n = b.n
        if n == 0:
            b.room = self._free_slots()
        if n >= b.room or self.journal_unavailable:
            return self._busy(msg)
        cls = msg.__class__
        if cls is NewOrderSingle:
            reason = self.risk.check_new(ctx, msg)
            if reason is not None:
                return ExecutionReportReject(msg.cl_ord_id, 0, self.clock(), msg.price, msg.order_qty,
                                             msg.security_id, msg.side, reason)
            ctx.open_orders += 1
            return self._fill(ctx, msg, _NEW, 0, msg.price if msg.ord_type == 2 else 0, recv_ns)
        if cls is OrderCancelRequest:
            reason = self.risk.check_cancel(ctx, msg)
            if reason is not None:
                return OrderCancelReject(msg.cl_ord_id, msg.orig_cl_ord_id, 0, self.clock(), msg.security_id,
                                         CxlRejResponseTo.OrderCancelRequest, reason)
            return self._fill(ctx, msg, _CANCEL, msg.orig_cl_ord_id, 0, recv_ns)
        if cls is OrderCancelReplaceRequest:
            reason = self.risk.check_replace(ctx, msg)
            if reason is not None:
                return OrderCancelReject(msg.cl_ord_id, msg.orig_cl_ord_id, 0, self.clock(), msg.security_id,
                                         CxlRejResponseTo.OrderCancelReplaceRequest, reason)
            return self._fill(ctx, msg, _REPLACE, msg.orig_cl_ord_id, msg.price, recv_ns)
        if cls is OrderMassActionRequest:
            return self._mass_action(ctx, msg, recv_ns)
        if cls is OrderStatusRequest:
            return self.command(CMD_ORDER_STATUS, ctx.session_id, 0, msg.cl_ord_id,
                                security_id=msg.security_id, recv_ns=recv_ns)
        return BusinessMessageReject(0, self.clock(), getattr(msg, "TEMPLATE_ID", 0),
                                     BusinessRejectReason.UnsupportedMessageType)

    def _mass_action(self, ctx: SessionContext, msg: OrderMassActionRequest, recv_ns: int):
        """The session's own orders, all or one SecurityID's (the engine checks the ClOrdID and the
        SecurityID and answers with OrderMassActionReport, then an ExecutionReportCancel per order)."""
        by_security = msg.mass_action_scope == MassActionScope.AllOrdersForASecurity
        if by_security and msg.security_id is None:
            return OrderMassActionReport(msg.cl_ord_id, self.clock(), 0, None, msg.mass_action_type,
                                         msg.mass_action_scope, MassActionResponse.Rejected,
                                         MassActionRejectReason.InvalidOrUnknownSecurity, msg.side)
        if msg.cl_ord_id > ctx.cl_ord_hwm:
            ctx.cl_ord_hwm = msg.cl_ord_id
        return self.command(CMD_MASS_CANCEL, ctx.session_id, 0, msg.cl_ord_id,
                            security_id=msg.security_id if by_security else 0, side=msg.side or 0,
                            ord_type=CANCEL_REASON_MASS_CANCEL, recv_ns=recv_ns)

    def command(self, kind: int, session_id: int, account: int, cl_ord_id: int = 0, *, security_id: int = 0,
                side: int = 0, ord_type: int = 0, value: int = 0, recv_ns: int = 0):
        """Batches one of the commands that are not an order (ring_abi.h: MASS_CANCEL, ORDER_STATUS,
        ACCOUNT_CONTROL): the command_seq, or BusinessMessageReject EngineBusy / ApplicationNotAvailable."""
        b = self.batch
        n = b.n
        if n == 0:
            b.room = self._free_slots()
        if n >= b.room:
            return self._busy(None)
        seq = b.next_command_seq
        b.next_command_seq, b.n = seq + 1, n + 1
        COMMAND_LAYOUT.pack_into(self._cmd_bytes, n * 64, seq, cl_ord_id, 0, value,
                                 recv_ns or self.clock(), session_id, account, 0, security_id, kind, side,
                                 ord_type, 0, 0)
        if n + 1 == BATCH_CAPACITY:
            self.flush(recv_ns)
        return seq

    def _free_slots(self) -> int:
        ring = self.ring
        if ring is None or not self.available or self.journal_unavailable:
            return 0
        return min(BATCH_CAPACITY, ring.inbound_capacity - ring.inbound_occupancy)

    def _busy(self, msg):
        reason = BusinessRejectReason.EngineBusy
        if not self.available:
            reason = BusinessRejectReason.ApplicationNotAvailable
        elif self.journal_unavailable:
            reason = BusinessRejectReason.JournalUnavailable
        if reason is not BusinessRejectReason.JournalUnavailable:
            self.engine_busy += 1
        self.risk.rejects[reason.name] += 1
        return BusinessMessageReject(0, self.clock(), getattr(msg, "TEMPLATE_ID", 0), reason)

    def _fill(self, ctx: SessionContext, msg, kind: int, orig: int, price: int, recv_ns: int) -> int:
        b = self.batch
        seq, n = b.next_command_seq, b.n
        b.next_command_seq, b.n = seq + 1, n + 1
        if kind == _NEW:
            qty, ord_type, tif = msg.order_qty, msg.ord_type, msg.time_in_force
        elif kind == _REPLACE:
            qty, ord_type, tif = msg.order_qty, 2, 0
        else:
            qty = ord_type = tif = 0
        # One pack_into per command: a dozen cffi attribute stores cost about five times as much.
        # recv_ns is also the engine's clock for the account order-rate windows: never 0 there.
        COMMAND_LAYOUT.pack_into(self._cmd_bytes, n * 64, seq, msg.cl_ord_id, orig, price,
                                 recv_ns or self.clock(), ctx.session_id, ctx.account, qty, msg.security_id,
                                 kind, msg.side, ord_type, tif, 0)
        if n + 1 == BATCH_CAPACITY:
            self.flush(recv_ns)
        return seq

    def flush(self, recv_ns: int = 0) -> int:
        """Offers the batch to the ring (one call) and wakes the engine if it sleeps."""
        b = self.batch
        n = b.n
        if n == 0:
            return 0
        b.n = 0
        offered = self.ring.offer_commands(self._cmds, n)
        if offered == 0 and self.journal_unavailable:  # its write-ahead record failed: it waits
            b.n = n
            return 0
        # Single producer and counted free slots: offered == n. Anything else is an ABI bug, not load.
        assert offered == n, f"ring accepted {offered} of {n} counted-free slots"
        self.ring.wake_engine_if_sleeping()
        return self.published(n, recv_ns)

    def published(self, n: int, recv_ns: int) -> int:
        """The batch's n commands are in the ring (flush, or a read pass's offer in C:
        FastIngest.read) and the engine woken: counted, and their batch awaits its events."""
        last = self.batch.next_command_seq - 1
        self.published_through = last
        self.commands_published += n
        self._batches.append((last, recv_ns))
        return n

    # -- outbound -------------------------------------------------------------------------------

    def drain(self) -> int:
        """Routes every event waiting in the outbound ring; returns how many were read."""
        ring = self.ring
        if ring is None:
            return 0
        total = 0
        fast, polled = self.fast_route, self._polled
        step = self.drain_step if fast else None
        while True:
            if step is not None:  # polled, tallied, routed and mostly answered in one C call
                n, groups = step(ring, self._fp_table, self._fp_cap)
                if n == 0:
                    break
                if groups:
                    self._reply_routed(groups)
            elif fast:  # polled, tallied and routed in one C call
                groups = lib.udr_py_drain_route(ring.outbound_ring, self._events, DRAIN_CAPACITY,
                                                self.event_stats, self.route_state, self._fp_table,
                                                self._fp_cap, self._order, self._groups, self._scratch,
                                                polled)
                n = polled[0]
                if n == 0:
                    break
                self._reply_routed(groups)
            else:
                n = ring.poll_events(self._events, DRAIN_CAPACITY)
                if n == 0:
                    break
                lib.udr_stats_tally(self.event_stats, self._events, n)
                self._route(EVENT_LAYOUT.iter_unpack(self._event_bytes[: n * 64]))
            total += n
            if n < DRAIN_CAPACITY:
                break
        if total:
            self._ack_batches()
            if self.resets_in_flight:
                self._resets_done()
        return total

    def _route(self, events) -> None:
        by_session: dict[int, list[tuple]] = {}
        st = self.route_state
        done, partial_seq, partial_n = st.done_through, st.partial_seq, st.partial_n
        skip_seq, skip_left = st.skip_seq, st.skip_left
        contexts = self.contexts
        for ev in events:
            seq = ev[EV_COMMAND_SEQ]
            if seq <= done:
                continue
            if skip_left and seq == skip_seq:
                skip_left -= 1  # re-emitted by a restarted engine: already routed
                continue
            if ev[EV_FLAGS] & FLAG_LAST:
                done, partial_seq, partial_n = seq, 0, 0
            elif seq == partial_seq:
                partial_n += 1
            else:
                partial_seq, partial_n = seq, 1
            sid = ev[EV_SESSION_ID]
            kind = ev[EV_KIND]
            if kind == EVT_CANCELED or kind == EVT_REJECTED or (kind == EVT_TRADE and ev[EV_LEAVES_QTY] == 0):
                ctx = contexts.get(sid)
                if ctx is not None:
                    fp = ctx.fp  # the C struct itself: the property layer costs as much again
                    if fp.open_orders > 0:
                        fp.open_orders -= 1
            bucket = by_session.get(sid)
            if bucket is None:
                by_session[sid] = [ev]
            else:
                bucket.append(ev)
        st.done_through, st.partial_seq, st.partial_n = done, partial_seq, partial_n
        st.skip_seq, st.skip_left = skip_seq, skip_left
        sinks = self.sinks
        for sid, evs in by_session.items():
            self.events_routed += len(evs)
            sink = sinks.get(sid)
            if sink is None:
                self.undeliverable += len(evs)
            else:
                sink(evs)

    def drain_buffers(self, c) -> None:
        """An answer context's (fastpath/answer_pass.h) drain half: the buffers drain polls and routes
        into, which _reply_routed reads when a step leaves the groups to it."""
        c.events, c.capacity, c.stats = self._events, DRAIN_CAPACITY, self.event_stats
        c.route = self.route_state
        c.order, c.groups, c.scratch = self._order, self._groups, self._scratch

    def _reply_routed(self, groups: int) -> None:
        """_route's outcome computed by udr_fp_route (udr_py_drain_route): the groups answered in C
        (reply_in_c) or the sinks called in the same order with the same events."""
        reply = self.reply_in_c
        if reply is not None and groups:
            answered = reply(self._events, self._order, self._groups, groups)
            if answered:
                self.events_routed += answered
                return
        sinks, raw_sinks, order = self.sinks, self.raw_sinks, self._order
        for group in self._groups[0:groups]:
            sid, start, count = group.session_id, group.start, group.count
            self.events_routed += count
            raw = raw_sinks.get(sid)
            if raw is not None:
                raw(self._events, order + start, count)
                continue
            sink = sinks.get(sid)
            if sink is None:
                self.undeliverable += count
                continue
            unpack, data = EVENT_LAYOUT.unpack_from, self._event_bytes
            sink([unpack(data, i * 64) for i in ffi.unpack(order + start, count)])

    def _ack_batches(self) -> None:
        batches, done, hook = self._batches, self.route_state.done_through, self.on_batch_acked
        if not batches or batches[0][0] > done:
            return
        now = time.time_ns()
        while batches and batches[0][0] <= done:
            _, recv_ns = batches.popleft()
            if hook is not None and recv_ns:
                hook(now - recv_ns)

    def engine_restarting(self) -> None:
        """Called after the old engine is gone and its events drained: a new engine re-emits the
        events of a command whose LAST it never published, so skip the ones already routed. The
        partial count stays: it counts every event of that command routed so far, and the router log
        commits it (reset here, a second restart before the LAST would re-route the first ones)."""
        st = self.route_state
        st.skip_seq, st.skip_left = st.partial_seq, st.partial_n

    @property
    def done_through(self) -> int:
        """The highest command_seq whose LAST event was routed."""
        return self.route_state.done_through

    def routing_position(self) -> tuple[int, tuple[int, int]]:
        """(done_through, partial) in one call: what the router log records with each pass."""
        st = self.route_state
        return st.done_through, (st.partial_seq, st.partial_n)

    @property
    def partial(self) -> tuple[int, int]:
        """(command_seq, events routed) of the command whose LAST event is still to come (0, 0: none):
        with done_through, the routing position the router log commits."""
        st = self.route_state
        return st.partial_seq, st.partial_n

    def resume_routing(self, done_through: int, routed: tuple[int, int]) -> None:
        """A restarted router's position from its log (RouterRecovery): every event of the commands
        up to done_through was routed, and routed[1] events of command routed[0], which the engine
        re-emits from the first and are skipped."""
        st = self.route_state
        st.done_through = done_through
        st.partial_seq, st.partial_n = st.skip_seq, st.skip_left = routed

    def resume_numbering(self, published_through: int) -> None:
        """Commands up to published_through were offered in a previous life: numbering goes on after."""
        self.published_through = published_through
        self.engine_ready(published_through + 1)

    def engine_ready(self, next_command_seq: int) -> None:
        b = self.batch
        b.next_command_seq = max(b.next_command_seq, next_command_seq)
    @property
    def outstanding(self) -> int:
        """Commands published whose events have not all been routed."""
        return max(0, self.published_through - self.done_through)
