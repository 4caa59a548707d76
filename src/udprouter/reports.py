"""Reports: engine event records and router-side rejects encoded as SOFH-framed SBE messages.

An event arrives as the tuple ring.EVENT_LAYOUT unpacks from a 64-byte udr_event (one struct call per
record, no cffi attribute reads). ExecID = (session_id << 40) | the server sequence number the report
takes; TransactTime is the router's clock when it encodes the report (contract). Enum-valued fields
are passed through as the engine's integers (the generated encoders pack ints).
"""

from __future__ import annotations

import struct

from udprouter._generated.messages import (
    FRAME_PREFIX_SIZE,
    MESSAGE_HEADER,
    SBE_LE_ENCODING_TYPE,
    SOFH,
    BusinessMessageReject,
    ExecutionReportCancel,
    ExecutionReportNew,
    ExecutionReportReject,
    ExecutionReportReplace,
    ExecutionReportStatus,
    ExecutionReportTrade,
    OrderCancelReject,
    OrderMassActionReport,
    encode_business_message_reject,
)
from udprouter.ring import (
    EV_CL_ORD_ID,
    EV_CUM_QTY,
    EV_FLAGS,
    EV_KIND,
    EV_LEAVES_QTY,
    EV_ORDER_ID,
    EV_ORIG_CL_ORD_ID,
    EV_PRICE,
    EV_QTY,
    EV_REASON,
    EV_SECURITY_ID,
    EV_SESSION_ID,
    EV_SIDE,
    EVT_ACCEPTED,
    EVT_CANCEL_REJECTED,
    EVT_CANCELED,
    EVT_MASS_ACTION_REPORT,
    EVT_ORDER_STATUS,
    EVT_REJECTED,
    EVT_REPLACED,
    EVT_TRADE,
    FLAG_AGGRESSOR,
    FLAG_REFUSED,
    FLAG_TO_REPLACE,
)

NULL_U8 = 0xFF
NULL_SECURITY_ID = -0x80000000
MASS_ACTION_CANCEL = 3  # MassActionType CancelOrders
SCOPE_SECURITY, SCOPE_ALL = 1, 7  # MassActionScope
ORD_STATUS_REJECTED = 8  # OrdStatus for an order the engine does not hold
EXEC_ID_SEQ_BITS = 40
RESPONSE_TO_CANCEL = 1
RESPONSE_TO_REPLACE = 2


def exec_id(session_id: int, server_seq: int) -> int:
    return (session_id << EXEC_ID_SEQ_BITS) | server_seq


def frame_struct(cls) -> tuple[struct.Struct, bytes]:
    """(frame struct, 14-byte SOFH + header prefix) derived from the generated message class."""
    prefix = SOFH.pack(FRAME_PREFIX_SIZE + cls.BLOCK_LENGTH, SBE_LE_ENCODING_TYPE) + MESSAGE_HEADER.pack(
        cls.BLOCK_LENGTH, cls.TEMPLATE_ID, cls.SCHEMA_ID, cls.VERSION)
    return struct.Struct("<14s" + cls.LAYOUT.format.lstrip("<")), prefix


_NEW, _NEW_PREFIX = frame_struct(ExecutionReportNew)
_TRADE, _TRADE_PREFIX = frame_struct(ExecutionReportTrade)
_CANCEL, _CANCEL_PREFIX = frame_struct(ExecutionReportCancel)
_REPLACE, _REPLACE_PREFIX = frame_struct(ExecutionReportReplace)
_REJECT, _REJECT_PREFIX = frame_struct(ExecutionReportReject)
_CXL_REJECT, _CXL_REJECT_PREFIX = frame_struct(OrderCancelReject)
_MASS_REPORT, _MASS_REPORT_PREFIX = frame_struct(OrderMassActionReport)
_STATUS, _STATUS_PREFIX = frame_struct(ExecutionReportStatus)


def encode_event(ev: tuple, server_seq: int, now_ns: int) -> bytes:
    """The report for one event tuple, taking server sequence number server_seq.

    Packed in one struct call from the generated layouts (the unit tests decode every kind with the
    codec); no message object is built on this path.
    """
    kind = ev[EV_KIND]
    xid = (ev[EV_SESSION_ID] << EXEC_ID_SEQ_BITS) | server_seq
    if kind == EVT_ACCEPTED:
        return _NEW.pack(_NEW_PREFIX, ev[EV_CL_ORD_ID], ev[EV_ORDER_ID], xid, now_ns, ev[EV_PRICE],
                         ev[EV_QTY], ev[EV_SECURITY_ID], ev[EV_SIDE])
    if kind == EVT_TRADE:
        return _TRADE.pack(_TRADE_PREFIX, ev[EV_CL_ORD_ID], ev[EV_ORDER_ID], xid, now_ns, ev[EV_PRICE],
                           ev[EV_QTY], ev[EV_LEAVES_QTY], ev[EV_CUM_QTY], ev[EV_SECURITY_ID], ev[EV_SIDE],
                           1 if ev[EV_FLAGS] & FLAG_AGGRESSOR else 0)
    if kind == EVT_CANCELED:
        return _CANCEL.pack(_CANCEL_PREFIX, ev[EV_CL_ORD_ID], ev[EV_ORIG_CL_ORD_ID], ev[EV_ORDER_ID], xid,
                            now_ns, ev[EV_CUM_QTY], ev[EV_SECURITY_ID], ev[EV_SIDE], ev[EV_REASON])
    if kind == EVT_REPLACED:
        return _REPLACE.pack(_REPLACE_PREFIX, ev[EV_CL_ORD_ID], ev[EV_ORIG_CL_ORD_ID], ev[EV_ORDER_ID], xid,
                             now_ns, ev[EV_PRICE], ev[EV_QTY], ev[EV_LEAVES_QTY], ev[EV_CUM_QTY],
                             ev[EV_SECURITY_ID], ev[EV_SIDE])
    if kind == EVT_REJECTED:
        return _REJECT.pack(_REJECT_PREFIX, ev[EV_CL_ORD_ID], xid, now_ns, ev[EV_PRICE], ev[EV_QTY],
                            ev[EV_SECURITY_ID], ev[EV_SIDE], ev[EV_REASON])
    if kind == EVT_MASS_ACTION_REPORT:
        # SecurityID 0 and Side 0 mean "any": null on the wire (fast_egress.h does the same)
        refused = ev[EV_FLAGS] & FLAG_REFUSED
        sec = ev[EV_SECURITY_ID]
        return _MASS_REPORT.pack(_MASS_REPORT_PREFIX, ev[EV_CL_ORD_ID], now_ns, ev[EV_QTY],
                                 sec if sec else NULL_SECURITY_ID, MASS_ACTION_CANCEL,
                                 SCOPE_SECURITY if sec else SCOPE_ALL, 0 if refused else 1,
                                 ev[EV_REASON] if refused else NULL_U8, ev[EV_SIDE] or NULL_U8)
    if kind == EVT_ORDER_STATUS:
        unknown = ev[EV_FLAGS] & FLAG_REFUSED
        return _STATUS.pack(_STATUS_PREFIX, ev[EV_CL_ORD_ID], ev[EV_ORDER_ID], xid, now_ns, ev[EV_PRICE],
                            ev[EV_LEAVES_QTY], ev[EV_CUM_QTY], ev[EV_SECURITY_ID],
                            ORD_STATUS_REJECTED if unknown else ev[EV_REASON],
                            NULL_U8 if unknown else ev[EV_SIDE])
    # CANCEL_REJECTED (and any kind newer than this router: answered as a cancel reject, reason Other)
    response_to = RESPONSE_TO_REPLACE if ev[EV_FLAGS] & FLAG_TO_REPLACE else RESPONSE_TO_CANCEL
    reason = ev[EV_REASON] if kind == EVT_CANCEL_REJECTED else 99
    return _CXL_REJECT.pack(_CXL_REJECT_PREFIX, ev[EV_CL_ORD_ID], ev[EV_ORIG_CL_ORD_ID], ev[EV_ORDER_ID],
                            now_ns, ev[EV_SECURITY_ID], response_to, reason)


def business_reject(ref_seq_num: int, ref_template_id: int, reason: int, now_ns: int) -> bytes:
    return encode_business_message_reject(BusinessMessageReject(ref_seq_num, now_ns, ref_template_id, reason))
