"""A send plan: the order flow encoded into datagrams with FIXP sequencing, ready for the C loop.

Order i of the plan (in send order) carries ClOrdID cl_ord_id_base + i, so ClOrdIDs rise strictly
within every session and the C loop finds an answer's order in O(1). Each datagram is a Sequence
message (NextSeqNo = the sequence number of its first order) followed by its orders; sessions'
datagrams are interleaved round-robin.
"""

from array import array
from dataclasses import dataclass, field

from udprouter._generated import messages as m
from udprouter.codec import encode_datagram
from udprouter.datagram_mac import MAC_FRAME_SIZE

from .order_flow import IntentKind, OrderIntent

MAX_DATAGRAM = 1472 - MAC_FRAME_SIZE  # room for the MAC frame added per session (runner.signed_data)


@dataclass(slots=True)
class Plan:
    datagrams: list[bytes]
    fd_index: array  # per datagram: session index
    first_order: array  # n_datagrams + 1
    kinds: array  # per order: IntentKind
    cl_ord_id_base: int
    seq_start: array  # per session: sequence number of its first order
    seq_orders: array = field(default_factory=lambda: array("I"))  # per session, in sequence order
    seq_orders_off: array = field(default_factory=lambda: array("I"))
    seq_orders_len: array = field(default_factory=lambda: array("I"))

    @property
    def n_orders(self) -> int:
        return self.first_order[-1]

    def order_datagram(self) -> array:
        """Datagram index of every order."""
        out = array("I", bytes(4 * self.n_orders))
        for d in range(len(self.datagrams)):
            for i in range(self.first_order[d], self.first_order[d + 1]):
                out[i] = d
        return out


def build_plan(
    flow: list[OrderIntent],
    orders_per_datagram: int,
    sessions: int = 1,
    cl_ord_id_base: int = 1,
    seq_start: list[int] | None = None,
    transact_time: int = 0,
) -> Plan:
    """Chunks each session's part of the flow into datagrams and encodes them in send order."""
    starts = list(seq_start) if seq_start else [1] * sessions
    chunks = _chunks_per_session(flow, orders_per_datagram, sessions)
    plan = Plan([], array("I"), array("I", [0]), array("B"), cl_ord_id_base, array("Q", starts))
    per_session: list[list[int]] = [[] for _ in range(sessions)]
    next_seq = list(starts)
    order_of_flow: dict[int, int] = {}
    for session, chunk in _round_robin(chunks):
        msgs: list[object] = [m.Sequence(next_seq_no=next_seq[session])]
        for flow_index in chunk:
            order = plan.first_order[-1] + len(msgs) - 1
            order_of_flow[flow_index] = order
            msgs.append(_encode_intent(flow[flow_index], order, order_of_flow, cl_ord_id_base, transact_time))
            plan.kinds.append(flow[flow_index].kind)
            per_session[session].append(order)
        payload = encode_datagram(msgs)
        if len(payload) > MAX_DATAGRAM:
            raise ValueError(f"{len(chunk)} orders make a {len(payload)}-byte datagram (max {MAX_DATAGRAM})")
        plan.datagrams.append(payload)
        plan.fd_index.append(session)
        plan.first_order.append(plan.first_order[-1] + len(chunk))
        next_seq[session] += len(chunk)
    for orders in per_session:
        plan.seq_orders_off.append(len(plan.seq_orders))
        plan.seq_orders_len.append(len(orders))
        plan.seq_orders.extend(orders)
    return plan


def _chunks_per_session(flow: list[OrderIntent], k: int, sessions: int) -> list[list[list[int]]]:
    mine: list[list[int]] = [[] for _ in range(sessions)]
    for i, intent in enumerate(flow):
        mine[intent.session % sessions].append(i)
    return [[idx[j : j + k] for j in range(0, len(idx), k)] for idx in mine]


def _round_robin(chunks: list[list[list[int]]]):
    for r in range(max((len(c) for c in chunks), default=0)):
        for session, session_chunks in enumerate(chunks):
            if r < len(session_chunks):
                yield session, session_chunks[r]


def _encode_intent(intent: OrderIntent, order: int, order_of_flow: dict[int, int], base: int, now: int):
    cl_ord_id = base + order
    side = m.Side(intent.side)
    if intent.kind is IntentKind.CANCEL:
        return m.OrderCancelRequest(
            cl_ord_id=cl_ord_id, orig_cl_ord_id=base + order_of_flow[intent.target], transact_time=now,
            security_id=intent.security_id, side=side,
        )
    tif = m.TimeInForce.ImmediateOrCancel if intent.kind is IntentKind.CROSS else m.TimeInForce.Day
    return m.NewOrderSingle(
        cl_ord_id=cl_ord_id, transact_time=now, price=intent.price, order_qty=intent.qty,
        security_id=intent.security_id, side=side, ord_type=m.OrdType.Limit, time_in_force=tif,
    )
