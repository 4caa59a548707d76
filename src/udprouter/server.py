"""The router process: UDP socket (bytes in/out only), engine supervision, metrics, lifecycle.

With udp.fast_path (the default on IPv4) a readable callback drains the socket with recvmmsg
and ends the pass itself, and the pass's datagrams leave in one sendmmsg (fast_io.DatagramSocket);
otherwise RouterProtocol hands each datagram to the codec and the Dispatcher and schedules one
end-of-pass call per event-loop pass. Either way a burst of datagrams becomes one ring offer, one
event drain and one send per session. Events from the engine also arrive through the outbound
eventfd (add_reader).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass

from udprouter.account_controls import ControlDesk
from udprouter.auth import Authenticator
from udprouter.config import JournalConfig, RouterConfig, instruments_of, resolve_engine_binary
from udprouter.dispatcher import Dispatcher
from udprouter.durability.journal_lock import JournalLock
from udprouter.durability.router_recovery import RouterRecovery
from udprouter.durability.session_store import SessionStore
from udprouter.engine_link.engine_supervisor import EngineSupervisor
from udprouter.errors import ConfigError
from udprouter.fastpath.fast_ingest import MAX_READS, NO_SESSION, FastIngest
from udprouter.fastpath.fast_io import MAX_BATCH, DatagramSocket
from udprouter.fastpath.low_rate_spin import LowRateSpin, RateWindow
from udprouter.loop_pass import LoopPass
from udprouter.ops.config_reload import ConfigReloader
from udprouter.ops.metrics import Metrics, MetricSources
from udprouter.ops.monitor import OpsMonitor
from udprouter.ops.oplog import get_logger
from udprouter.order_entry import OrderEntry
from udprouter.risk import Risk
from udprouter.server_session import SessionState
from udprouter.session import SessionLayer

log = get_logger()
TIMER_INTERVAL_S = 0.05
DRAIN_TIMEOUT_S = 5.0
SOCKET_BUFFER_BYTES = 8 << 20  # a burst from many clients waits in the kernel, not on the floor


class RouterProtocol(asyncio.DatagramProtocol):
    def __init__(self, router: Router) -> None:
        self.router = router

    def connection_made(self, transport) -> None:
        self.router.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.router.on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.router.counters.send_errors += 1  # e.g. ICMP port unreachable from a client that went away


@dataclass(slots=True)
class ServerCounters:
    """The server's own counters (the metrics collector reads them at scrape time)."""

    send_errors: int = 0  # reported by the asyncio endpoint (the fast path's socket counts its own)
    datagram_errors: int = 0  # datagrams whose handling raised (a bug: see Router._dispatch)
    events_drained_by_timer: int = 0  # should stay ~0: the eventfd wakes the router first


class Router:
    """Assembles the router: every part is made here and given, at construction, exactly the parts
    it reads or changes; nothing else holds the whole Router."""

    def __init__(self, config: RouterConfig, capture_path: str | None = None,
                 config_path: str | None = None) -> None:
        self.config = config
        self.binary = resolve_engine_binary(config)
        # First: nothing touches a journal in use. The built-in default (var/journal) is ours to create.
        journal = config.journal.dir
        self.lock = JournalLock.acquire(journal, create_parents=journal == JournalConfig().dir)
        try:
            self.store = SessionStore(config.journal.dir)
        except BaseException:
            self.lock.release()
            raise
        self.auth = Authenticator(config.keys, int(config.session.timestamp_window_s * 1e9))
        self.sessions = SessionLayer(config.session, self.auth, self.store, config.engine.max_sessions)
        limits = config.session
        self.risk = Risk(instruments_of(config), limits.max_open_orders, limits.throttle_msgs_per_s)
        self.order_entry = OrderEntry(self.risk)
        self.controls = ControlDesk(self.order_entry)
        self.dispatcher = Dispatcher(self.sessions, self.order_entry)
        self.supervisor = EngineSupervisor(config, self.binary, self.order_entry, self.lock)
        self.supervisor.on_restart = self.dispatcher.flush_sessions
        # router.log: session state that survives a router crash, rebuilt at start by recovery and
        # committed by the loop pass before anything it holds is sent.
        self.recovery = RouterRecovery(config, self.sessions, self.order_entry, self.dispatcher)
        self.loop_pass = LoopPass(self.order_entry, self.dispatcher, self.supervisor)
        self.loop_pass.answer_wait_ns = config.udp.answer_wait_us * 1000
        self.loop_pass.offer_rate = RateWindow(config.engine.low_rate) if config.engine.low_rate else None
        self.loop_pass.use_log(self.recovery.log)
        self.recovery.write_ahead = self.loop_pass.before_offer
        self.fast = FastIngest(self.risk, self.order_entry)
        udp = config.udp  # between passes at low rates (fast path only): spin, or sleep in epoll
        self.spin = LowRateSpin(udp.low_rate if udp.wait == "adaptive" else 0, udp.low_rate_spin_us)
        self.grpc_auth = None  # the gRPC trading keys, made here so a reload reaches them
        if config.grpc.enabled:
            from fallback_grpc.bearer_auth import BearerAuthenticator
            self.grpc_auth = BearerAuthenticator(config.keys)
        self.monitor = OpsMonitor(config.journal.dir, self.order_entry, self.supervisor, self.risk,
                                  self.sessions)  # health, watchdog, episode log lines
        key_tables = (self.auth,) if self.grpc_auth is None else (self.auth, self.grpc_auth)
        self.reloader = ConfigReloader(config_path, config, key_tables, self.risk, self.fast,
                                       self.order_entry)  # SIGHUP
        self.counters = ServerCounters()
        self.metrics = Metrics()
        self.metrics.attach(MetricSources(
            server=self.counters, dispatcher=self.dispatcher, sessions=self.sessions, store=self.store,
            risk=self.risk, order_entry=self.order_entry, loop_pass=self.loop_pass,
            supervisor=self.supervisor, router_log=self.recovery.log, monitor=self.monitor,
            reloader=self.reloader, spin=self.spin,
            engine_binary=str(self.binary)))
        self.order_entry.on_batch_acked = self.metrics.observe_ack_ns
        self.capture = None
        if capture_path:
            from udprouter.capture import CaptureDirection, CaptureWriter
            self.capture = CaptureWriter(capture_path)
            self._inbound, self._outbound = CaptureDirection.INBOUND, CaptureDirection.OUTBOUND
        self.transport = None
        self.udp: DatagramSocket | None = None  # the fast path's socket (udp.fast_path on IPv4)
        self.dispatcher.on_release = self._released
        self.udp_address = None
        self.metrics_port = None
        self._next_error_log = 0.0
        self.grpc = None
        self.grpc_sessions = {}  # key_id -> GrpcSession rebuilt from the router log (start)
        self._pass_scheduled = False
        self._timer = None
        self._loop = None
        self._reading = True  # False once stopping: nothing more is accepted

    async def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._probe_ports()  # a port in use is refused before anything is spawned
        await self.supervisor.start(self.recovery.prepare)
        new_journal = self.order_entry.next_command_seq == 1
        self.recovery.restore_sessions()
        # Restored gRPC flows take the events the engine re-emits from the first drain on (the
        # gRPC service, started later, serves these same GrpcSessions).
        self.grpc_sessions = {}
        if self.recovery.grpc_flows:
            from fallback_grpc.grpc_session import restored_sessions

            self.grpc_sessions = restored_sessions(self.recovery.grpc_flows, self.order_entry,
                                                   self.dispatcher.copy_reports)
        if new_journal:  # the config's accounts seed a new journal; after that it holds them
            self.controls.seed_from_config(self.config.accounts)
        ring = self.supervisor.ring
        loop.add_reader(ring.outbound_eventfd, self.loop_pass.on_engine_events)
        ring.set_router_sleeping(True)  # the router is event-driven: the engine always wakes it
        udp = self.config.udp
        if udp.fast_path and DatagramSocket.supports(udp.host):
            with _bind_error("udp", udp.host, udp.port):
                self.udp = DatagramSocket(udp.host, udp.port, SOCKET_BUFFER_BYTES, loop.call_soon)
            self.fast.use_socket(self.udp)
            loop.add_reader(self.udp.fd, self._on_udp_readable)
            self.spin.start(lambda: self.supervisor.ring, self.udp.fd, self._on_udp_readable,
                            self.loop_pass.on_engine_events, loop.call_soon)
            self.udp_address = self.udp.address
            self._sendto = self.udp.send
            self.order_entry.fast_route = True  # routing and UDP reports in C (fast_egress.h)
        else:
            with _bind_error("udp", udp.host, udp.port):
                await self._open_endpoint(loop, udp.host, udp.port)
        self.loop_pass.start(self._send_capture if self.capture else self._sendto, self.udp, loop.call_soon,
                             build_replies=self.capture is None)
        if self.config.metrics.enabled:
            metrics = self.config.metrics
            with _bind_error("metrics", metrics.host, metrics.port):
                self.metrics_port = self.metrics.serve(metrics.host, metrics.port)
        if self.config.grpc.enabled:
            from fallback_grpc.grpc_server import start_grpc_server

            grpc = self.config.grpc
            with _bind_error("grpc", grpc.host, grpc.port):
                _probe_port(grpc.host, grpc.port)  # grpc's own failure is a multi-line C-core log
                self.grpc = await start_grpc_server(
                    self.config, auth=self.grpc_auth, order_entry=self.order_entry, store=self.store,
                    fast=self.fast, dispatcher=self.dispatcher, sessions=self.sessions,
                    controls=self.controls, registry=self.metrics.registry, ready=self.monitor.ready,
                    grpc_sessions=self.grpc_sessions, durable=self.loop_pass.durable)
        self._timer = loop.call_later(TIMER_INTERVAL_S, self._on_timer)
        self.monitor.start()

    def _released(self, session) -> None:
        """A released session: nothing of it stays in the fast path's tables or the address cache."""
        self.fast.unbind(session)
        if self.udp is not None:
            self.udp.forget(session.addr)

    def _probe_ports(self) -> None:
        """Raises ConfigError naming the key of a configured port that cannot be bound."""
        cfg = self.config
        with _bind_error("udp", cfg.udp.host, cfg.udp.port):
            _probe_port(cfg.udp.host, cfg.udp.port, socket.SOCK_DGRAM)
        for key, section in (("metrics", cfg.metrics), ("grpc", cfg.grpc)):
            if section.enabled:
                with _bind_error(key, section.host, section.port):
                    _probe_port(section.host, section.port, socket.SOCK_STREAM)

    async def _open_endpoint(self, loop, host: str, port: int) -> None:
        self.transport, _ = await loop.create_datagram_endpoint(lambda: RouterProtocol(self),
                                                                local_addr=(host, port))
        self.udp_address = self.transport.get_extra_info("sockname")
        sock = self.transport.get_extra_info("socket")
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)
        self._sendto = self.transport.sendto

    def _on_udp_readable(self) -> None:
        """Drains the socket in recvmmsg batches, then ends the pass itself (no call_soon). The
        first read is C's whole common case (FastIngest.read): when every datagram took the fast
        path and the router log took the write-ahead record in C, it has offered the commands too
        and the pass ends from there; otherwise the Python path goes on where it stopped."""
        udp, lp, fast, dispatcher = self.udp, self.loop_pass, self.fast, self.dispatcher
        lp.open()
        now = dispatcher.clock()
        if self.capture is None:
            r = fast.read(now, lp.write_ahead_log(), self.supervisor.ring)
            udp.receive_errors += r.receive_errors
            received, reads, n, start = r.received, r.reads, r.in_arena, r.next
            dispatcher.messages_in += fast.end()
            dispatcher.datagrams_in += r.applied
            if lp.read_in_c(r, fast.record, now):
                self.spin.after_read(received)
                return
            if r.applied:
                self._touch(fast.touched(r), now)
        else:
            received = n = udp.receive_raw()
            reads, start = 1, 0
        while True:
            if n > start:
                self._ingest_received(n, start, now)
            if n < MAX_BATCH or reads >= MAX_READS:
                break
            n = udp.receive_raw()
            received += n
            reads, start = reads + 1, 0
        self._end_of_pass()
        self.spin.after_read(received)

    def _ingest_received(self, n: int, i: int, now: int) -> None:
        """The received datagrams i.. in arrival order: runs of them through C in one call each
        (FastIngest.run), the others through the Python path one by one."""
        udp, fast, dispatcher = self.udp, self.fast, self.dispatcher
        arena, lens, keys = udp.arena, udp.lens, udp.keys
        if self.capture is not None:  # every datagram as it came in (replies leave after the pass)
            for k in range(i, n):
                data, addr = udp.received(k)
                self.capture.record(self._inbound, addr, self.udp_address, data)
        applied_before = fast.outcomes[0]
        while i < n:
            i, stopped, applied = fast.run(arena, lens, keys, i, n, now, self._touch)
            dispatcher.messages_in += applied
            if i == n:
                break
            data, addr = udp.received(i)
            self._dispatch(data, addr)  # recorded above if capturing
            if stopped == NO_SESSION:
                session = self.sessions.by_addr.get(addr)
                if session is not None and session.state is SessionState.ESTABLISHED \
                        and session.key.drop_copy is None:  # read-only: every datagram to Python
                    fast.bind(keys[i], session)  # its next datagrams from there take the C run
            i += 1
        dispatcher.datagrams_in += fast.outcomes[0] - applied_before

    def _touch(self, keys: list[int], now: int) -> None:
        """Sessions that just had datagrams applied in C (which set their last_recv_ns): the router
        log hears of their inbound progress, as the Python path's accept_inbound tells it."""
        bound = self.fast.bound
        for key in keys:
            session = bound(key)
            if session.journal is not None:
                session.journal.inbound(session)

    def on_datagram(self, data: bytes, addr) -> None:
        """The asyncio endpoint's path (no fast path): one datagram, its pass scheduled once."""
        if not self._reading:
            return  # stopping (uvloop's endpoint cannot pause): unread, the client resends it later
        if self.capture is not None:
            self.capture.record(self._inbound, addr, self.udp_address, data)
        self._dispatch(data, addr)
        if not self._pass_scheduled:
            self._pass_scheduled = True
            self._loop.call_soon(self._end_of_pass)

    def _dispatch(self, data: bytes, addr) -> None:
        """One datagram through the Python path. Nothing it holds may end the read batch it came in
        (its neighbours are other sessions' orders): an unexpected failure is counted and logged as
        one line at most once a second, and the next datagram goes on."""
        try:
            self.dispatcher.receive(data, addr)  # the MAC checked first, then decoded and dispatched
        except Exception as exc:  # noqa: BLE001 - the isolation boundary between datagrams
            self.counters.datagram_errors += 1
            now = time.monotonic()
            if now >= self._next_error_log:
                self._next_error_log = now + 1.0
                log.error("datagram_not_handled", addr=f"{addr[0]}:{addr[1]}",
                          so_far=self.counters.datagram_errors, error=f"{type(exc).__name__}: {exc}")

    def _end_of_pass(self) -> None:
        self._pass_scheduled = False
        self.loop_pass.end()
        if self.capture is not None:
            self.capture.flush()

    def _send_capture(self, data: bytes, addr) -> None:
        self.capture.record(self._outbound, self.udp_address, addr, data)
        self._sendto(data, addr)

    def _on_timer(self) -> None:
        self.dispatcher.on_timer()
        self.loop_pass.retry_log()  # a router log that could not be written: try again, send what waited
        # A lost wake-up costs at most one timer interval; events found here count as late.
        self.counters.events_drained_by_timer += self.loop_pass.on_engine_events()
        self._timer = self._loop.call_later(TIMER_INTERVAL_S, self._on_timer)

    async def stop(self) -> bool:
        """Stops reading first (the UDP reader goes, gRPC refuses new calls and finishes those in
        flight), then drains: the last batch is offered and every accepted command's events are
        routed, logged and sent (bounded by DRAIN_TIMEOUT_S); then the engine stops and everything
        is released. Safe after a start that failed half-way. Returns False if the drain did not
        finish (the segment, with what the engine never took, is kept for the next start)."""
        self.monitor.stopping = True
        # A start refused before the engine ran (a port in use, a segment of another journal) says
        # so in one line; the shutdown stages are logged only for a router that served.
        stage = log.info if self.supervisor.proc is not None else _silent
        stage("shutdown_begin", outstanding=self.order_entry.outstanding)
        self._stop_reading()
        stage("shutdown_reading_stopped")
        if self.grpc is not None:
            await self.grpc.stop()
            stage("shutdown_grpc_stopped")
        if self._timer is not None:
            self._timer.cancel()
        self.dispatcher.cancel_on_router_stop()  # while the engine still runs (SPEC 4.6.1)
        drained = await self._drain()
        self.dispatcher.flush_sessions()
        stage("shutdown_orders_drained", left=self.order_entry.outstanding)
        self.loop_pass.close()
        self.monitor.close()
        self.loop_pass.flush_socket()
        ring = self.supervisor.ring
        if ring is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(ring.outbound_eventfd)
        if not drained:
            log.warning("shutdown_drain_incomplete", left=self.order_entry.outstanding,
                        timeout_s=DRAIN_TIMEOUT_S, kept_segment=self.supervisor.shm_name)
        await self.supervisor.stop(keep_segment=not drained)
        stage("shutdown_engine_stopped")
        if self.transport is not None:
            self.transport.close()
        if self.udp is not None:
            self.udp.close()
        self.metrics.close()
        if self.capture is not None:
            self.capture.close()
        self.store.close()
        self.lock.release()
        stage("shutdown_complete")
        return drained

    def _stop_reading(self) -> None:
        """Nothing more is accepted: what clients send from now on stays unread, unanswered, and is
        resent by them after the restart (no sequence number is taken without its outcome)."""
        self._reading = False
        self.spin.stop()
        if self.udp is not None and self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self.udp.fd)

    async def _drain(self) -> bool:
        """Offers the pending batch and routes events until every published command is answered;
        False if the bound passed first (the engine is gone or stuck)."""
        if self._loop is None or self.supervisor.ring is None:
            return self.order_entry.outstanding == 0
        self.loop_pass.open()
        self.loop_pass.end()
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while self.order_entry.outstanding and time.monotonic() < deadline and self.supervisor.ring:
            await asyncio.sleep(0.002)
            self.loop_pass.on_engine_events()
        return self.order_entry.outstanding == 0


def _silent(event: str, **fields) -> None:
    """A log call that says nothing."""


def _probe_port(host: str, port: int, kind: int = socket.SOCK_STREAM) -> None:
    """Raises OSError if host:port cannot be bound (e.g. another router listens there)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as probe:
        if kind == socket.SOCK_STREAM:  # as grpc does: a port in TIME_WAIT has no owner
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


@contextlib.contextmanager
def _bind_error(key: str, host: str, port: int):
    """A port that cannot be bound (in use, no such address) is a config error naming its key."""
    try:
        yield
    except (OSError, RuntimeError) as exc:  # grpc raises RuntimeError("Failed to bind ...")
        reason = getattr(exc, "strerror", None) or "address in use or unavailable"
        raise ConfigError(f"{key}.port: cannot listen on {host}:{port}: {reason}") from None
