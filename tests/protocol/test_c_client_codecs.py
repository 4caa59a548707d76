"""The C client library's codecs and authentication agree with the Python reference.

Every golden vector decodes through the C framing + generated field tables to the vector's JSON;
the C credentials, datagram key and MAC equal Python's hmac / hashlib.blake2b on the same inputs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess

import pytest

from tools.gen.vectors import VECTORS_DIR
from udprouter.auth import sign

VECTOR_FILES = sorted(VECTORS_DIR.glob("*.bin"))


def expected_messages(path) -> list[dict]:
    data = json.loads(path.with_suffix(".json").read_text())
    return data["messages"] if "messages" in data else [data]


def test_every_golden_vector_decodes_through_the_c_codecs(c_client_bin):
    out = subprocess.run([c_client_bin("udr_vectors"), *map(str, VECTOR_FILES)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    decoded = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(decoded) == len(VECTOR_FILES) > 20
    for path, got in zip(VECTOR_FILES, decoded, strict=True):
        assert got["messages"] == expected_messages(path), path.name


def test_a_frame_cut_short_is_reported_not_decoded(c_client_bin, tmp_path):
    cut = tmp_path / "cut.bin"
    cut.write_bytes((VECTORS_DIR / "NewOrderSingle.bin").read_bytes()[:-3])
    out = subprocess.run([c_client_bin("udr_vectors"), str(cut)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "bad frame at byte 0" in out.stderr


def test_an_enum_value_outside_the_schema_decodes_with_no_name(c_client_bin, tmp_path):
    frame = bytearray((VECTORS_DIR / "NewOrderSingle.bin").read_bytes())
    frame[14 + 32] = 9  # Side = 9
    path = tmp_path / "side9.bin"
    path.write_bytes(frame)
    out = subprocess.run([c_client_bin("udr_vectors"), str(path)], capture_output=True, text=True, timeout=60)
    assert json.loads(out.stdout)["messages"][0]["fields"]["Side"] == {"name": None, "value": 9}


def authtool(c_client_bin, *args: str) -> str:
    out = subprocess.run([c_client_bin("udr_authtool"), *args], capture_output=True, text=True, timeout=30,
                         check=True)
    return out.stdout.strip()


@pytest.mark.parametrize("message_name", ["Negotiate", "Establish"])
def test_c_credentials_equal_the_python_signature(c_client_bin, message_name):
    session = os.urandom(16)
    ts = 1_767_225_600_123_456_789
    out = authtool(c_client_bin, "credentials", "demo-secret", message_name, session.hex(), str(ts), "demo")
    assert out.encode() == sign("demo-secret", message_name, session, ts, "demo")


def python_datagram_key(secret: str, session: bytes, ts: int, key_id: str) -> bytes:
    text = f"DatagramKey\n{session.hex()}\n{ts}\n{key_id}".encode()
    return hmac.new(secret.encode(), text, hashlib.sha256).digest()


def test_c_datagram_key_equals_python_hmac(c_client_bin):
    session, ts = os.urandom(16), 1_767_225_600_987_654_321
    out = authtool(c_client_bin, "key", "demo2-secret", session.hex(), str(ts), "demo2")
    assert bytes.fromhex(out) == python_datagram_key("demo2-secret", session, ts, "demo2")


@pytest.mark.parametrize("size", [0, 1, 127, 128, 129, 1000])
def test_c_mac_equals_python_keyed_blake2b(c_client_bin, size):
    key, data = os.urandom(32), os.urandom(size)
    out = authtool(c_client_bin, "mac", key.hex(), data.hex())
    assert bytes.fromhex(out) == hashlib.blake2b(data, key=key, digest_size=16).digest()
