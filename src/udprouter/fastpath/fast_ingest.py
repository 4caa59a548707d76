"""FastIngest: the C fast path for the common inbound datagram (src/udprouter/fastpath/fast_ingest.h).

run() hands a whole recvmmsg batch to udr_fp_ingest_run. For each datagram from a source bound to
an established session (bind()), in arrival order, C decodes it, checks the session's expected
sequence number, the throttle and the table-lookup risk checks, and writes the udr_command records
into OrderEntry's batch array, so the usual end-of-pass flush offers them to the ring with one
wake. It stops, changing nothing, at the first datagram it does not take; the caller runs the
Python path (decode_datagram -> Dispatcher) for that one, which stays the reference for every reply
and reject, and calls run() again after it. No Python runs per datagram until then.

The batch is OrderEntry's udr_fp_batch itself (OrderEntry.batch): C and Python fill the same
array and count in the same struct, so nothing is copied between them. begin() marks where a run
starts (and tells C whether the ring takes commands now); end() says how many messages it applied.
"""

from __future__ import annotations

from collections.abc import Callable

from udprouter._ring_cffi import ffi, lib
from udprouter.durability.router_log import WRITE_AHEAD_SESSIONS
from udprouter.order_entry import OrderEntry
from udprouter.risk import Risk
from udprouter.server_session import ServerSession

APPLIED = lib.UDR_FP_APPLIED
NO_ROOM = lib.UDR_FP_NO_ROOM
NO_SESSION = lib.UDR_FP_NO_SESSION
SLOT_SIZE = lib.UDR_IO_SLOT_SIZE
OUTCOMES = ("applied", "not_fast_shape", "sequence_mismatch", "throttled", "risk_reject", "no_room",
            "no_session", "unauthenticated")  # indexed by the UDR_FP_* outcome
ADDRESS_SLOTS = 8192  # source address -> session table; cleared when half full (spoofing cannot grow it)
MAX_READS = 4  # recvmmsg calls per read pass (each after a full one): a burst is one pass, the loop turns


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
        self._limits, self._instruments = limits_table(risk)  # the array must live as long as the limits
        self._batch = order_entry.batch
        self._first_seq = 0  # next_command_seq at begin()
        self.outcomes = [0] * len(OUTCOMES)  # datagrams by outcome: applied, or why not (metrics, tests)
        self._applied = 0
        # Sources bound to established sessions, for run(): the C table, and the sessions it points
        # to (kept alive here: the table holds their udr_fp_session pointers).
        self._slots = ffi.new("udr_fp_addr_entry[]", ADDRESS_SLOTS)
        self._addresses = ffi.new("udr_fp_addr_table *")
        self._addresses.slots, self._addresses.mask = self._slots, ADDRESS_SLOTS - 1
        self._bound: dict[int, ServerSession] = {}
        self._dead = ffi.new("udr_fp_session *")  # state 0, addr_key 0: matches no datagram
        self._stopped = ffi.new("int *")
        self._run_applied = ffi.new("uint32_t *")
        self._touched = ffi.new("uint64_t[]", MAX_READS * lib.UDR_IO_MAX_BATCH)  # (run() uses one read's)
        self._touched_n = ffi.new("uint32_t *")
        # read(): the pass's C context (its socket's buffers, set by use_socket) and outcome.
        self._read = ffi.new("udr_rp_context *")
        self._read_result = ffi.new("udr_rp_result *")
        self._read_sessions = ffi.new("udr_fp_session *[]", WRITE_AHEAD_SESSIONS)
        self._read_record = ffi.new("unsigned char[]", lib.UDR_WA_FIXED_MAX
                                    + WRITE_AHEAD_SESSIONS * lib.UDR_WA_SESSION_MAX)
        c = self._read
        c.sock_fd = -1
        c.addresses, c.limits, c.batch, c.touched = self._addresses, self._limits, self._batch, self._touched
        c.route, c.record = order_entry.route_state, self._read_record
        c.sessions, c.session_room, c.max_reads = self._read_sessions, WRITE_AHEAD_SESSIONS, MAX_READS

    def use_socket(self, socket) -> None:
        """read()'s socket (DatagramSocket): its recvmmsg buffers are the ones C reads into."""
        c = self._read
        c.sock_fd, c.arena, c.lens, c.keys = socket.fd, socket.arena, socket.lens, socket.keys

    def set_limits(self, limits, instruments) -> None:
        """New limits (config reload) for the next run(); the old table is freed after the swap."""
        self._read.limits = limits
        self._limits, self._instruments = limits, instruments

    def begin(self) -> None:
        """Before a run: whether the ring takes commands now, and where the run's count starts."""
        oe, b = self.order_entry, self._batch
        b.ring = oe.ring.inbound_ring if oe.ring is not None else ffi.NULL
        b.available = 1 if oe.available and not oe.journal_unavailable else 0
        self._first_seq = b.next_command_seq
        self._applied = 0

    def end(self) -> int:
        """The messages (Sequence frames and commands) applied since begin()."""
        return self._batch.next_command_seq - self._first_seq + self._applied

    def bind(self, key: int, session: ServerSession) -> None:
        """Lets run() take datagrams from source key for session (established there)."""
        if self._bound.get(key) is session:
            return
        if len(self._bound) >= ADDRESS_SLOTS // 2:
            ffi.memmove(self._slots, bytes(ffi.sizeof(self._slots)), ffi.sizeof(self._slots))
            self._bound.clear()
        self._bound[key] = session
        lib.udr_fp_addr_set(self._addresses, key, session.fp)

    def unbind(self, session: ServerSession) -> None:
        """A released session: its entries point at a dead struct (never established) from now on,
        so the table holds no pointer into the session's memory once it is freed."""
        for key in [k for k, s in self._bound.items() if s is session]:
            del self._bound[key]
            lib.udr_fp_addr_set(self._addresses, key, self._dead)

    def bound(self, key: int) -> ServerSession | None:
        return self._bound.get(key)

    def run(self, arena, lens, keys, start: int, n: int, now_ns: int,
            touch: Callable[[list[int], int], None]) -> tuple[int, int, int]:
        """udr_fp_ingest_run from begin() to end(): applies received datagrams start.. while they
        take the fast path. touch(source keys, now_ns) hears of the sessions applied to before
        anything else happens (a full batch is then offered to the ring and the run goes on).
        Returns the index of the first datagram not applied (n when all were), why it stopped, and
        the messages applied (end())."""
        self.begin()
        b = self._batch
        while True:
            self._run_applied[0] = self._touched_n[0] = 0
            stop = lib.udr_fp_ingest_run(arena, SLOT_SIZE, lens, keys, start, n, self._addresses,
                                         self._limits, b, now_ns, self._stopped, self._run_applied,
                                         self._touched, self._touched_n)
            applied, stopped = self._run_applied[0], self._stopped[0]
            self._applied += applied
            self.outcomes[APPLIED] += applied
            if applied:
                touch(ffi.unpack(self._touched, self._touched_n[0]), now_ns)
            if stopped != NO_ROOM or not b.n or b.ring == ffi.NULL or not b.available:
                break
            carried = self.end()
            self.order_entry.flush(now_ns)
            self.begin()
            self._applied = carried  # the messages applied before the flush still count
            start = stop
        if stopped not in (APPLIED, NO_SESSION):
            self.outcomes[stopped] += 1
        return stop, stopped, self.end()

    def read(self, now_ns: int, log, ring):
        """recvmmsg into use_socket's buffers (again after a full read, MAX_READS calls at most), the
        datagrams applied as run() applies them;
        when all of them were and log (the router log, or None) takes a record in C
        (write_ahead_fd), the write-ahead record of their sessions appended and then the batch
        offered to ring and its engine woken (fastpath/read_pass.h). Returns the udr_rp_result:
        offered > 0 when the offer was made (the log and OrderEntry count it: written_ahead,
        published); otherwise the last read's datagrams (in_arena) from next on are still to be
        applied (run()), and the
        applied ones' sessions are in touched() for the router log. A failed write (written < 0)
        offered nothing: its record is in record for RouterLog.written_ahead."""
        self.begin()
        r = self._read_result
        if log is not None and ring is not None:
            lib.udr_rp_run(self._read, now_ns, log.write_ahead_fd(), log.command_through, ring.outbound_ring,
                           ring.inbound_eventfd, r)
        else:
            lib.udr_rp_run(self._read, now_ns, -1, 0, ffi.NULL, -1, r)
        applied = r.applied
        if applied:
            self._applied += applied
            self.outcomes[APPLIED] += applied
        return r

    @property
    def record(self):
        """read()'s write-ahead record buffer."""
        return self._read_record

    def touched(self, r) -> list[int]:
        """The source keys of the sessions read() applied datagrams to (consecutive repeats folded)."""
        return ffi.unpack(self._touched, r.touched_n)

    def apply_packed(self, call, fp, now_ns: int) -> None:
        """A gRPC SubmitOrdersPacked call's orders (udr_pk_apply, packed_batch.h) into OrderEntry's
        batch, as OrderEntry.submit takes them, the batch offered to the ring when full and at the end."""
        oe, c = self.order_entry, call.c
        start = 0
        while True:
            self.begin()
            # It stops early only at a full batch array with the ring available: the flush below
            # offers it, or fails with the journal unavailable, and then udr_pk_apply refuses the rest.
            start = lib.udr_pk_apply(c, call.msgs, start, fp, self._limits, self._batch, now_ns)
            self.end()
            if start == c.count:
                break
            oe.flush(now_ns)
        if c.commands:
            oe.flush(now_ns)
