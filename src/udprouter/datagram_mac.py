"""Datagram authentication (SPEC.md 4.9): a per-session key and a MAC frame ending each client datagram.

Key K (32 bytes) = HMAC-SHA256(secret, "DatagramKey\\n<SessionId hex>\\n<Establish Timestamp>\\n<key_id>"),
derived by client and server once an Establish is accepted; it never crosses the wire. Every datagram
a client sends in an established session ends with MessageAuthentication, 30 bytes:
SOFH + SBE header + MAC, MAC = BLAKE2b(digest_size=16, key=K) over every byte before the frame.
Negotiate and Establish are not MAC'd (their Credentials are signed).

This is the Python side (client and tools, via hashlib). The router checks every datagram in C,
src/udprouter/fastpath/datagram_mac.h (also the load generator's), against the session's key in its
udr_fp_session (ServerSession.authenticate); that C is tested against this module.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

from udprouter._generated import messages as _m

MAC_SIZE = 16
KEY_SIZE = 32
MAC_FRAME_SIZE = _m.FRAME_PREFIX_SIZE + _m.MessageAuthentication.BLOCK_LENGTH  # 30
# The 14 bytes that start every MAC frame: SOFH (length 30, 0xEB50) + header (16, 30, 2748, 0).
MAC_FRAME_PREFIX = struct.pack(">IH", MAC_FRAME_SIZE, _m.SBE_LE_ENCODING_TYPE) + struct.pack(
    "<4H", _m.MessageAuthentication.BLOCK_LENGTH, _m.MessageAuthentication.TEMPLATE_ID,
    _m.FIXP_SCHEMA_ID, _m.FIXP_SCHEMA_VERSION)
# Datagrams led by these FIXP templates carry no MAC: Negotiate and Establish are signed instead.
_LOGIN_HEADERS = frozenset(struct.pack("<2H", cls.TEMPLATE_ID, _m.FIXP_SCHEMA_ID)
                           for cls in (_m.Negotiate, _m.Establish))


def datagram_key(secret: str | bytes, session_id: bytes, timestamp: int, key_id: str) -> bytes:
    """The session's datagram key K for the Establish (Timestamp) the server accepted."""
    if isinstance(secret, str):
        secret = secret.encode()
    payload = f"DatagramKey\n{bytes(session_id).hex()}\n{timestamp}\n{key_id}".encode()
    return hmac.new(secret, payload, hashlib.sha256).digest()


def is_login(data: bytes) -> bool:
    """True when the datagram's first frame is a Negotiate or Establish (sent without a MAC)."""
    return len(data) >= 14 and bytes(data[8:12]) in _LOGIN_HEADERS


def strip_mac(data: bytes) -> bytes:
    """data without a trailing MAC frame, unchecked (sources that have no key yet, or MACs off)."""
    if len(data) > MAC_FRAME_SIZE and data[-MAC_FRAME_SIZE:-MAC_SIZE] == MAC_FRAME_PREFIX:
        return data[:-MAC_FRAME_SIZE]
    return data


class DatagramMac:
    """Signs (client) and verifies (server) datagrams under one session key.

    The keyed hash is set up once (the key block compressed) and copied per datagram."""

    __slots__ = ("key", "_keyed")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError(f"datagram key must be {KEY_SIZE} bytes, got {len(key)}")
        self.key = bytes(key)
        self._keyed = hashlib.blake2b(key=self.key, digest_size=MAC_SIZE)

    def mac(self, data: bytes) -> bytes:
        h = self._keyed.copy()
        h.update(data)
        return h.digest()

    def sign(self, data: bytes) -> bytes:
        """data followed by its MessageAuthentication frame."""
        return data + MAC_FRAME_PREFIX + self.mac(data)

    def verify(self, data: bytes) -> bytes | None:
        """The datagram before its MAC frame if that frame is last and its MAC is right, else None.

        A MAC frame alone (nothing before it) is refused: it carries nothing to authenticate."""
        if len(data) <= MAC_FRAME_SIZE or data[-MAC_FRAME_SIZE:-MAC_SIZE] != MAC_FRAME_PREFIX:
            return None
        body = data[:-MAC_FRAME_SIZE]
        if not hmac.compare_digest(self.mac(body), data[-MAC_SIZE:]):
            return None
        return body
