"""SessionRewriter: recorded application messages renumbered for a fresh session.

Every message gets a fresh ClOrdID (strictly increasing, as the router requires; the client that
sends them assigns the sequence numbers); a cancel's or replace's OrigClOrdID goes through the same
map, so it still points at the order it pointed at in the recording. Each pass over the capture
(--loop) maps anew: loop 2's cancels target loop 2's orders. Only the maps of the latest two passes
are kept, so looping forever stays bounded. TransactTime becomes the send time.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from udprouter._generated.messages import NewOrderSingle, OrderMassActionRequest
from udprouter.replay.outcome import AppMessage
from udprouter.replay.recording import RecordedDatagram

_NO_ORIG = (NewOrderSingle, OrderMassActionRequest)  # messages that name no earlier order

# OrigClOrdID for a cancel/replace whose order was placed before the capture began: no order has it,
# so the router answers UnknownOrder, as it would have for the recorded session.
UNMAPPED_ORIG_CL_ORD_ID = 0


@dataclass(frozen=True, slots=True)
class RewrittenDatagram:
    messages: tuple[AppMessage, ...]
    recorded_cl_ord_ids: tuple[int, ...]  # same order as messages


class SessionRewriter:
    def __init__(self, first_cl_ord_id: int = 1) -> None:
        self.next_cl_ord_id = first_cl_ord_id
        self._map: dict[tuple[int, int], int] = {}
        self._latest_loop = 0
        self.unmapped_orig = 0

    def rewrite(self, recorded: RecordedDatagram, loop: int, transact_time_ns: int) -> RewrittenDatagram:
        if loop > self._latest_loop:
            self._latest_loop = loop
            self._map = {key: new for key, new in self._map.items() if key[0] >= loop - 1}
        messages = tuple(self._message(msg, loop, transact_time_ns) for msg in recorded.messages)
        return RewrittenDatagram(messages, tuple(m.cl_ord_id for m in recorded.messages))

    def new_cl_ord_id(self, loop: int, recorded_cl_ord_id: int) -> int | None:
        return self._map.get((loop, recorded_cl_ord_id))

    def _message(self, msg: AppMessage, loop: int, transact_time_ns: int) -> AppMessage:
        cl_ord_id = self.next_cl_ord_id
        self.next_cl_ord_id += 1
        self._map[(loop, msg.cl_ord_id)] = cl_ord_id
        if msg.__class__ in _NO_ORIG:
            return msgspec.structs.replace(msg, cl_ord_id=cl_ord_id, transact_time=transact_time_ns)
        orig = self._map.get((loop, msg.orig_cl_ord_id))
        if orig is None:
            self.unmapped_orig += 1
            orig = UNMAPPED_ORIG_CL_ORD_ID
        return msgspec.structs.replace(msg, cl_ord_id=cl_ord_id, orig_cl_ord_id=orig,
                                       transact_time=transact_time_ns)
