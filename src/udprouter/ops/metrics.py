"""Metrics: a prometheus-client registry served as Prometheus text on 127.0.0.1:9100 by default,
beside /healthz and /readyz (ops_http.py); the operational metrics are in ops_metrics.py.

The hot path only bumps plain integer attributes of the objects that own them (dispatcher, risk,
order entry, supervisor); this collector reads them at scrape time, so a datagram costs no
prometheus call. The one histogram (order-to-ack latency) is observed once per batch into plain
bucket counters (AckLatencyHistogram), exported in Prometheus histogram form at scrape time.
Secrets are never exported: only key ids appear, and only as session counts.
"""

from __future__ import annotations

import gc
import time
from bisect import bisect_left
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

if TYPE_CHECKING:
    from udprouter.dispatcher import Dispatcher
    from udprouter.durability.router_log import RouterLog
    from udprouter.durability.session_store import SessionStore
    from udprouter.engine_link.engine_supervisor import EngineSupervisor
    from udprouter.fastpath.low_rate_spin import LowRateSpin
    from udprouter.loop_pass import LoopPass
    from udprouter.ops.config_reload import ConfigReloader
    from udprouter.ops.monitor import OpsMonitor
    from udprouter.order_entry import OrderEntry
    from udprouter.risk import Risk
    from udprouter.server import ServerCounters
    from udprouter.session import SessionLayer

LATENCY_BUCKETS = (10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 100e-3, 1.0)


@dataclass(frozen=True)
class MetricSources:
    """What the collectors read at scrape time, and never change: each part is the owner of the
    counters it keeps. A part replaced at run time is read through its owner: the ring (new after
    an engine restart) through order_entry, the engine process through supervisor."""

    server: ServerCounters  # the server's own counters (datagrams whose handling failed, late events)
    dispatcher: Dispatcher  # datagram and message counters
    sessions: SessionLayer  # the session table and its login, reject and retransmission counters
    store: SessionStore  # session ids free, pending, reused
    risk: Risk  # router-side rejects by reason, the instruments (their symbols)
    order_entry: OrderEntry  # command and event counters, event stats, the ring it offers to
    loop_pass: LoopPass  # answer waits; its socket (the fast path's, set at start) and its send errors
    supervisor: EngineSupervisor  # engine restarts, the engine process
    router_log: RouterLog | None  # None: durability none
    monitor: OpsMonitor  # readiness, journal writable; /healthz and /readyz
    reloader: ConfigReloader  # SIGHUP outcomes
    spin: LowRateSpin  # the router's spinning between passes at low rates ([udp] wait adaptive)
    engine_binary: str


class RouterCollector:
    """Reads the router's traffic counters at scrape time."""

    def __init__(self, sources: MetricSources) -> None:
        self.sources = sources

    def collect(self):
        r = self.sources
        d, oe, sup, sessions, store = r.dispatcher, r.order_entry, r.supervisor, r.sessions, r.store
        yield _counter("udprouter_datagrams_in", "UDP datagrams received", d.datagrams_in)
        yield _counter("udprouter_datagrams_out", "UDP datagrams sent", d.datagrams_out)
        yield _counter("udprouter_messages_in", "SBE messages received", d.messages_in)
        yield _counter("udprouter_messages_out", "Sequenced SBE messages sent", d.messages_out)
        yield _counter("udprouter_decode_errors", "Frames that did not decode", d.decode_errors)
        yield _counter("udprouter_unauthenticated_datagrams", "Datagrams from no established session",
                       d.unauthenticated)
        yield _counter("udprouter_datagrams_unauthenticated", "Datagrams of established sessions dropped "
                       "for a missing or wrong MAC", d.mac_failures)
        yield _counter("udprouter_duplicates_dropped", "Client sequence numbers already applied",
                       d.duplicates)
        yield _counter("udprouter_sequence_refused", "Datagrams refused: Sequence gap or wrap out of range",
                       d.seq_refused)
        yield _counter("udprouter_datagram_errors", "Datagrams whose handling failed unexpectedly (logged)",
                       r.server.datagram_errors)
        yield _counter("udprouter_rejects_suppressed", "Rejects not sent (rate limit or amplification)",
                       sessions.rejects_suppressed)
        yield _counter("udprouter_retransmits_refused", "RetransmitRequests over the session's byte budget",
                       sessions.retransmits_refused)
        yield _counter("udprouter_sessions_refused", "Negotiates refused over a session limit (SessionLimit)",
                       sessions.sessions_refused)
        yield _counter("udprouter_sessions_released", "Ended sessions released after their retention",
                       sessions.sessions_released)
        yield _gauge("udprouter_sessions_kept", "Sessions in memory (live and ended within retention)",
                     len(sessions.by_uuid))
        yield _gauge("udprouter_drop_copy_sessions", "Drop-copy sessions receiving copies (live and ended "
                     "within retention)", len(sessions.drop_copies))
        yield _counter("udprouter_drop_copies", "Execution reports copied to drop-copy sessions (one per "
                       "report and drop-copy session)", d.drop_copies)
        yield _gauge("udprouter_session_ids_free",
                     "Released session ids reset in the engine, ready for reuse", len(store.free))
        yield _gauge("udprouter_session_ids_pending", "Released session ids awaiting their engine reset",
                     len(store.pending))
        yield _counter("udprouter_session_ids_reused", "Session ids given to a new session after a reset",
                       store.reused)
        yield _counter("udprouter_logins_dropped", "Negotiate/Establish dropped over the login budget",
                       sessions.logins_dropped)
        # Rejects: udprouter_{order,cancel,business}_rejects (ops/collector.py), split by kind and source.
        yield _counter("udprouter_commands_published", "Commands offered to the engine",
                       oe.commands_published)
        yield _counter("udprouter_events_routed", "Engine events routed to sessions", oe.events_routed)
        yield _counter("udprouter_events_undeliverable", "Events for sessions with no sink", oe.undeliverable)
        yield _counter("udprouter_engine_busy", "Commands refused because the inbound ring was full",
                       oe.engine_busy)
        established = sum(1 for s in sessions.by_addr.values() if s.state == 2)
        yield _gauge("udprouter_sessions", "Established FIXP sessions", established)
        ring = oe.ring
        occupancy = GaugeMetricFamily("udprouter_ring_occupancy", "Records in the ring", labels=["ring"])
        if ring is not None:
            occupancy.add_metric(["inbound"], ring.inbound_occupancy)
            occupancy.add_metric(["outbound"], ring.outbound_occupancy)
        yield occupancy
        yield _counter("udprouter_ring_full", "Offers refused by a full inbound ring",
                       ring.inbound_full_events if ring is not None else 0)
        yield _counter("udprouter_events_drained_by_timer", "Engine events found by the fallback timer, "
                       "not the eventfd wake-up", r.server.events_drained_by_timer)
        passes = r.loop_pass
        yield _counter("udprouter_answer_waits", "Loop passes that waited for the engine's answer to the "
                       "commands they offered ([udp] answer_wait_us)", passes.answer_waits)
        yield _counter("udprouter_answer_waits_skipped", "Loop passes that offered commands at the busy "
                       "rate ([engine] low_rate) and did not wait for the answer (its eventfd brings it)",
                       passes.answer_waits_skipped)
        yield _counter("udprouter_answered_in_pass", "Loop passes whose engine answer came while they "
                       "waited (sent without another wake-up)", passes.answered_in_pass)
        yield _counter("udprouter_answer_waits_ended_by_datagram", "Loop passes whose wait for the "
                       "engine's answer a newly arrived datagram ended", passes.waits_ended_by_input)
        yield _counter("udprouter_replies_built_in_c", "Drained batches of engine events answered by one "
                       "C call (reports, router log record, sendmmsg); the rest go through the sinks",
                       passes.replies_built_in_c)
        yield _counter("udprouter_read_passes", "Loop passes started by datagrams read (each offers their "
                       "commands once, then routes, logs and sends)", passes.read_passes)
        yield _counter("udprouter_read_passes_offered_in_c", "Read passes whose datagrams were read, "
                       "applied, write-ahead logged and offered to the engine in one C call",
                       passes.offered_in_c)
        yield _counter("udprouter_event_passes", "Loop passes started by the engine's eventfd (or the "
                       "timer): events that came while the router slept", passes.event_passes)
        yield _counter("udprouter_router_low_rate_spin_seconds", "Router time spent spinning on its "
                       "socket between passes below [udp] low_rate (wait adaptive)", r.spin.spun_ns / 1e9)
        socket = passes.socket  # the fast path's socket counts its own failed sends
        yield _counter("udprouter_udp_send_errors", "UDP datagrams the socket refused to send (or ICMP "
                       "errors it reported)", r.server.send_errors + (socket.send_errors if socket else 0))
        log = r.router_log
        yield _counter("udprouter_router_log_segments_closed", "router log segments closed (rolled)",
                       log.segments_closed if log is not None else 0)
        yield _counter("udprouter_router_log_segments_dropped",
                       "Closed router log segments deleted (no retransmission buffer reaches into them)",
                       log.segments_dropped if log is not None else 0)
        yield _counter("udprouter_router_log_syncs", "router log fdatasyncs (fsync: one a commit)",
                       log.syncs if log is not None else 0)
        yield _gauge("udprouter_router_log_segments", "router log segments on disk",
                     log.segments if log is not None else 0)
        yield _counter("udprouter_journal_unavailable_episodes",
                       "Episodes of a router log that could not be written (disk full, I/O error)",
                       log.unavailable_episodes if log is not None else 0)
        yield _counter("udprouter_journal_write_failures",
                       "router log writes or syncs that failed (cut back, retried; their replies held)",
                       log.write_failures if log is not None else 0)
        yield _gauge("udprouter_journal_unavailable",
                     "1 while new orders are rejected with JournalUnavailable",
                     int(log is not None and log.unavailable))
        yield _counter("udprouter_engine_restarts", "Engine restarts after a crash",
                       sup.restarts if sup else 0)
        yield GaugeMetricFamily("udprouter_gc_frozen_objects",
                                "Objects kept out of garbage collection since startup (gc.freeze)",
                                value=gc.get_freeze_count())


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: int) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


class AckLatencyHistogram:
    """Order-to-ack latency per batch: one bisect and two integer adds on the event loop (the
    prometheus-client Histogram takes a lock and converts per observation, a few percent of a pass
    at one order per datagram). Read at scrape time; buckets are cumulative there, +Inf = count."""

    NAME = "udprouter_order_ack_latency_seconds"
    DOC = "Receive of a batch of orders to its last event routed (per batch)"

    def __init__(self, bounds_s: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.bounds_s = bounds_s
        self._bounds_ns = [round(b * 1e9) for b in bounds_s]
        self.counts = [0] * (len(bounds_s) + 1)  # the last one: above every bound
        self.sum_ns = 0

    def observe_ns(self, ns: int) -> None:
        self.counts[bisect_left(self._bounds_ns, ns)] += 1  # le semantics: ns <= bound
        self.sum_ns += ns

    def collect(self):
        counts, total, cumulative = list(self.counts), self.sum_ns, 0
        buckets = []
        for bound, count in zip((*map(repr, self.bounds_s), "+Inf"), counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        family = HistogramMetricFamily(self.NAME, self.DOC)
        family.add_metric([], buckets, total / 1e9)
        yield family


class GcPauses:
    """How long the collector held the loop, per generation (gc.callbacks): a full collection walks
    every tracked object, so one that takes milliseconds is a stall every order in flight sees.
    Read at scrape time."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]  # per generation, in all
        self.longest = [0.0, 0.0, 0.0]
        self._started = 0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter_ns()
            return
        took = (time.perf_counter_ns() - self._started) / 1e9
        generation = info["generation"]
        self.seconds[generation] += took
        if took > self.longest[generation]:
            self.longest[generation] = took

    def close(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def collect(self):
        total = CounterMetricFamily("udprouter_gc_pause_seconds", "Time the garbage collector held the "
                                    "loop, per generation collected", labels=["generation"])
        longest = GaugeMetricFamily("udprouter_gc_pause_longest_seconds", "The longest collection since "
                                    "start, per generation", labels=["generation"])
        for generation in range(3):
            total.add_metric([str(generation)], self.seconds[generation])
            longest.add_metric([str(generation)], self.longest[generation])
        yield total
        yield longest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        GCCollector(registry=self.registry)  # python_gc_collections_total{generation}: loop pauses
        self.gc_pauses = GcPauses()  # ... and how long they held it
        self.registry.register(self.gc_pauses)
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, RSS, open fds, start time
        PlatformCollector(registry=self.registry)  # python_info
        self.ack_latency = AckLatencyHistogram()
        self.registry.register(self.ack_latency)
        self.observe_ack_ns = self.ack_latency.observe_ns  # OrderEntry's per-batch hook
        self._server = None

    def attach(self, sources: MetricSources) -> None:
        from udprouter.ops.collector import OpsCollector

        self.registry.register(RouterCollector(sources))
        self.registry.register(OpsCollector(sources))
        self._monitor = sources.monitor

    def serve(self, host: str, port: int) -> int:
        """Starts the HTTP thread (/metrics, /healthz, /readyz); returns the bound port (0 picks one)."""
        from udprouter.ops.http import OpsHttpServer

        self._server = OpsHttpServer(self.registry, self._monitor.healthz, self._monitor.readyz)
        return self._server.serve(host, port)

    def close(self) -> None:
        self.gc_pauses.close()
        if self._server is not None:
            self._server.close()
            self._server = None
