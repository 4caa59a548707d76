"""The metrics a dashboard needs beyond the traffic counters of metrics.RouterCollector.

All read at scrape time from counters their owners keep (no prometheus call per order): build
info, engine up and state, ring capacity, rejects split by kind (order, cancel, replace, business)
and source (router risk checks or the engine), fills and volume by instrument (event_stats.h),
NotApplied and retransmission counts, sessions by state, refused logins by reason, and the engine's
journal append and fsync latency histograms (exported by the engine in the ring segment header).
Label sets are bounded by enums and the configured instruments.
"""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from udprouter import __version__
from udprouter._generated.messages import BusinessRejectReason, CxlRejReason, OrdRejReason
from udprouter._ring_cffi import lib
from udprouter.ops.monitor import ENGINE_STATES
from udprouter.ring import ENGINE_READY
from udprouter.server_session import SessionState

if TYPE_CHECKING:
    from udprouter.ops.metrics import MetricSources

ORDER_REASONS = {m.name for m in OrdRejReason}
BUSINESS_REASONS = (BusinessRejectReason.Throttled.name, BusinessRejectReason.EngineBusy.name,
                    BusinessRejectReason.ApplicationNotAvailable.name)


def _reject_families():
    order = CounterMetricFamily("udprouter_order_rejects", "NewOrderSingle rejects by reason and source",
                                labels=["reason", "source"])
    cancel = CounterMetricFamily("udprouter_cancel_rejects",
                                 "OrderCancelRequest / OrderCancelReplaceRequest rejects by reason, source",
                                 labels=["request", "reason", "source"])
    business = CounterMetricFamily("udprouter_business_rejects",
                                   "BusinessMessageReject of application frames by reason (throttle, busy)",
                                   labels=["reason"])
    return order, cancel, business


class OpsCollector:
    def __init__(self, sources: MetricSources) -> None:
        self.sources = sources
        self.monitor = sources.monitor
        self.engine_binary = sources.engine_binary

    def collect(self):
        r = self.sources
        yield from self._build_and_engine(r)
        yield from self._rejects(r)
        yield from self._fills(r)
        d, sessions = r.dispatcher, r.sessions
        yield CounterMetricFamily("udprouter_not_applied", "Client sequence numbers declared NotApplied",
                                  value=d.not_applied)
        yield CounterMetricFamily("udprouter_retransmit_requests", "RetransmitRequest messages answered",
                                  value=sessions.retransmit_requests)
        yield CounterMetricFamily("udprouter_retransmitted_frames", "Frames sent again for RetransmitRequest",
                                  value=sessions.retransmitted_frames)
        by_state = GaugeMetricFamily("udprouter_sessions_by_state", "FIXP sessions known by state",
                                     labels=["state"])
        counts = {state: 0 for state in SessionState}
        for session in list(sessions.by_uuid.values()):
            counts[session.state] += 1
        for state, count in counts.items():
            by_state.add_metric([state.name.lower()], count)
        yield by_state
        failures = CounterMetricFamily("udprouter_login_failures", "Negotiate/Establish refused, by reason",
                                       labels=["reason"])
        for reason, count in sorted(sessions.login_failures.items()):
            failures.add_metric([reason], count)
        yield failures
        yield GaugeMetricFamily("udprouter_ready", "1 while /readyz would answer 200",
                                value=int(self.monitor.ready()))
        yield GaugeMetricFamily("udprouter_journal_writable", "1 while the journal directory takes a write",
                                value=int(self.monitor.journal_writable))
        yield _reloads(r.reloader)

    def _build_and_engine(self, r):
        info = GaugeMetricFamily("udprouter_build_info", "Build and platform of this router (value 1)",
                                 labels=["version", "python", "ring_layout", "engine_binary"])
        info.add_metric([__version__, platform.python_version(), str(lib.UDR_LAYOUT_VERSION),
                         self.engine_binary], 1)
        yield info
        ring, sup = r.order_entry.ring, r.supervisor
        alive = sup.proc is not None and sup.proc.returncode is None
        code = ring.engine_state if ring is not None else 0
        yield GaugeMetricFamily("udprouter_engine_up", "1 while the engine process runs and is READY",
                                value=int(alive and code == ENGINE_READY and r.order_entry.available))
        state = GaugeMetricFamily("udprouter_engine_state", "The engine's state (1 for the current one)",
                                  labels=["state"])
        for value, name in ENGINE_STATES.items():
            state.add_metric([name], int(value == code))
        yield state
        capacity = GaugeMetricFamily("udprouter_ring_capacity", "Records the ring holds", labels=["ring"])
        if ring is not None:
            capacity.add_metric(["inbound"], ring.inbound_capacity)
            capacity.add_metric(["outbound"], ring.outbound_capacity)
        yield capacity
        spun = 0 if ring is None else ring.header.low_rate_spin_ns / 1e9
        yield CounterMetricFamily("udprouter_engine_low_rate_spin_seconds",
                                  "Engine time spent spinning between batches below [engine] low_rate "
                                  "(wait adaptive)", value=spun)
        spins = CounterMetricFamily("udprouter_engine_short_spins",
                                    "Engine waits between batches with the short spin ([engine] spin_us; "
                                    "hybrid, adaptive at or above low_rate), by outcome: caught a batch, "
                                    "ran out, or skipped after misses in a row", labels=["outcome"])
        if ring is not None:
            h = ring.header
            for outcome, count in (("caught", h.short_spins_caught), ("missed", h.short_spins_missed),
                                   ("skipped", h.short_spins_skipped)):
                spins.add_metric([outcome], count)
        yield spins
        yield from _journal_histograms(ring)

    def _rejects(self, r):
        order, cancel, business = _reject_families()
        rejects = {name: 0 for name in BUSINESS_REASONS}  # always present: the alert rule's series
        rejects.update(r.risk.rejects)
        for name, count in sorted(rejects.items()):
            if name.startswith("Cxl"):
                cancel.add_metric(["cancel", name[3:], "router"], count)
            elif name.startswith("Rpl"):
                cancel.add_metric(["replace", name[3:], "router"], count)
            elif name in ORDER_REASONS:
                order.add_metric([name, "router"], count)
            else:
                business.add_metric([name], count)
        st = r.order_entry.event_stats
        for reason in OrdRejReason:
            if st.order_rejects[reason.value]:
                order.add_metric([reason.name, "engine"], st.order_rejects[reason.value])
        for reason in CxlRejReason:
            for request, table in (("cancel", st.cancel_rejects), ("replace", st.replace_rejects)):
                if table[reason.value]:
                    cancel.add_metric([request, reason.name, "engine"], table[reason.value])
        yield order
        yield cancel
        yield business

    def _fills(self, r):
        st = r.order_entry.event_stats
        symbols = {sid: inst.symbol for sid, inst in r.risk.instruments.items()}
        fills = CounterMetricFamily("udprouter_fills", "Matches (one per trade) by instrument",
                                    labels=["instrument"])
        volume = CounterMetricFamily("udprouter_fill_volume", "Matched quantity by instrument",
                                     labels=["instrument"])
        n = st.instrument_count
        for slot in range(n + 1):
            name = "other" if slot == n else symbols.get(st.security_ids[slot], str(st.security_ids[slot]))
            fills.add_metric([name], st.fills[slot])
            volume.add_metric([name], st.volume[slot])
        yield fills
        yield volume


def _reloads(reloader):
    family = CounterMetricFamily("udprouter_config_reloads", "SIGHUP reloads by outcome", labels=["outcome"])
    family.add_metric(["applied"], reloader.applied)
    family.add_metric(["refused"], reloader.refused)
    return family


JOURNAL_BOUNDS_S = tuple(b / 1e9 for b in (2_000, 8_000, 32_000, 128_000, 512_000, 2_048_000, 8_192_000))


def _journal_histograms(ring):
    """udprouter_journal_{append,fsync}_seconds from the engine's counters in the segment header."""
    for name, doc, prefix in (("udprouter_journal_append_seconds", "Engine journal append per batch",
                               "journal_append"),
                              ("udprouter_journal_fsync_seconds", "Engine journal fdatasync per batch "
                               "(durability fsync)", "journal_fsync")):
        family = HistogramMetricFamily(name, doc)
        if ring is not None:
            header = ring.header
            counts = list(getattr(header, prefix + "_buckets"))
            cumulative, buckets = 0, []
            for bound, count in zip((*map(repr, JOURNAL_BOUNDS_S), "+Inf"), counts, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            family.add_metric([], buckets, getattr(header, prefix + "_sum_ns") / 1e9)
        yield family
