"""GrpcServer's transport rules: plaintext on loopback only, TLS from [grpc] tls_cert/tls_key."""

import shutil
import subprocess

import grpc
import pytest

from bench.trivial_grpc_server import TrivialOrderEntryServicer
from fallback_grpc._generated import order_entry_pb2 as pb
from fallback_grpc._generated import order_entry_pb2_grpc as pb_grpc
from fallback_grpc.client import OrderEntryClient
from fallback_grpc.grpc_server import is_loopback, server_credentials
from udprouter.config import GrpcConfig
from udprouter.errors import ConfigError


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                            ("localhost", True), ("0.0.0.0", False), ("10.1.2.3", False),
                                            ("example.com", False)])
def test_loopback_hosts_are_recognised(host, loopback):
    assert is_loopback(host) is loopback


def test_loopback_without_tls_serves_plaintext():
    assert server_credentials(GrpcConfig(host="127.0.0.1")) is None


def test_a_non_loopback_bind_without_tls_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"^grpc\.host: 0\.0\.0\.0 is not loopback"):
        server_credentials(GrpcConfig(host="0.0.0.0"))


def test_a_certificate_without_its_key_is_a_config_error():
    with pytest.raises(ConfigError, match="tls_cert and tls_key must be given together"):
        server_credentials(GrpcConfig(tls_cert="cert.pem"))


def test_unreadable_tls_files_are_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        server_credentials(GrpcConfig(tls_cert=str(tmp_path / "no.pem"), tls_key=str(tmp_path / "no.key")))


@pytest.fixture
def self_signed(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)
    return cert, key


async def test_tls_credentials_serve_a_client_that_verifies_the_certificate(self_signed):
    cert, key = self_signed
    server = grpc.aio.server()
    pb_grpc.add_OrderEntryServicer_to_server(TrivialOrderEntryServicer(), server)
    port = server.add_secure_port("127.0.0.1:0", server_credentials(
        GrpcConfig(host="0.0.0.0", tls_cert=str(cert), tls_key=str(key))))
    await server.start()
    try:
        async with OrderEntryClient(f"127.0.0.1:{port}", "demo", "demo-secret", linger_ms=0,
                                    root_certificates=cert.read_bytes()) as client:
            result = await client.submit_unary(pb.NewOrderSingle(cl_ord_id=5, order_qty=1, side=pb.SIDE_BUY,
                                                                      time_in_force=pb.TIME_IN_FORCE_DAY))
        assert result.accepted.cl_ord_id == 5
    finally:
        await server.stop(None)
