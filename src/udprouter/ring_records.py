"""The ring's records in pure Python: udr_command and udr_event as struct layouts, their kinds and
flags (engine/include/udprouter/engine/ring_abi.h, the one source of the ring ABI).

No cffi here, so the tools that read the engine's journal (durability/journal_format.py,
journal_tool, the downstream publisher) run without the compiled module; ring.py, the ring itself,
re-exports these. tests/unit/test_ring.py checks every field offset and every kind and flag against
ring_abi.h as cffi compiles it. Packing a record in one struct call costs a fifth of a dozen cffi
stores, which is why the order path uses these layouts too.
"""

from __future__ import annotations

import struct

COMMAND_LAYOUT = struct.Struct("<QQQqQIIIiBBBBI")  # udr_command: router -> engine, and the journal's record
COMMAND_FIELDS = ("command_seq", "cl_ord_id", "orig_cl_ord_id", "price", "recv_time_ns", "session_id",
                  "account", "order_qty", "security_id", "kind", "side", "ord_type", "time_in_force",
                  "reserved")
EVENT_LAYOUT = struct.Struct("<QQQQqIiIIIBBBB")  # udr_event: engine -> router
EVENT_FIELDS = ("command_seq", "cl_ord_id", "orig_cl_ord_id", "order_id", "price", "session_id",
                "security_id", "qty", "leaves_qty", "cum_qty", "kind", "side", "reason", "flags")
# Indices into an unpacked event tuple.
(EV_COMMAND_SEQ, EV_CL_ORD_ID, EV_ORIG_CL_ORD_ID, EV_ORDER_ID, EV_PRICE, EV_SESSION_ID, EV_SECURITY_ID,
 EV_QTY, EV_LEAVES_QTY, EV_CUM_QTY, EV_KIND, EV_SIDE, EV_REASON, EV_FLAGS) = range(len(EVENT_FIELDS))

# udr_command.kind (UDR_CMD_*)
CMD_NEW_ORDER = 1
CMD_CANCEL = 2
CMD_REPLACE = 3
CMD_MASS_CANCEL = 4
CMD_ORDER_STATUS = 5
CMD_ACCOUNT_CONTROL = 6
CMD_RESET_SESSION = 7
CMD_TERMINATE = 15

# udr_event.kind (UDR_EVT_*)
EVT_ACCEPTED = 1
EVT_TRADE = 2
EVT_CANCELED = 3
EVT_REPLACED = 4
EVT_REJECTED = 5
EVT_CANCEL_REJECTED = 6
EVT_MASS_ACTION_REPORT = 7
EVT_ORDER_STATUS = 8
EVT_ACCOUNT_UPDATED = 9
EVT_SESSION_RESET = 10

# udr_event.flags (UDR_EVT_FLAG_*)
FLAG_LAST = 1
FLAG_AGGRESSOR = 2
FLAG_TO_REPLACE = 4
FLAG_REFUSED = 8
