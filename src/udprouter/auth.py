"""FIXP credentials: HMAC-SHA256 signatures that keep the secret off the wire.

Credentials = UTF-8 ``<key_id>:<signature>``; signature = lowercase hex HMAC-SHA256 keyed by the
secret over ``<MessageName>\\n<SessionId as 32 lowercase hex digits>\\n<Timestamp>\\n<key_id>``.
The server refuses a Timestamp outside the window and a (SessionId, Timestamp) pair seen before.
Shared by the server (verify) and the client (sign). Secrets are never logged or exported.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections import deque
from collections.abc import Iterable

from udprouter.config import KeyConfig
from udprouter.durability.session_store import grpc_session_uuid


class AuthResult(enum.IntEnum):
    OK = 0
    MALFORMED = 1
    UNKNOWN_KEY = 2
    BAD_SIGNATURE = 3
    STALE_TIMESTAMP = 4
    REPLAYED = 5


def signature(secret: str, message_name: str, session_id: bytes, timestamp: int, key_id: str) -> str:
    payload = f"{message_name}\n{session_id.hex()}\n{timestamp}\n{key_id}".encode()
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def sign(secret: str, message_name: str, session_id: bytes, timestamp: int, key_id: str) -> bytes:
    """The Credentials bytes for a Negotiate or Establish."""
    return f"{key_id}:{signature(secret, message_name, session_id, timestamp, key_id)}".encode()


class Authenticator:
    """Verifies credentials against the configured keys, with a bounded replay cache."""

    def __init__(self, keys: Iterable[KeyConfig], window_ns: int) -> None:
        self.set_keys(keys)
        self._window_ns = window_ns
        self._seen: set[tuple[bytes, int]] = set()
        self._expiry: deque[tuple[int, tuple[bytes, int]]] = deque()

    def set_keys(self, keys: Iterable[KeyConfig]) -> None:
        """Replaces the keys (config reload): new logins use them; established sessions keep theirs."""
        self._keys = {key.key_id: key for key in keys}
        # Every key's gRPC flow SessionId: no UDP session may take one, whichever key it logs in with.
        self._grpc_flows = frozenset(grpc_session_uuid(key_id) for key_id in self._keys)

    def is_grpc_flow(self, session_id: bytes) -> bool:
        """session_id is the gRPC flow of a configured key (SessionStore's grpc_session_uuid)."""
        return bytes(session_id) in self._grpc_flows

    def key(self, key_id: str) -> KeyConfig | None:
        return self._keys.get(key_id)

    def verify(
        self, message_name: str, session_id: bytes, timestamp: int, credentials: bytes, now_ns: int
    ) -> tuple[AuthResult, KeyConfig | None]:
        """Check signature, window and replay; an accepted pair is remembered for the window."""
        key_id, sig = _split(credentials)
        if key_id is None:
            return AuthResult.MALFORMED, None
        key = self._keys.get(key_id)
        if key is None:
            return AuthResult.UNKNOWN_KEY, None
        expected = signature(key.secret, message_name, session_id, timestamp, key_id)
        if not hmac.compare_digest(expected.encode(), sig):
            return AuthResult.BAD_SIGNATURE, None
        if abs(now_ns - timestamp) > self._window_ns:
            return AuthResult.STALE_TIMESTAMP, None
        self._prune(now_ns)
        pair = (bytes(session_id), timestamp)
        if pair in self._seen:
            return AuthResult.REPLAYED, None
        self._seen.add(pair)
        # A pair stays refusable until its timestamp leaves the window; after that the window refuses it.
        self._expiry.append((timestamp + self._window_ns, pair))
        return AuthResult.OK, key

    def _prune(self, now_ns: int) -> None:
        # Expiries are not strictly ordered (timestamps come from clients), so a late-expiring head can
        # keep older ones a little longer: the cache stays bounded by the window's request rate.
        while self._expiry and self._expiry[0][0] < now_ns:
            _, pair = self._expiry.popleft()
            self._seen.discard(pair)

    def __len__(self) -> int:
        return len(self._seen)


def _split(credentials: bytes) -> tuple[str | None, bytes]:
    try:
        text = bytes(credentials).decode()
    except UnicodeDecodeError:
        return None, b""
    key_id, sep, sig = text.partition(":")
    if not sep or not key_id or len(sig) != 64:
        return None, b""
    return key_id, sig.encode()
