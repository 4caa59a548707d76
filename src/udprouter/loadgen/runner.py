"""Runs a Plan through the C loop (udprouter.loadgen._loadgen_cffi) on connected UDP sockets."""

from array import array
from dataclasses import dataclass

from udprouter.datagram_mac import MAC_FRAME_SIZE

from ._loadgen_cffi import ffi, lib
from .plan import Plan
from .run_result import RunResult


@dataclass(frozen=True, slots=True)
class RunLimits:
    timeout_s: float = 10.0  # the whole run never lasts longer
    drain_s: float = 1.0  # after the last send, wait this long for outstanding answers
    # Busy-poll when the next send is this close, else sleep in ppoll. Short: on a 2-vCPU machine a
    # load generator spinning between sends 20 us apart holds a whole core, the router and its engine
    # share the other, and the scheduler's time slices then stall them for milliseconds (bench_udp at
    # 50k/s: router p99 0.36-6.6 ms at 50 us, 0.26-0.34 ms at 5 us). Late sends still count: latency
    # runs from the intended send time.
    spin_us: float = 5.0
    # Paced: wake earlier still, by the loop's own measured timer lateness, up to this and a quarter of
    # the gap between sends (loadgen.c, lg_lead). 0: wake spin_us early only.
    max_lead_us: float = 200.0
    loss_timeout_s: float = 0.2  # windowed mode: an order unanswered this long frees its window slot


def signed_data(plan: Plan, offsets: array, keys: list[bytes]) -> tuple[bytes, array]:
    """Every datagram of the plan with its MAC frame under its session's key (in C, before the run)."""
    n = len(plan.datagrams)
    out = bytearray(offsets[-1] + MAC_FRAME_SIZE * n)
    out_offsets = array("I", bytes(4 * (n + 1)))
    lib.lg_sign_datagrams(b"".join(plan.datagrams), ffi.from_buffer("uint32_t[]", offsets),
                          ffi.from_buffer("uint32_t[]", plan.fd_index), n, b"".join(keys), len(keys),
                          ffi.from_buffer("uint8_t[]", out), ffi.from_buffer("uint32_t[]", out_offsets))
    return bytes(out), out_offsets


def run_plan(
    plan: Plan, fds: list[int], intended_ns: array | None = None, window_orders: int = 256,
    limits: RunLimits = RunLimits(), keys: list[bytes] | None = None,
) -> RunResult:
    """Sends on the schedule intended_ns (paced), or as fast as window_orders unanswered orders
    allow (intended_ns None); blocks until done or limits.timeout_s. keys: each session's datagram
    key, to end every datagram with its MAC (None: sent as planned)."""
    if len(fds) != len(plan.seq_start):
        raise ValueError(f"plan has {len(plan.seq_start)} sessions, got {len(fds)} sockets")
    if intended_ns is not None and len(intended_ns) != len(plan.datagrams):
        raise ValueError("one intended send time per datagram")
    offsets = array("I", [0])
    for d in plan.datagrams:
        offsets.append(offsets[-1] + len(d))
    data = b"".join(plan.datagrams)
    if keys is not None:
        if len(keys) != len(fds):
            raise ValueError(f"{len(fds)} sockets, {len(keys)} datagram keys")
        data, offsets = signed_data(plan, offsets, keys)
    keep = {"fds": array("i", fds), "data": data, "offsets": offsets}  # cffi buffers must outlive the call
    n_orders, n_dgrams = plan.n_orders, len(plan.datagrams)
    out_sent, out_answer = array("q", bytes(8 * n_dgrams)), array("q", bytes(8 * n_orders))
    out_read = array("q", bytes(8 * n_orders))
    out_template = array("H", bytes(2 * n_orders))
    p = ffi.new("lg_plan *")
    p.fds, p.n_fds = ffi.from_buffer("int[]", keep["fds"]), len(fds)
    p.data, p.offsets = ffi.from_buffer("uint8_t[]", keep["data"]), ffi.from_buffer("uint32_t[]", offsets)
    p.fd_index = ffi.from_buffer("uint32_t[]", plan.fd_index)
    p.first_order = ffi.from_buffer("uint32_t[]", plan.first_order)
    p.intended_ns = ffi.NULL if intended_ns is None else ffi.from_buffer("int64_t[]", intended_ns)
    p.n_datagrams, p.n_orders, p.window_orders = n_dgrams, n_orders, window_orders
    p.cl_ord_id_base = plan.cl_ord_id_base
    p.seq_start = ffi.from_buffer("uint64_t[]", plan.seq_start)
    p.seq_orders = ffi.from_buffer("uint32_t[]", plan.seq_orders)
    p.seq_orders_off = ffi.from_buffer("uint32_t[]", plan.seq_orders_off)
    p.seq_orders_len = ffi.from_buffer("uint32_t[]", plan.seq_orders_len)
    p.timeout_ns, p.drain_ns = int(limits.timeout_s * 1e9), int(limits.drain_s * 1e9)
    p.spin_ns, p.max_lead_ns = int(limits.spin_us * 1e3), int(limits.max_lead_us * 1e3)
    p.loss_timeout_ns = int(limits.loss_timeout_s * 1e9)
    r = ffi.new("lg_result *")
    r.sent_ns = ffi.from_buffer("int64_t[]", out_sent, require_writable=True)
    r.answer_ns = ffi.from_buffer("int64_t[]", out_answer, require_writable=True)
    r.answer_template = ffi.from_buffer("uint16_t[]", out_template, require_writable=True)
    r.answer_read_ns = ffi.from_buffer("int64_t[]", out_read, require_writable=True)
    if lib.lg_run(p, r) != 0:
        raise ValueError("lg_run refused the plan (socket count or memory)")
    return RunResult(
        out_sent, out_answer, out_template, r.sent_datagrams, r.sent_orders, r.send_errors,
        r.recv_datagrams, r.recv_frames, r.elapsed_ns, r.last_answer_ns, r.timer_wakes, r.wake_late_ns,
        r.cpu_ns, out_read, r.unstamped_answers,
    )
