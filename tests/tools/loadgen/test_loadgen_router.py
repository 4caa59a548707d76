"""The load generator's FIXP session setup and flow against the real router + engine (and a
scripted server for the answers a real one gives only by bad luck)."""

import socket
import threading

import pytest

from bench.udp_servers import RouterProcess
from udprouter._generated import messages as m
from udprouter.codec import decode_datagram, encode_message
from udprouter.errors import SessionError
from udprouter.loadgen.handshake import establish_session, open_udp_socket
from udprouter.loadgen.load_run import LoadSpec, Sessions, run_load
from udprouter.loadgen.runner import RunLimits

LIMITS = RunLimits(timeout_s=20.0, drain_s=5.0)


def test_windowed_and_batched_flows_on_two_sessions_are_all_acked():
    with RouterProcess(wait="sleep") as router:
        with Sessions("127.0.0.1", router.port, 2, ("demo", "demo-secret")) as sessions:
            single = run_load(LoadSpec(orders=600, per_datagram=1, window=64), sessions, 1, LIMITS)
            # Same sessions again: sequence numbers continue, ClOrdIDs stay above the first run's.
            batched = run_load(LoadSpec(orders=2000, per_datagram=20, window=200), sessions, 10_000, LIMITS)
    for report in (single, batched):
        assert (report.rejected, report.not_applied, report.unanswered) == (0, 0, 0)
        assert report.acknowledged == report.sent == report.spec.orders


def _negotiate_then_reject(server: socket.socket) -> None:
    """Answers Negotiate, then answers Establish with a late duplicate NegotiationResponse (as
    after a resend) followed by an EstablishmentReject."""
    data, addr = server.recvfrom(2048)
    (negotiate,) = decode_datagram(data)
    response = encode_message(m.NegotiationResponse(
        session_id=negotiate.session_id, request_timestamp=negotiate.timestamp,
        server_flow=m.FlowType.Recoverable, credentials=b""))
    server.sendto(response, addr)
    data, addr = server.recvfrom(2048)
    (establish,) = decode_datagram(data)
    server.sendto(response, addr)
    server.sendto(encode_message(m.EstablishmentReject(
        session_id=establish.session_id, request_timestamp=establish.timestamp,
        code=m.EstablishmentRejectCode.Credentials, reason="bad key")), addr)


def test_handshake_skips_a_late_negotiation_response_and_raises_on_the_reject():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(5)
        client = open_udp_socket("127.0.0.1", server.getsockname()[1])
        script = threading.Thread(target=_negotiate_then_reject, args=(server,))
        script.start()
        try:
            with pytest.raises(SessionError, match="EstablishmentReject"):
                establish_session(client, "demo", "demo-secret", timeout_s=5.0)
        finally:
            script.join(5)
            client.close()
