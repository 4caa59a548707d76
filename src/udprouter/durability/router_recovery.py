"""RouterRecovery: wires the RouterLog into a Router and rebuilds the router's state from it at start.

At start (before the engine is spawned, see EngineSupervisor.start's prepare): the router log is
replayed, its trailing write-ahead record confirmed against the ring, the order entry resumes its
command numbering and event routing position, the outbound ring is prepared so the new engine
re-emits the events whose reports were never logged, and every logged session is rebuilt (its
server and client sequence numbers, retransmission buffer, ClOrdID mark, open orders, cancel on
disconnect) without an address: the client negotiates and establishes again, then asks for what it
missed.
While running: the ring's offers write the log ahead, and replies wait in an outbox until the log
holds every frame they carry (one commit per loop pass, after all sessions are flushed, so the
logged event routing position matches the logged frames exactly); each commit that advances that
position also publishes it in the segment header (router_logged_through), so the engine keeps the
snapshot a recovery from it starts at.
Durability none keeps no router log: a restarted router starts its sessions afresh.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from udprouter.ring import NO_ROUTER_LOG
from udprouter.durability.router_log import RecoveredState, RouterLog, replay
from udprouter.server_session import ServerSession
from udprouter.engine_link.supervised_ring import SupervisedRing

log = logging.getLogger("udprouter")
Send = Callable[[bytes, object], None]


class RouterRecovery:
    def __init__(self, router) -> None:
        self.router = router
        config = router.config
        self.capacity = config.session.retransmit_buffer
        self.log: RouterLog | None = None
        self.recovered: RecoveredState | None = None
        if config.journal.durability != "none":
            self.log = RouterLog(config.journal.dir, config.journal.durability, self.capacity,
                                 config.journal.router_log_segment_bytes)
            router.store.log = self.log
            self.log.on_unavailable = self._journal_unavailable
        self._outbox: list[tuple[bytes, object]] = []
        self._send: Send | None = None
        self._schedule: Callable | None = None
        self._scheduled = False
        self.defer_flush = False  # inside a router pass: its end flushes, no loop callback needed
        self._closed = False
        self.sessions_restored = 0

    # -- start ----------------------------------------------------------------------------------

    def prepare(self, ring: SupervisedRing, reattached: bool) -> None:
        """EngineSupervisor.start's hook: ring reattached or created, engine not yet running."""
        if self.log is None:
            ring.router_logged_through = NO_ROUTER_LOG  # the engine keeps its ring-window retention
            return
        state = self.recovered = replay(self.log.directory, self.capacity)
        if state.cut_bytes:
            log.warning("router log: cut a torn tail of %d bytes", state.cut_bytes)
        published = ring.published_command_seq() if reattached else 0
        state.confirm(published)
        oe = self.router.order_entry
        # The engine keeps the snapshot a recovery from the logged position starts at (it prints
        # a line, surfaced by EngineSupervisor, if events ever really cannot be re-sent).
        ring.router_logged_through = state.done_through
        self.log.position_header = ring
        if not state.empty:
            ring.prepare_replay(state.done_through)
            oe.done_through = state.done_through
            oe._skip = state.partial  # the engine re-emits that command's events from the first
        through = max(published, state.command_through)
        oe.next_command_seq = max(oe.next_command_seq, through + 1)
        oe.published_through = through
        self.log.command_through = state.command_through
        self.log.done_through, self.log.partial = state.done_through, state.partial
        ring.before_offer = self.log.before_offer

    def restore_sessions(self) -> None:
        """Rebuilds the logged sessions (after prepare) and starts this life's log."""
        if self.log is None:
            return
        router, state = self.router, self.recovered
        keys = {key.key_id: key for key in router.config.keys}
        entries = router.store.entries()
        for session_id, saved in (state.sessions.items() if state is not None else ()):
            uuid, key_id = entries.get(session_id, (None, None))
            key = keys.get(key_id)
            if key is None:  # unknown to the store, or its key was removed from the config
                continue
            first = router.store.first_outbound(session_id)
            if saved.first_outbound != first:
                continue  # logged by a previous occupant of the reused id: the new session starts afresh
            session = ServerSession(uuid, session_id, key, None, self.capacity, first)
            session.restore(saved.next_inbound, saved.next_outbound, list(saved.kept), saved.cl_ord_hwm,
                            saved.open_orders)
            router.sessions.by_uuid[uuid] = session
            router.sessions.track(session)  # a drop-copy session: copies of re-emitted events too
            self.log.attach(session)
            cod = state.cod.get(session_id)
            if cod is not None:  # cancel on disconnect armed, or asked by a session established at the crash
                router.sessions.restore_cod(session, cod, router.dispatcher.clock())
            router.order_entry.register_sink(session_id, router.dispatcher._sink_for(session), session.ctx)
            self.sessions_restored += 1
        self.log.open()

    # -- running --------------------------------------------------------------------------------

    def wrap_send(self, send: Send, schedule: Callable) -> Send:
        """The dispatcher's send: replies wait for the pass's log commit (unless there is no log)."""
        if self.log is None:
            return send
        self._send, self._schedule = send, schedule
        return self._hold

    def _hold(self, data: bytes, addr) -> None:
        if self._closed:  # stopping: the log is closed, nothing more is journaled
            self._send(data, addr)
            return
        self._outbox.append((data, addr))
        if not self._scheduled and not self.defer_flush:
            self._scheduled = True
            self._schedule(self.flush)

    def flush(self) -> None:
        """Flushes every session (so all routed events are in logged frames), commits, then sends."""
        router = self.router
        self._scheduled = True  # replies made by this flush join this outbox
        router.dispatcher.flush_sessions()
        oe = router.order_entry
        if not self.log.commit(oe.done_through, oe._partial):
            self._scheduled = False  # held until a write succeeds (a later pass, or retry())
            return
        out, self._outbox = self._outbox, []
        self._scheduled = False
        send = self._send
        for data, addr in out:
            send(data, addr)
        if out:
            router._flush_udp()  # the fast path queues sends until its flush

    def retry(self) -> None:
        """The router's timer: while the log cannot be written, tries again and sends what it held."""
        if self.log is None or not self.log.unavailable or not self.log.retry():
            return
        self.router.order_entry.flush()  # a batch whose write-ahead record had failed
        if self._outbox:
            self.flush()

    def _journal_unavailable(self, unavailable: bool) -> None:
        self.router.order_entry.journal_unavailable = unavailable

    def end_pass(self) -> None:
        """The router's pass is over: commit and send what it held (what a scheduled flush would
        do one loop iteration later, an extra epoll_wait and callback per pass)."""
        self.defer_flush = False
        if self._outbox:
            self.flush()

    def close(self) -> None:
        if self.log is not None:
            if self._send is not None:
                self.flush()
            self.log.close()
            self._closed = True

