"""Blocking FIXP session setup for the load generator: Negotiate then Establish on a connected UDP
socket, after which the socket's fd is handed to the C loop. Off the measured path, so plain
blocking calls with a timeout; lost answers are retried (the server answers repeats again)."""

import os
import socket
import time

from udprouter._generated import messages as m
from udprouter.auth import sign
from udprouter.codec import decode_datagram, encode_message
from udprouter.datagram_mac import datagram_key
from udprouter.errors import SessionError

KEEPALIVE_MS = 60_000  # the longest the server accepts: a run never goes quiet for that long
SOCKET_BUFFER = 8 << 20


def open_udp_socket(host: str, port: int) -> socket.socket:
    """A UDP socket connected to host:port with large kernel buffers (bursts must not drop)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
    sock.connect((host, port))
    return sock


def establish_session(sock: socket.socket, key_id: str, secret: str,
                      timeout_s: float = 5.0) -> tuple[int, bytes]:
    """Negotiates and establishes a new session; returns the first client sequence number to use and
    the session's datagram key (SPEC.md 4.9)."""
    session_id = os.urandom(16)
    ts = time.time_ns()
    _request(sock, m.Negotiate(session_id=session_id, timestamp=ts, client_flow=m.FlowType.Idempotent,
                               credentials=sign(secret, "Negotiate", session_id, ts, key_id)),
             m.NegotiationResponse, timeout_s)
    ts = time.time_ns()
    no_cod = m.CancelOnDisconnectType.DoNotCancelOnDisconnectOrTerminate
    establish = m.Establish(session_id=session_id, timestamp=ts, keepalive_interval=KEEPALIVE_MS,
                            next_seq_no=1, cancel_on_disconnect_type=no_cod, cod_timeout_window=0,
                            credentials=sign(secret, "Establish", session_id, ts, key_id))
    _request(sock, establish, m.EstablishmentAck, timeout_s)
    return 1, datagram_key(secret, session_id, ts, key_id)


REJECTS = (m.NegotiationReject, m.EstablishmentReject, m.Terminate)


def _request(sock: socket.socket, msg: object, expect: type, timeout_s: float) -> object:
    """Sends msg (again every 0.5 s) until expect arrives; a reject raises. Anything else is a
    late answer to an earlier try or a heartbeat, and is skipped."""
    payload = encode_message(msg)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sock.send(payload)
        resend_at = min(deadline, time.monotonic() + 0.5)
        while (left := resend_at - time.monotonic()) > 0:
            answer = _receive(sock, left)
            for decoded in decode_datagram(answer) if answer else ():
                if isinstance(decoded, expect):
                    return decoded
                if isinstance(decoded, REJECTS):
                    raise SessionError(f"{type(msg).__name__} answered with {decoded!r}")
    raise SessionError(f"no {expect.__name__} within {timeout_s} s")


def _receive(sock: socket.socket, timeout_s: float) -> bytes | None:
    sock.settimeout(timeout_s)
    try:
        return sock.recv(65536)
    except TimeoutError:
        return None
    finally:
        sock.settimeout(None)
