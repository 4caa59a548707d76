"""udprouter.client: an asyncio FIXP-over-UDP client for order entry (tests, tools, users).

fixp_client holds the Client (sockets, handshake, batching, resends); flows holds its two FIXP
flows as pure bookkeeping.
"""

from udprouter.client.fixp_client import (
    MAX_ORDERS_PER_DATAGRAM,
    Client,
    CopiedReport,
    SessionError,
    fold_copies,
)

__all__ = ["MAX_ORDERS_PER_DATAGRAM", "Client", "CopiedReport", "SessionError", "fold_copies"]
