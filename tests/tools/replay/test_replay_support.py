"""Message and capture builders shared by the replay unit tests (holds no tests itself)."""

from udprouter._generated.messages import (
    BusinessMessageReject,
    BusinessRejectReason,
    Establish,
    ExecutionReportNew,
    ExecutionReportReject,
    FlowType,
    Negotiate,
    NewOrderSingle,
    NotApplied,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    OrdRejReason,
    OrdType,
    Sequence,
    Side,
    TimeInForce,
)
from udprouter.codec import encode_datagram, encode_message
from udprouter.replay.reader import CapturedDatagram

SERVER = ("127.0.0.1", 9000)
T0 = 1_700_000_000_000_000_000


def order(cl_ord_id, price=100_000_000_000, side=Side.Buy, security_id=1):
    return NewOrderSingle(cl_ord_id, T0, price, 10, security_id, side, OrdType.Limit, TimeInForce.Day)


def cancel(cl_ord_id, orig):
    return OrderCancelRequest(cl_ord_id, orig, T0, 1, Side.Buy)


def replace(cl_ord_id, orig, price=99_000_000_000):
    return OrderCancelReplaceRequest(cl_ord_id, orig, T0, price, 5, 1, Side.Buy)


def negotiate(session_id):
    return encode_message(Negotiate(session_id, T0, FlowType.Idempotent, b"demo:sig"))


def establish(session_id):
    return encode_message(Establish(session_id, T0, 1000, 1, 0, 0, b"demo:sig"))


def ack(cl_ord_id):
    return ExecutionReportNew(cl_ord_id, 1, 1, T0, 100_000_000_000, 10, 1, Side.Buy)


def reject(cl_ord_id, reason=OrdRejReason.UnknownSymbol):
    return ExecutionReportReject(cl_ord_id, 2, T0, 1, 10, 9, Side.Buy, reason)


def business_reject(seq, reason=BusinessRejectReason.Throttled):
    return BusinessMessageReject(seq, T0, 101, reason)


def not_applied(from_seq, count):
    return NotApplied(from_seq, count)


def sequenced(seq, *msgs):
    return encode_datagram([Sequence(seq), *msgs])


class Capture:
    """Builds a list of CapturedDatagram in order with increasing timestamps."""

    def __init__(self):
        self.datagrams = []

    def add(self, src, dst, payload, ts_ns=None):
        index = len(self.datagrams) + 1
        ts = T0 + index * 1_000_000 if ts_ns is None else ts_ns
        self.datagrams.append(CapturedDatagram(index, 0, ts, src, dst, payload, None))
        return self

    def client(self, addr, payload):
        return self.add(addr, SERVER, payload)

    def server(self, addr, payload):
        return self.add(SERVER, addr, payload)
