"""FastIngest: the C fast path for the common inbound datagram (src/udprouter/c/fast_ingest.h).

offer() hands one datagram from an established session to udr_fp_ingest, which decodes it, checks
the session's expected sequence number, the throttle and the table-lookup risk checks, and writes
the udr_command records into OrderEntry's batch array, so the usual end-of-pass flush offers them
to the ring with one wake. Anything else returns False untouched and the caller runs the Python
path (decode_datagram -> Dispatcher), which stays the reference for every reply and reject.

OrderEntry's batch counters (_n, _room, next_command_seq) are copied into the C batch struct by
begin() and back by end(): the caller brackets each run of C offers with them, and calls end()
before any Python submit, so both sides always continue from the same numbers.
"""

from __future__ import annotations

from udprouter._ring_cffi import ffi, lib
from udprouter.order_entry import BATCH_CAPACITY, OrderEntry
from udprouter.risk import Risk
from udprouter.server_session import ServerSession

APPLIED = lib.UDR_FP_APPLIED
NO_ROOM = lib.UDR_FP_NO_ROOM
OUTCOMES = ("applied", "not_fast_shape", "sequence_mismatch", "throttled", "risk_reject", "no_room")


def limits_table(risk: Risk):
    """(udr_fp_limits *, instrument array) built from the config's instruments, sorted by id."""
    specs = sorted(risk.instruments.values(), key=lambda inst: inst.security_id)
    table = ffi.new("udr_fp_instrument[]", max(1, len(specs)))
    for row, inst in zip(table, specs, strict=False):
        row.security_id, row.tick, row.max_qty = inst.security_id, inst.tick, inst.max_qty
        row.min_price, row.max_price = inst.min_price, inst.max_price
    limits = ffi.new("udr_fp_limits *")
    limits.instruments, limits.instrument_count = table, len(specs)
    limits.max_open_orders = risk.max_open_orders
    limits.throttle_per_s = risk.throttle_per_s
    return limits, table


class FastIngest:
    def __init__(self, risk: Risk, order_entry: OrderEntry) -> None:
        self.order_entry = order_entry
        self._limits, self._table = limits_table(risk)  # the table must live as long as the limits
        self._batch = ffi.new("udr_fp_batch *")
        self._batch.cmds = order_entry._cmds
        self._batch.capacity = BATCH_CAPACITY
        self.outcomes = [0] * len(OUTCOMES)  # datagrams by udr_fp_ingest outcome (metrics, tests)
        self._applied = 0

    def begin(self) -> None:
        """OrderEntry's batch state -> the C batch (before a run of offers)."""
        oe, b = self.order_entry, self._batch
        b.ring = oe.ring.inbound_ring if oe.ring is not None else ffi.NULL
        b.available = 1 if oe.available else 0
        b.n, b.room, b.next_command_seq = oe._n, oe._room, oe.next_command_seq
        self._applied = 0

    def end(self) -> int:
        """The C batch -> OrderEntry (before any Python submit or flush); returns the messages
        (Sequence frames and commands) applied since begin()."""
        oe, b = self.order_entry, self._batch
        commands = b.next_command_seq - oe.next_command_seq
        oe._n, oe._room, oe.next_command_seq = b.n, b.room, b.next_command_seq
        return commands + self._applied

    def offer(self, data: bytes, session: ServerSession, now_ns: int) -> bool:
        """True if the datagram was applied here; False: nothing changed, use the Python path."""
        outcome = lib.udr_fp_ingest(data, len(data), session.ctx.fp, self._limits, self._batch, now_ns)
        if outcome == NO_ROOM and self._batch.n and self._batch.ring != ffi.NULL:
            # A full batch is offered and the datagram retried, as OrderEntry does at BATCH_CAPACITY.
            carried = self.end()
            self.order_entry.flush(now_ns)
            self.begin()
            self._applied = carried  # the messages applied before the flush still count
            outcome = lib.udr_fp_ingest(data, len(data), session.ctx.fp, self._limits, self._batch, now_ns)
        self.outcomes[outcome] += 1
        if outcome != APPLIED:
            return False
        self._applied += 1
        return True
