"""Dispatcher: one received datagram through codec -> session -> risk/order entry, replies queued.

The server calls receive (or on_datagram) for each datagram; the loop pass (loop_pass.LoopPass)
offers the batch to the ring, drains the events into the sessions' frames (attach) and calls
flush_sessions once per pass, which sends every session's pending frames as datagrams that each
start with Sequence through send (the pass's, which commits the router log first). Nothing here
raises on bad input: every outcome is a reply frame, a counter, or silence (SPEC: what gets which answer).

Per datagram: one decode pass; for a Sequence-led datagram from an established session, the
Idempotent check (duplicates skipped, gap -> NotApplied), the throttle (one call), then each
application message to OrderEntry.submit. Frames from an address without an established session
are never applied: at most one small NotAuthorized reject per source per interval.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from udprouter._generated.messages import (
    MAX_DATAGRAM_SIZE,
    BusinessMessageReject,
    BusinessRejectReason,
    Establish,
    ExecutionReportReject,
    Negotiate,
    RetransmitRequest,
    Sequence,
    Terminate,
    TerminationCode,
)
from udprouter._ring_cffi import ffi, lib
from udprouter.codec import (
    DecodeError,
    business_reject_reason,
    decode_datagram,
    encode_message,
    frame_consumes_seq_no,
)
from udprouter.datagram_mac import is_login, strip_mac
from udprouter.fastpath.drop_copier import DropCopier
from udprouter.order_entry import CANCEL_REASON_ON_DISCONNECT, DRAIN_CAPACITY, OrderEntry
from udprouter.reports import business_reject, encode_event, exec_id
from udprouter.server_session import ServerSession, SessionState
from udprouter.session import COD_ON_SILENCE, SessionEvent, SessionLayer

Send = Callable[[bytes, object], None]
log = logging.getLogger("udprouter")
MAC_LOG_INTERVAL_NS = 1_000_000_000  # datagrams failing their MAC: one summary line per second at most


class Dispatcher:
    def __init__(self, sessions: SessionLayer, order_entry: OrderEntry,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.sessions = sessions
        self.order_entry = order_entry
        self.clock = clock
        self.send: Send = lambda data, addr: None
        self.on_release: Callable[[ServerSession], None] = lambda session: None  # the fast path's unbind
        self._dirty: dict[int, ServerSession] = {}
        self.datagrams_in = self.datagrams_out = 0
        self.messages_in = self.messages_out = 0
        self.decode_errors = self.unauthenticated = self.duplicates = self.not_applied = 0
        self.mac_failures = 0  # datagrams of established sessions without a right MAC (dropped)
        self._mac_failures_logged = 0
        self._mac_log_after_ns = 0
        self.seq_refused = 0  # datagrams whose Sequence was out of range (SPEC 4.3)
        self.drop_copies = 0  # copies queued on drop-copy sessions (SPEC 4.12)
        self._copier = DropCopier()
        # Report frames of one session's drained events, encoded in C (see _sink_for).
        self._reports = ffi.new("char[]", DRAIN_CAPACITY * lib.UDR_FP_MAX_REPORT_FRAME)
        self._report_bytes = ffi.buffer(self._reports)
        self._report_ends = ffi.new("uint32_t[]", DRAIN_CAPACITY)

    # -- inbound --------------------------------------------------------------------------------

    def receive(self, data: bytes, addr) -> None:
        """One received datagram: its MAC checked first (SPEC.md 4.9), then decoded and dispatched.

        From the address of an established session, every datagram but a Negotiate or Establish
        must end with a right MAC frame; one that does not is dropped whole, unanswered, counted."""
        session = self.sessions.by_addr.get(addr)
        if session is not None and session.state is SessionState.ESTABLISHED and not is_login(data):
            body = session.authenticate(data)  # the session's key in C (fp.mac_key)
            if body is None:
                self._mac_failure(addr, session)
                return
        else:
            body = strip_mac(data)  # no key to check it with: the frame carries nothing else
        # The 1472-byte limit counts the MAC frame: an oversized datagram stays oversized.
        self.on_datagram(data, addr, decode_datagram(body if len(data) <= MAX_DATAGRAM_SIZE else data))

    def _mac_failure(self, addr, session: ServerSession) -> None:
        self.datagrams_in += 1
        self.mac_failures += 1
        self._log_mac_failures(self.clock(), addr, session)

    def _log_mac_failures(self, now: int, addr=None, session: ServerSession | None = None) -> None:
        count = self.mac_failures - self._mac_failures_logged
        if count == 0 or now < self._mac_log_after_ns:
            return
        self._mac_failures_logged = self.mac_failures
        self._mac_log_after_ns = now + MAC_LOG_INTERVAL_NS
        where = f" (latest from {addr}, session {session.session_id})" if session is not None else ""
        log.warning("dropped %d datagrams with a missing or wrong MAC%s", count, where)

    def on_datagram(self, data: bytes, addr, entries: list) -> None:
        """entries = codec.decode_datagram(data) (decoded by the caller, once)."""
        self.datagrams_in += 1
        self.messages_in += len(entries)
        now = self.clock()
        first = entries[0]
        session = self.sessions.by_addr.get(addr)
        if first.__class__ is Sequence:
            if session is None or session.state is not SessionState.ESTABLISHED:
                self._unauthenticated(addr, data, entries, now)
            else:
                session.last_recv_ns = now
                self._application(session, first.next_seq_no, entries, now)
        elif first.__class__ is DecodeError:
            self.decode_errors += 1
            if session is not None and session.state is SessionState.ESTABLISHED:
                session.last_recv_ns = now
                self._unnumbered_reject(session, first.template_id, business_reject_reason(first), now)
            else:
                self.unauthenticated += 1
        else:
            self._session_message(addr, first, len(data), session, now)

    def _application(self, session: ServerSession, first_seq: int, entries: list, now: int) -> None:
        count = 0
        for entry in entries[1:]:
            if entry.__class__ is DecodeError or not entry.IS_APPLICATION:
                count += frame_consumes_seq_no(entry)
            else:
                count += 1
        expected = session.next_inbound
        skip = session.accept_inbound(first_seq, count)
        if skip < 0:  # SEQ_OUT_OF_RANGE: nothing of it applied, the expectation unchanged (SPEC 4.3)
            self.seq_refused += 1
            self._unnumbered_reject(session, Sequence.TEMPLATE_ID, BusinessRejectReason.SeqNoOutOfRange, now)
            return
        self.duplicates += skip
        if first_seq > expected:
            self.not_applied += first_seq - expected  # numbers declared NotApplied (a gap)
        allowed = self.order_entry.risk.admit(session, count - skip, now) + skip
        submit = self.order_entry.submit if session.key.drop_copy is None else self._read_only
        # A full batch offered inside submit() flushes the dirty sessions first (LoopPass.before_offer):
        # this one is among them from here on (its NotApplied, its rejects so far), and pending is
        # read afresh for each frame, since that flush gives the session a new list.
        self._dirty[session.session_id] = session
        seq = first_seq - 1
        index = 0
        for entry in entries[1:]:
            if entry.__class__ is DecodeError:
                if not frame_consumes_seq_no(entry):  # framing, unknown schema: answered unnumbered
                    self.decode_errors += 1
                    self._unnumbered_reject(session, entry.template_id, business_reject_reason(entry), now)
                    continue
                seq += 1
                index += 1
                if index > skip:
                    self.decode_errors += 1
                    reason = business_reject_reason(entry)
                    session.pending.append(business_reject(seq, entry.template_id, reason, now))
                continue
            if not entry.IS_APPLICATION:
                continue  # session messages travel in datagrams of their own (SPEC)
            seq += 1
            index += 1
            if index <= skip:
                continue
            if index > allowed:
                throttled = business_reject(seq, entry.TEMPLATE_ID, BusinessRejectReason.Throttled, now)
                session.pending.append(throttled)
                continue
            result = submit(session, entry, now)
            if result.__class__ is not int:
                session.pending.append(self._reject_frame(session, result, seq))
        if session.pending:
            self._dirty[session.session_id] = session

    def _read_only(self, ctx, msg, now: int) -> BusinessMessageReject:
        """A drop-copy session's application message: refused, nothing of it applied (SPEC 4.12)."""
        return BusinessMessageReject(0, now, msg.TEMPLATE_ID, BusinessRejectReason.DropCopySession)

    def _unnumbered_reject(self, session: ServerSession, template_id: int, reason: BusinessRejectReason,
                           now: int) -> None:
        """BusinessMessageReject(RefSeqNum 0) for what took no sequence number: rate-limited per
        session (session.session_reject_rate_per_s), the rest counted as suppressed."""
        if session.allow_unnumbered(self.sessions.config.session_reject_rate_per_s, now):
            session.pending.append(business_reject(0, template_id, reason, now))
            self._dirty[session.session_id] = session
        else:
            self.sessions.rejects_suppressed += 1

    def _reject_frame(self, session: ServerSession, reject, seq: int) -> bytes:
        if reject.__class__ is ExecutionReportReject:
            reject.exec_id = exec_id(session.session_id, session.next_pending_seq())
        elif reject.__class__ is BusinessMessageReject:
            reject.ref_seq_num = seq
        return encode_message(reject)

    def _unauthenticated(self, addr, data: bytes, entries: list, now: int) -> None:
        self.unauthenticated += 1
        template = next((e.TEMPLATE_ID for e in entries[1:] if e.__class__ is not DecodeError), 0)
        reply = business_reject(entries[0].next_seq_no, template, BusinessRejectReason.NotAuthorized, now)
        if self.sessions.allow_reject(addr, now, len(reply), len(data)):
            self._send(reply, addr)

    def _session_message(self, addr, msg, size: int, session: ServerSession | None, now: int) -> None:
        cls = msg.__class__
        event = SessionEvent.NONE
        if cls is Negotiate:
            replies, event = self.sessions.on_negotiate(addr, msg, size, now)
        elif cls is Establish:
            replies, event = self.sessions.on_establish(addr, msg, size, now)
        elif session is None or session.state is not SessionState.ESTABLISHED:
            self.unauthenticated += 1
            return
        elif cls is RetransmitRequest:
            session.last_recv_ns = now
            replies = self.sessions.on_retransmit_request(session, msg, now)
        elif cls is Terminate:
            self._flush_session(session)
            replies, event = self.sessions.on_terminate(session, msg, now)
            self._cancel_on_disconnect(now)  # a window of 0 cancels at once
        else:
            session.last_recv_ns = now
            return  # a server-to-client session message from a client: ignored
        if event is SessionEvent.ESTABLISHED:
            self.attach(self.sessions.by_addr[addr])
        for reply in replies:
            self._send(reply, addr)

    def attach(self, session: ServerSession) -> None:
        """The session's events go to it from now on, encoded as reports into its pending frames
        (an established session, or one rebuilt from the router log)."""
        self.order_entry.register_sink(session.session_id, self._sink_for(session), session)
        session.fp.replies_in_c = 1  # its replies may be built, logged and sent in C (answer_pass.h)

    def _sink_for(self, session: ServerSession):
        def sink(events: list[tuple]) -> None:
            now = self.clock()
            pending = session.pending
            base = session.next_outbound
            for ev in events:
                pending.append(encode_event(ev, base + len(pending), now))
            self._dirty[session.session_id] = session

        def raw(events, order, count: int) -> None:
            """The same frames encoded in C (OrderEntry.fast_route): Python only slices them."""
            pending = session.pending
            size = lib.udr_fp_encode_reports(events, order, count, session.next_outbound + len(pending),
                                             self.clock(), self._reports, self._report_ends)
            if count == 1:
                pending.append(self._report_bytes[0:size])
            else:
                data = self._report_bytes[0:size]
                start = 0
                for end in ffi.unpack(self._report_ends, count):
                    pending.append(data[start:end])
                    start = end
            self._dirty[session.session_id] = session

        sink.raw = raw
        raw.udp_session = session  # whose replies LoopPass may build in C (reply_sessions)
        return sink

    # -- outbound -------------------------------------------------------------------------------

    def reply_sessions(self, groups, count: int) -> list[ServerSession] | None:
        """The sessions of a routed batch's groups when its replies can be built in C at once
        (LoopPass._reply_in_c): each an established UDP session with nothing pending, no other
        session with frames waiting, no drop-copy session to copy reports to. None: the sinks."""
        if not self.answers_in_c:
            return None
        raw_sinks, out = self.order_entry.raw_sinks, []
        for group in groups[0:count]:
            session = getattr(raw_sinks.get(group.session_id), "udp_session", None)  # not a gRPC flow's
            if session is None or session.state is not SessionState.ESTABLISHED or session.pending:
                return None
            out.append(session)
        return out

    def replied(self, sessions: list[ServerSession], messages: int, datagrams: int, now: int) -> None:
        """A C-built answer was sequenced (ServerSession.sequenced) and is leaving: the counters and
        each session's last send, as _flush_session keeps them."""
        self.replied_in_c(messages, datagrams)
        for session in sessions:
            session.last_send_ns = now

    def replied_in_c(self, messages: int, datagrams: int) -> None:
        """An answer built, numbered and sent in C (answer_pass.h, which set the sessions' last send)."""
        self.messages_out += messages
        self.datagrams_out += datagrams

    @property
    def dirty(self) -> bool:
        """Some session has frames waiting for flush_sessions."""
        return bool(self._dirty)

    @property
    def answers_in_c(self) -> bool:
        """A drained batch's replies may be built in C (LoopPass.drain_step): no session has frames
        waiting (they go first), and no drop-copy session is to get copies of the reports."""
        return not self._dirty and not self.sessions.drop_copies

    def flush_sessions(self) -> None:
        # A second round flushes the drop-copy sessions the first one gave copies to (their own
        # frames are never copied), so every copy is in the same router log commit as its report.
        while self._dirty:
            dirty, self._dirty = self._dirty, {}
            for session in dirty.values():
                self._flush_session(session)

    def _flush_session(self, session: ServerSession) -> None:
        if not session.pending:
            return
        if self.sessions.drop_copies and session.key.drop_copy is None:
            self.copy_reports(session, session.pending)
        self.messages_out += len(session.pending)
        datagrams = session.flush()
        if session.state is not SessionState.ESTABLISHED:
            return  # sequenced and kept: a re-established client can ask for them
        session.last_send_ns = self.clock()
        for datagram in datagrams:
            self._send(datagram, session.addr)

    def copy_reports(self, session: ServerSession, frames: list[bytes]) -> None:
        """The execution reports among a trading session's frames (UDP, or a gRPC session's flow
        as it sequences them), marked and queued on every drop-copy session of its account; they
        take their numbers when that session flushes (the pass's flush_sessions)."""
        if not self.sessions.drop_copies:
            return
        account = session.account
        targets = [d for d in self.sessions.drop_copies.values() if d.key.copies_account(account)]
        if not targets:
            return
        copies = self._copier.copies(frames, session.session_id, account)  # each one message
        if not copies:
            return
        for target in targets:
            target.pending.extend(copies)
            self._dirty[target.session_id] = target
        self.drop_copies += len(copies) * len(targets)

    def _send(self, data: bytes, addr) -> None:
        self.datagrams_out += 1
        self.send(data, addr)

    def on_timer(self) -> None:
        now = self.clock()
        self._log_mac_failures(now)
        for addr, datagram, session in self.sessions.on_timer(now):
            if session.state is not SessionState.ESTABLISHED:
                self._flush_session(session)
            self._send(datagram, addr)
        self.sessions.sweep(now)
        for session in self.sessions.take_released():
            self._dirty.pop(session.session_id, None)
            self.order_entry.release_session(session.session_id)
            self.on_release(session)
        self._cancel_on_disconnect(now)
        self._reset_released_ids()

    def disconnect(self, session: ServerSession, reason: str) -> bool:
        """Terminates an established session from the server side (Admin API): the client gets a
        Terminate, and a session that asked for cancel on disconnect (silence) has it armed as if
        its peer had gone silent. False when the session was not established."""
        if session.state is not SessionState.ESTABLISHED:
            return False
        now = self.clock()
        self._flush_session(session)
        addr = session.addr
        datagram = self.sessions.terminate(session, TerminationCode.UnspecifiedError, reason[:64])
        if session.cod_type & COD_ON_SILENCE:
            self.sessions.arm_cod(session, now)
        self._send(datagram, addr)
        self._cancel_on_disconnect(now)
        return True

    def cancel_on_router_stop(self) -> None:
        """A router stop disconnects every client: each session whose cancel on disconnect is armed,
        or that asked for it on silence and is established, gets its cancels now, while the engine
        still runs (SPEC: cancel on disconnect, router stop)."""
        now = self.clock()
        # the UDP sessions, and the gRPC flows whose cancel is armed (not in the UDP table)
        grpc_armed = [s for s in self.sessions.cod_armed.values() if s.uuid not in self.sessions.by_uuid]
        for session in [*self.sessions.by_uuid.values(), *grpc_armed]:
            established = session.state is SessionState.ESTABLISHED
            if session.cod_due_ns or (established and session.cod_type & COD_ON_SILENCE):
                self.sessions.arm_cod(session, now, delay_ms=0)
        self._cancel_on_disconnect(now)

    def _cancel_on_disconnect(self, now: int) -> None:
        """Every resting order of each session whose cancel on disconnect is due: one engine command
        each (journaled), its cancels sequenced in the session's own flow. An engine that cannot take
        the command now (busy, restarting) gets it again on the next timer pass."""
        due = self.sessions.cod_due(now)
        if not due:
            return
        fired = []
        for session in due:
            result = self.order_entry.command(lib.UDR_CMD_MASS_CANCEL, session.session_id, 0,
                                              ord_type=CANCEL_REASON_ON_DISCONNECT, recv_ns=now)
            if result.__class__ is not int:
                self.sessions.arm_cod(session, now, delay_ms=0)
            else:
                fired.append(session)
        self.order_entry.flush(now)
        for session in fired:
            self.sessions.cod_done(session)

    def _reset_released_ids(self) -> None:
        """Sends the engine a reset for each released id not yet reset (also those a restart found
        pending): once it is answered, the id is free for a new session (SessionStore)."""
        store, oe = self.sessions.store, self.order_entry
        if store is None or not store.pending or len(oe.resets_in_flight) >= len(store.pending):
            return
        oe.on_reset_done = store.reset_done
        for session_id in list(store.pending):
            if session_id not in oe.resets_in_flight and oe.submit_reset(session_id) is None:
                break
