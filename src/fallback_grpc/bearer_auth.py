"""BearerAuthenticator: the gRPC fallback's per-call authentication.

Every call carries metadata ``authorization: Bearer <key_id>:<secret>`` with the same keys (and so
the same accounts) as the UDP FIXP sessions. The secret is compared in constant time, and an unknown
key id costs the same comparison, so timing tells nothing about which key ids exist. The secret does
cross the wire here, which is why the server refuses to bind a non-loopback address without TLS.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence

from udprouter.config import KeyConfig

_UNKNOWN_KEY_SECRET = b"\x00" * 32


class BearerAuthenticator:
    def __init__(self, keys: Iterable[KeyConfig]) -> None:
        self._keys = {key.key_id: key for key in keys}

    def set_keys(self, keys: Iterable[KeyConfig]) -> None:
        """Replaces the keys (config reload); every later call is checked against the new ones."""
        self._keys = {key.key_id: key for key in keys}

    def authenticate(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> KeyConfig | None:
        """The key named by the call's authorization metadata, or None when it is absent or wrong."""
        value = _authorization(metadata)
        if value is None:
            return None
        scheme, _, token = value.partition(" ")
        key_id, sep, secret = token.partition(":")
        if scheme.lower() != "bearer" or not sep or not key_id:
            return None
        key = self._keys.get(key_id)
        expected = key.secret.encode() if key is not None else _UNKNOWN_KEY_SECRET
        if not hmac.compare_digest(expected, secret.encode()) or key is None:
            return None
        return key


def _authorization(metadata: Sequence[tuple[str, str | bytes]] | None) -> str | None:
    for name, value in metadata or ():
        if name == "authorization":
            return value if isinstance(value, str) else None
    return None
