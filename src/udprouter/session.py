"""SessionLayer: the FIXP server session state machine over all sessions (pure logic, no sockets).

It creates every UDP session (ServerSession, server_session.py: the one object for a session's
state) at its first Negotiate and owns the table of them (by_uuid, by_addr); RouterRecovery puts
the sessions rebuilt from the router log back with restore(). Their durable ids are persisted by
the SessionStore (durability/session_store.py).

Session management (each message in a datagram of its own, no Sequence):
  Negotiate    -> NegotiationResponse, or NegotiationReject (Credentials, FlowTypeNotSupported, DuplicateId)
  Establish    -> EstablishmentAck (NextSeqNo = the server's next), or EstablishmentReject
  RetransmitRequest -> Retransmission + the kept messages, or RetransmitReject
  Terminate    -> Terminate (Finished); the address binding is dropped
A session is bound to the address and key that negotiated it. A repeated Negotiate or Establish
(same SessionId, same Timestamp, same address) is answered again without consulting the replay
cache: its response may have been lost. Unknown or unauthenticated sources get at most one small
reject per interval (token bucket per address), never larger than their request.
Keepalive: a Sequence heartbeat after KeepaliveInterval without sending; Terminate after the peer
has been silent for KEEPALIVE_LAPSE intervals (UDP loses packets, so one lapse is not enough).
Cancel on disconnect: the silence (CancelOnDisconnectType bit 1) or the peer's Terminate (bit 2)
arms it CODTimeoutWindow ms ahead (bounded by session.cod_timeout_window_max_ms); an Establish of
the session before then disarms it; cod_due() hands over the sessions whose time has come. Each
change is told to the router log, so a restarted router carries on with it (restore_cod).
"""

from __future__ import annotations

import enum
from collections import Counter

from udprouter._generated.messages import (
    Establish,
    EstablishmentAck,
    EstablishmentReject,
    EstablishmentRejectCode,
    FlowType,
    Negotiate,
    NegotiationReject,
    NegotiationRejectCode,
    NegotiationResponse,
    Retransmission,
    RetransmitReject,
    RetransmitRejectCode,
    RetransmitRequest,
    Terminate,
    TerminationCode,
)
from udprouter.auth import Authenticator, AuthResult
from udprouter.codec import encode_message
from udprouter.config import SessionConfig
from udprouter.datagram_mac import datagram_key
from udprouter.durability.session_store import SessionStore
from udprouter.ops.oplog import get_logger
from udprouter.server_session import RetransmitOutcome, ServerSession, SessionState, sequence_frame

KEEPALIVE_LAPSE = 3
MIN_FRAME = 14  # SOFH + message header: no retransmitted frame is smaller
COD_ON_SILENCE, COD_ON_TERMINATE = 1, 2  # CancelOnDisconnectType bits
MIN_KEEPALIVE_MS = 100
MAX_KEEPALIVE_MS = 60_000
log = get_logger()


def _address(addr) -> str:
    return f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) else str(addr)


class SessionEvent(enum.IntEnum):
    """What a session-management message did, for the server's listener and metrics."""

    NONE = 0
    ESTABLISHED = 1
    TERMINATED = 2


class RejectLimiter:
    """At most one reject per source address per interval; bounded memory (oldest forgotten)."""

    def __init__(self, rate_per_s: float, max_sources: int = 4096) -> None:
        self._interval_ns = int(1e9 / rate_per_s) if rate_per_s > 0 else 1 << 62
        self._next_ok: dict[object, int] = {}
        self._max = max_sources

    def allow(self, addr, now_ns: int) -> bool:
        if self._next_ok.get(addr, 0) > now_ns:
            return False
        if len(self._next_ok) >= self._max:
            self._next_ok.pop(next(iter(self._next_ok)))
        self._next_ok.pop(addr, None)
        self._next_ok[addr] = now_ns + self._interval_ns
        return True


class LoginBudget:
    """Token bucket over all sources for signature checks, so a flood cannot buy unbounded HMAC work."""

    def __init__(self, rate_per_s: float) -> None:
        self._rate = rate_per_s
        self._burst = max(1.0, rate_per_s / 10)
        self._tokens = self._burst
        self._last_ns = 0

    def take(self, now_ns: int) -> bool:
        self._tokens = min(self._burst, self._tokens + (now_ns - self._last_ns) * self._rate / 1e9)
        self._last_ns = now_ns
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class SessionLayer:
    def __init__(self, config: SessionConfig, auth: Authenticator, store: SessionStore,
                 engine_max_sessions: int | None = None) -> None:
        self.config = config
        self.engine_max_sessions = engine_max_sessions  # engine session ids 1..this are served
        self.auth = auth
        self.store = store
        self.by_addr: dict[object, ServerSession] = {}
        self.by_uuid: dict[bytes, ServerSession] = {}
        self.limiter = RejectLimiter(config.reject_rate_per_s)
        self.login_budget = LoginBudget(config.login_rate_per_s)
        self.rejects_suppressed = 0
        self.logins_dropped = 0
        self.login_failures: Counter[str] = Counter()  # by AuthResult name; summarised in the log
        self.retransmit_requests = self.retransmitted_frames = 0
        self.sessions_refused = 0  # Negotiates over a session limit (NegotiationReject SessionLimit)
        self.sessions_released = 0  # ended sessions forgotten after their retention
        self.released: list[ServerSession] = []  # released since the caller last took them
        self._next_sweep_ns = 0
        self.retransmits_refused = 0  # RetransmitRequests over the session's byte budget
        self.cod_armed: dict[bytes, ServerSession] = {}  # sessions whose cancel on disconnect is pending
        # Sessions of drop-copy keys (SPEC 4.12), by session_id, from their first Negotiate (or their
        # restore) until released: each gets a copy of every execution report of its accounts.
        self.drop_copies: dict[int, ServerSession] = {}

    def restore(self, session: ServerSession) -> None:
        """A session rebuilt from the router log (RouterRecovery), unbound until its peer negotiates."""
        self.by_uuid[session.uuid] = session
        self.track(session)

    def track(self, session: ServerSession) -> None:
        """A new or restored session: a drop-copy one starts receiving copies."""
        if session.key.drop_copy is not None:
            self.drop_copies[session.session_id] = session

    # -- session management ---------------------------------------------------------------------

    def on_negotiate(self, addr, msg: Negotiate, size: int, now_ns: int) -> tuple[list[bytes], SessionEvent]:
        uuid = bytes(msg.session_id)
        session = self.by_uuid.get(uuid)
        if session is not None and session.addr == addr and session.negotiate_ts == msg.timestamp:
            return [self._negotiation_response(session)], SessionEvent.NONE
        if not self.login_budget.take(now_ns):
            self.logins_dropped += 1
            return [], SessionEvent.NONE
        result, key = self.auth.verify("Negotiate", uuid, msg.timestamp, msg.credentials, now_ns)
        if result is not AuthResult.OK:
            self.login_failures[result.name.lower()] += 1
            return self._limited(addr, now_ns, size, self._neg_reject(msg, NegotiationRejectCode.Credentials,
                                                                     result.name.lower()))
        if msg.client_flow != FlowType.Idempotent:
            return self._limited(addr, now_ns, size, self._neg_reject(
                msg, NegotiationRejectCode.FlowTypeNotSupported, "client flow must be Idempotent"))
        if self.auth.is_grpc_flow(uuid):  # a key's gRPC flow (this key's or another's): not UDP's to take
            return self._limited(addr, now_ns, size, self._neg_reject(
                msg, NegotiationRejectCode.DuplicateId, "SessionId of a key's gRPC flow"))
        known = self.store.lookup(uuid)
        if (known is not None and known[1] != key.key_id) or (session is not None and not self._rebindable(
                session, addr, now_ns)):
            return self._limited(addr, now_ns, size, self._neg_reject(
                msg, NegotiationRejectCode.DuplicateId, "SessionId in use"))
        if session is None or session.state is SessionState.TERMINATED:
            refusal = self._over_limit(key.key_id, known is None)
            if refusal:
                self.sessions_refused += 1
                return self._limited(addr, now_ns, size, self._neg_reject(
                    msg, NegotiationRejectCode.SessionLimit, refusal))
        if session is None:
            session_id = self.store.assign(uuid, key.key_id)
            session = ServerSession(uuid, session_id, key, addr, self.config.retransmit_buffer,
                                    self.store.first_outbound(session_id))
            self.store.adopt(session)
            self.by_uuid[uuid] = session
            self.track(session)
        self._bind(session, addr)
        session.state = SessionState.NEGOTIATED
        session.negotiate_ts = msg.timestamp
        session.last_recv_ns = now_ns
        log.info("session_negotiated", session_id=session.session_id, key_id=key.key_id, addr=_address(addr))
        return [self._negotiation_response(session)], SessionEvent.NONE

    def _over_limit(self, key_id: str, new_id: bool) -> str:
        """Why one more live session (bound to an address: negotiated or established) is refused,
        or "" (SPEC 4.2)."""
        live = self.by_addr.values()
        if len(self.by_addr) >= self.config.max_sessions:
            return f"max {self.config.max_sessions} sessions"
        if sum(1 for s in live if s.key.key_id == key_id) >= self.config.max_sessions_per_key:
            return f"max {self.config.max_sessions_per_key} sessions per key"
        if new_id and self.engine_max_sessions is not None and self.store.next_id > self.engine_max_sessions:
            return f"engine session ids 1..{self.engine_max_sessions} all live or awaiting reset"
        return ""

    def _rebindable(self, session: ServerSession, addr, now_ns: int) -> bool:
        """A live session moves to a new address only once it is terminated or its peer went silent."""
        if session.addr == addr or session.state is not SessionState.ESTABLISHED:
            return True
        return now_ns - session.last_recv_ns > KEEPALIVE_LAPSE * session.keepalive_ms * 1_000_000

    def _bind(self, session: ServerSession, addr) -> None:
        if self.by_addr.get(session.addr) is session:
            del self.by_addr[session.addr]
        previous = self.by_addr.get(addr)
        if previous is not None and previous is not session:
            previous.state = SessionState.TERMINATED
        session.addr = addr
        self.by_addr[addr] = session

    def on_establish(self, addr, msg: Establish, size: int, now_ns: int) -> tuple[list[bytes], SessionEvent]:
        uuid = bytes(msg.session_id)
        session = self.by_uuid.get(uuid)
        if session is not None and session.addr == addr and session.establish_ts == msg.timestamp \
                and session.state is SessionState.ESTABLISHED:
            return [self._establishment_ack(session, msg.timestamp)], SessionEvent.NONE
        if not self.login_budget.take(now_ns):
            self.logins_dropped += 1
            return [], SessionEvent.NONE
        result, key = self.auth.verify("Establish", uuid, msg.timestamp, msg.credentials, now_ns)
        if result is not AuthResult.OK:
            self.login_failures[result.name.lower()] += 1
            return self._limited(addr, now_ns, size, self._est_reject(
                msg, EstablishmentRejectCode.Credentials, result.name.lower()))
        if session is None or session.key.key_id != key.key_id or session.state is SessionState.TERMINATED:
            return self._limited(addr, now_ns, size, self._est_reject(
                msg, EstablishmentRejectCode.Unnegotiated, "negotiate first"))
        if session.addr != addr:
            return self._limited(addr, now_ns, size, self._est_reject(
                msg, EstablishmentRejectCode.AlreadyEstablished, "bound to another address"))
        if not MIN_KEEPALIVE_MS <= msg.keepalive_interval <= MAX_KEEPALIVE_MS:
            return self._limited(addr, now_ns, size, self._est_reject(
                msg, EstablishmentRejectCode.KeepaliveInterval, f"{MIN_KEEPALIVE_MS}..{MAX_KEEPALIVE_MS} ms"))
        was_established = session.state is SessionState.ESTABLISHED
        # A new Establish (the repeated one returned above): a new datagram key.
        session.set_datagram_key(datagram_key(key.secret, uuid, msg.timestamp, key.key_id),
                                 self.config.authenticate_datagrams)
        session.state = SessionState.ESTABLISHED
        session.establish_ts = msg.timestamp
        session.keepalive_ms = msg.keepalive_interval
        session.cod_type = int(msg.cancel_on_disconnect_type)
        session.cod_window_ms = min(msg.cod_timeout_window, self.config.cod_timeout_window_max_ms)
        self.disarm_cod(session)  # established again within the window: nothing is canceled
        self._log_cod(session)
        session.last_recv_ns = session.last_send_ns = now_ns
        if msg.next_seq_no is not None:
            # Numbers below the server's expectation were already applied or declared not applied.
            session.next_inbound = max(session.next_inbound, msg.next_seq_no)
        event = SessionEvent.NONE if was_established else SessionEvent.ESTABLISHED
        if not was_established:
            log.info("session_established", session_id=session.session_id, key_id=key.key_id,
                     addr=_address(addr), keepalive_ms=session.keepalive_ms)
        return [self._establishment_ack(session, msg.timestamp)], event

    def on_retransmit_request(self, session: ServerSession, msg: RetransmitRequest,
                              now_ns: int) -> list[bytes]:
        def reject(code: RetransmitRejectCode, reason: str) -> list[bytes]:
            return self._session_reply(session, now_ns, self._retransmit_reject(msg, code, reason))

        if bytes(msg.session_id) != session.uuid:
            return reject(RetransmitRejectCode.InvalidSession, "wrong SessionId")
        rate = self.config.retransmit_bytes_per_s
        if not session.retransmit_budget.has(min(msg.count, self.config.retransmit_max_count) * MIN_FRAME,
                                             rate, now_ns):
            self.retransmits_refused += 1  # refused before any frame is gathered: a flood costs little
            return reject(RetransmitRejectCode.BudgetExceeded, f"{rate} bytes/s")
        outcome, datagrams = session.retransmit(msg.from_seq_no, msg.count, self.config.retransmit_max_count)
        self.retransmit_requests += 1
        if outcome is RetransmitOutcome.REQUEST_LIMIT_EXCEEDED:
            limit = self.config.retransmit_max_count
            return reject(RetransmitRejectCode.RequestLimitExceeded, f"max {limit}")
        if outcome is RetransmitOutcome.OUT_OF_RANGE:
            first, end = session.kept_range()
            return reject(RetransmitRejectCode.OutOfRange, f"kept {first}..{end - 1}")
        header = encode_message(Retransmission(session_id=session.uuid, request_timestamp=msg.timestamp,
                                               next_seq_no=msg.from_seq_no, count=msg.count))
        # The byte budget (SPEC 4.4): a request larger than one second's budget never fits; one
        # that does not fit now is refused until the budget refills.
        size = len(header) + sum(map(len, datagrams))
        if size > rate:
            return reject(RetransmitRejectCode.RequestLimitExceeded, f"{size} bytes > {rate} per request")
        if not session.retransmit_budget.take(size, rate, now_ns):
            self.retransmits_refused += 1
            return reject(RetransmitRejectCode.BudgetExceeded, f"{rate} bytes/s")
        self.retransmitted_frames += msg.count
        return [header, *datagrams]

    def _session_reply(self, session: ServerSession, now_ns: int, reply: bytes) -> list[bytes]:
        """A reject to an established session's request: within its budget of unnumbered replies
        (session_reject_rate_per_s), so a flood of bad requests is not answered in kind."""
        if session.allow_unnumbered(self.config.session_reject_rate_per_s, now_ns):
            return [reply]
        self.rejects_suppressed += 1
        return []

    def on_terminate(self, session: ServerSession, msg: Terminate,
                     now_ns: int = 0) -> tuple[list[bytes], SessionEvent]:
        if bytes(msg.session_id) != session.uuid:
            return [], SessionEvent.NONE
        if session.cod_type & COD_ON_TERMINATE:
            self.arm_cod(session, now_ns)
        log.info("session_terminated", session_id=session.session_id, key_id=session.key.key_id,
                 addr=_address(session.addr), by="client")
        return [self.terminate(session, TerminationCode.Finished, "")], SessionEvent.TERMINATED

    def terminate(self, session: ServerSession, code: TerminationCode, reason: str) -> bytes:
        """Ends the session (the durable session_id and its state stay for a later Negotiate)."""
        session.state = SessionState.TERMINATED
        if self.by_addr.get(session.addr) is session:
            del self.by_addr[session.addr]
        self._log_cod(session)
        return encode_message(Terminate(session_id=session.uuid, code=code, reason=reason))

    # -- end of life ----------------------------------------------------------------------------

    def sweep(self, now_ns: int) -> None:
        """About once a second: a negotiated session not established within KEEPALIVE_LAPSE default
        keepalive intervals loses its binding; an ended session is released (forgotten with its
        memory, its SessionId and its line in the store) once ended_retention_s has passed, so
        a reconnect within it resumes and memory stays bounded by the live sessions."""
        if now_ns < self._next_sweep_ns:
            return
        self._next_sweep_ns = now_ns + 1_000_000_000
        negotiate_ns = KEEPALIVE_LAPSE * self.config.keepalive_ms * 1_000_000
        retention_ns = int(self.config.ended_retention_s * 1e9)
        for session in list(self.by_uuid.values()):
            state = session.state
            if state is SessionState.NEGOTIATED and now_ns - session.last_recv_ns > negotiate_ns:
                self.terminate(session, TerminationCode.UnspecifiedError, "not established")
                state = session.state
            if state is not SessionState.TERMINATED:
                continue
            if not session.ended_ns:
                session.ended_ns = now_ns
            elif now_ns - session.ended_ns >= retention_ns:
                self._release(session)

    def _release(self, session: ServerSession) -> None:
        del self.by_uuid[session.uuid]
        self.disarm_cod(session)  # the engine's reset of its id cancels its orders; the id may be reused
        self.drop_copies.pop(session.session_id, None)
        if self.by_addr.get(session.addr) is session:
            del self.by_addr[session.addr]
        self.store.release(session.uuid, session.next_pending_seq())
        if session.journal is not None and hasattr(session.journal, "detach"):
            session.journal.detach(session.session_id)
        session.journal = None
        self.sessions_released += 1
        self.released.append(session)

    def take_released(self) -> list[ServerSession]:
        released, self.released = self.released, []
        return released

    # -- keepalive ------------------------------------------------------------------------------

    def on_timer(self, now_ns: int) -> list[tuple[object, bytes, ServerSession]]:
        """Heartbeats for idle sessions and Terminate for silent peers: (addr, datagram, session)."""
        out = []
        for session in list(self.by_addr.values()):
            if session.state is not SessionState.ESTABLISHED:
                continue
            interval_ns = session.keepalive_ms * 1_000_000
            if now_ns - session.last_recv_ns > KEEPALIVE_LAPSE * interval_ns:
                log.info("session_expired", session_id=session.session_id, key_id=session.key.key_id,
                         addr=_address(session.addr), silent_ms=(now_ns - session.last_recv_ns) // 1_000_000)
                if session.cod_type & COD_ON_SILENCE:
                    self.arm_cod(session, now_ns)
                out.append((session.addr, self.terminate(session, TerminationCode.UnspecifiedError,
                                                         "keepalive lapsed"), session))
            elif now_ns - session.last_send_ns >= interval_ns and not session.pending:
                session.last_send_ns = now_ns
                out.append((session.addr, sequence_frame(session.next_outbound), session))
        return out

    # -- cancel on disconnect -------------------------------------------------------------------

    def arm_cod(self, session: ServerSession, now_ns: int, delay_ms: int | None = None) -> None:
        window = session.cod_window_ms if delay_ms is None else delay_ms
        session.cod_due_ns = now_ns + window * 1_000_000
        self.cod_armed[session.uuid] = session
        self._log_cod(session)

    def disarm_cod(self, session: ServerSession) -> None:
        session.cod_due_ns = 0
        self.cod_armed.pop(session.uuid, None)

    def cod_done(self, session: ServerSession) -> None:
        """Its cancel went to the engine: logged only now, so a crash before it repeats the cancel
        (which finds nothing more to cancel) rather than losing it."""
        self._log_cod(session, done=True)

    def restore_cod(self, session: ServerSession, cod, now_ns: int) -> None:
        """A session rebuilt after a router crash, with its logged CodRecord (SPEC 4.6.1, router
        crash): an armed cancel falls due when it would have (at once if that has passed); a session
        established with cancel on silence is silent from the restart on (lapse + window); one
        established with cancel on Terminate only keeps its orders."""
        session.cod_type, session.cod_window_ms = cod.cod_type, cod.window_ms
        session.keepalive_ms = cod.keepalive_ms
        if cod.due_ns:
            self.arm_cod(session, cod.due_ns, delay_ms=0)
        elif cod.established and cod.cod_type & COD_ON_SILENCE:
            self.arm_cod(session, now_ns, KEEPALIVE_LAPSE * cod.keepalive_ms + cod.window_ms)

    @staticmethod
    def _log_cod(session: ServerSession, done: bool = False) -> None:
        """Tells the router log (if any) the session's cancel-on-disconnect state."""
        note = getattr(session.journal, "note_cod", None)
        if note is not None:
            note(session, done)

    def cod_due(self, now_ns: int) -> list[ServerSession]:
        """Sessions whose cancel on disconnect is due now (disarmed: the caller carries it out)."""
        if not self.cod_armed:
            return []
        due = [s for s in self.cod_armed.values() if s.cod_due_ns <= now_ns]
        for session in due:
            self.disarm_cod(session)
        return due

    # -- replies --------------------------------------------------------------------------------

    def allow_reject(self, addr, now_ns: int, reply_size: int, request_size: int) -> bool:
        """Unauthenticated sources: rate-limited, and never answered with more bytes than they sent."""
        if reply_size > request_size or not self.limiter.allow(addr, now_ns):
            self.rejects_suppressed += 1
            return False
        return True

    def _limited(self, addr, now_ns: int, size: int, reply: bytes) -> tuple[list[bytes], SessionEvent]:
        return ([reply] if self.allow_reject(addr, now_ns, len(reply), size) else []), SessionEvent.NONE

    @staticmethod
    def _negotiation_response(session: ServerSession) -> bytes:
        msg = NegotiationResponse(session.uuid, session.negotiate_ts, FlowType.Recoverable, b"")
        return encode_message(msg)

    @staticmethod
    def _establishment_ack(session: ServerSession, request_ts: int) -> bytes:
        return encode_message(EstablishmentAck(session_id=session.uuid, request_timestamp=request_ts,
                                               keepalive_interval=session.keepalive_ms,
                                               next_seq_no=session.next_outbound + len(session.pending)))

    @staticmethod
    def _neg_reject(msg: Negotiate, code: NegotiationRejectCode, reason: str) -> bytes:
        return encode_message(NegotiationReject(bytes(msg.session_id), msg.timestamp, code, reason))

    @staticmethod
    def _est_reject(msg: Establish, code: EstablishmentRejectCode, reason: str) -> bytes:
        return encode_message(EstablishmentReject(session_id=bytes(msg.session_id),
                                                  request_timestamp=msg.timestamp, code=code, reason=reason))

    @staticmethod
    def _retransmit_reject(msg: RetransmitRequest, code: RetransmitRejectCode, reason: str) -> bytes:
        return encode_message(RetransmitReject(bytes(msg.session_id), msg.timestamp, code, reason))
