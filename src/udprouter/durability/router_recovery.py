"""RouterRecovery: opens the RouterLog and rebuilds the router's state from it at start.

At start (before the engine is spawned, see EngineSupervisor.start's prepare): the router log is
replayed, its trailing write-ahead record confirmed against the ring, the order entry resumes its
command numbering and event routing position, the outbound ring is prepared so the new engine
re-emits the events whose reports were never logged, and every logged session is rebuilt (its
server and client sequence numbers, retransmission buffer, ClOrdID mark, open orders, cancel on
disconnect) without an address: the client negotiates and establishes again, then asks for what it
missed.
A key's gRPC flow (SessionId grpc_session_uuid(key_id)) is rebuilt the same way but kept out of the
UDP session table: grpc_flows hands it to the gRPC service, whose GrpcSession the router makes (and
registers as the flow's event sink) before its first drain.
While running: the ring's offers write the log ahead (installed here), and the loop pass
(loop_pass.LoopPass) commits the log before it sends, once per pass; each commit that advances the
logged event routing position also publishes it in the segment header (router_logged_through), so
the engine keeps the snapshot a recovery from it starts at.
Durability none keeps no router log: a restarted router starts its sessions afresh.
"""

from __future__ import annotations

import logging

from udprouter.config import RouterConfig
from udprouter.dispatcher import Dispatcher
from udprouter.durability.router_log import RecoveredState, RouterLog, replay
from udprouter.durability.session_store import grpc_session_uuid
from udprouter.engine_link.supervised_ring import SupervisedRing
from udprouter.order_entry import OrderEntry
from udprouter.ring import NO_ROUTER_LOG
from udprouter.server_session import ServerSession
from udprouter.session import SessionLayer

log = logging.getLogger("udprouter")


class RouterRecovery:
    def __init__(self, config: RouterConfig, sessions: SessionLayer, order_entry: OrderEntry,
                 dispatcher: Dispatcher) -> None:
        self.sessions = sessions  # the table the logged sessions go back into
        self.order_entry = order_entry  # resumes its command numbering and event routing position
        self.dispatcher = dispatcher  # routes a rebuilt session's events to it
        self.keys = list(config.keys)
        self.capacity = config.session.retransmit_buffer
        self.log: RouterLog | None = None
        self.recovered: RecoveredState | None = None
        if config.journal.durability != "none":
            self.log = RouterLog(config.journal.dir, config.journal.durability, self.capacity,
                                 config.journal.router_log_segment_bytes)
            sessions.store.log = self.log
        self.sessions_restored = 0
        # key_id -> the key's gRPC flow rebuilt from the log: not a UDP session (no Negotiate takes
        # it over); the router wraps each in its GrpcSession before the first drain.
        self.grpc_flows: dict[str, ServerSession] = {}
        # The ring's write-ahead hook: LoopPass.before_offer (the router sets it before start), which
        # flushes the sessions into the log's record. The log's own before_offer would leave the
        # router's replies out of that record, so there is no fallback to it.
        self.write_ahead = None

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
        oe = self.order_entry
        # The engine keeps the snapshot a recovery from the logged position starts at (it prints
        # a line, surfaced by EngineSupervisor, if events ever really cannot be re-sent).
        ring.router_logged_through = state.done_through
        self.log.position_header = ring
        if not state.empty:
            ring.prepare_replay(state.done_through)
            oe.resume_routing(state.done_through, state.partial)
        oe.resume_numbering(max(published, state.command_through))
        self.log.command_through = state.command_through
        self.log.done_through, self.log.partial = state.done_through, state.partial
        if self.write_ahead is None:
            raise RuntimeError("RouterRecovery.write_ahead is not set: the ring would offer without it")
        ring.before_offer = self.write_ahead

    def restore_sessions(self) -> None:
        """Rebuilds the logged sessions (after prepare) and starts this life's log."""
        if self.log is None:
            return
        state, store = self.recovered, self.sessions.store
        keys = {key.key_id: key for key in self.keys}
        entries = store.entries()
        for session_id, saved in (state.sessions.items() if state is not None else ()):
            uuid, key_id = entries.get(session_id, (None, None))
            key = keys.get(key_id)
            if key is None:  # unknown to the store, or its key was removed from the config
                continue
            first = store.first_outbound(session_id)
            if saved.first_outbound != first:
                continue  # logged by a previous occupant of the reused id: the new session starts afresh
            session = ServerSession(uuid, session_id, key, None, self.capacity, first)
            session.restore(saved.next_inbound, saved.next_outbound, list(saved.kept), saved.cl_ord_hwm,
                            saved.open_orders)
            self.log.attach(session)
            self.sessions_restored += 1
            grpc = uuid == grpc_session_uuid(key_id)
            if grpc:
                self.grpc_flows[key_id] = session
            else:
                self.sessions.restore(session)  # a drop-copy session: copies of re-emitted events too
            cod = state.cod.get(session_id)
            if cod is not None:  # cancel on disconnect armed, or asked by a session established at the crash
                self.sessions.restore_cod(session, cod, self.dispatcher.clock())  # (a gRPC one's too)
            if not grpc:
                self.dispatcher.attach(session)
        self.log.open()
