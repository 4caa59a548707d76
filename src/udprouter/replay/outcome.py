"""Outcome: what the first server answer to a client message said, whether recorded or live.

The same classification serves the capture (what the recorded router answered) and the replay
(what the fresh router answers), so the two can be compared message by message.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from udprouter._generated.messages import (
    BusinessMessageReject,
    ExecutionReportCancel,
    ExecutionReportNew,
    ExecutionReportReject,
    ExecutionReportReplace,
    ExecutionReportTrade,
    MassActionResponse,
    NewOrderSingle,
    OrderCancelReject,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    OrderMassActionReport,
    OrderMassActionRequest,
)

# Replayed client messages. OrderStatusRequest is a query about an earlier order (its ClOrdID is
# that order's): the recording counts it as skipped rather than replaying it.
CLIENT_APP_MESSAGES = (NewOrderSingle, OrderCancelRequest, OrderCancelReplaceRequest, OrderMassActionRequest)
AppMessage = NewOrderSingle | OrderCancelRequest | OrderCancelReplaceRequest | OrderMassActionRequest
_ACKS = (ExecutionReportNew, ExecutionReportCancel, ExecutionReportReplace, ExecutionReportTrade)


class OutcomeKind(enum.IntEnum):
    ACKNOWLEDGED = 1
    REJECTED = 2
    NOT_APPLIED = 3


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    detail: str  # the answering message for acks, "Enum.Name" of the reason for rejects

    def __str__(self) -> str:
        return f"{self.kind.name.lower()} ({self.detail})" if self.detail else self.kind.name.lower()


NOT_APPLIED = Outcome(OutcomeKind.NOT_APPLIED, "NotApplied")


def answer_by_cl_ord_id(msg: object) -> tuple[int, Outcome] | None:
    """(ClOrdID it answers, outcome) for an execution report or cancel reject; None otherwise."""
    cls = msg.__class__
    if cls in _ACKS:
        return msg.cl_ord_id, Outcome(OutcomeKind.ACKNOWLEDGED, cls.__name__)
    if cls is ExecutionReportReject:
        return msg.cl_ord_id, Outcome(OutcomeKind.REJECTED, _reason(msg.ord_rej_reason))
    if cls is OrderCancelReject:
        return msg.cl_ord_id, Outcome(OutcomeKind.REJECTED, _reason(msg.cxl_rej_reason))
    if cls is OrderMassActionReport:
        if msg.mass_action_response == MassActionResponse.Accepted:
            return msg.cl_ord_id, Outcome(OutcomeKind.ACKNOWLEDGED, cls.__name__)
        return msg.cl_ord_id, Outcome(OutcomeKind.REJECTED, _reason(msg.mass_action_reject_reason))
    return None


def answer_by_seq_no(msg: object) -> tuple[int, Outcome] | None:
    """(client sequence number it answers, outcome) for a BusinessMessageReject; None otherwise."""
    if msg.__class__ is BusinessMessageReject:
        return msg.ref_seq_num, Outcome(OutcomeKind.REJECTED, _reason(msg.business_reject_reason))
    return None


def _reason(value: enum.IntEnum) -> str:
    return f"{value.__class__.__name__}.{value.name}"
