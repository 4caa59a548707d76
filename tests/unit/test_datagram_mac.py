"""The datagram MAC (SPEC.md 4.9): the C keyed BLAKE2b (src/udprouter/fastpath/datagram_mac.h, written from
RFC 7693) against hashlib's, the C verify against the Python one on seeded random and mutated
datagrams, the load generator's signing, and the key derivation against the golden vector."""

from __future__ import annotations

import hashlib
import json
import random
from array import array
from pathlib import Path

import pytest
from udprouter._ring_cffi import ffi, lib

from udprouter._generated.messages import Establish, NewOrderSingle, Sequence
from udprouter.codec import encode_datagram, encode_message
from udprouter.datagram_mac import (
    MAC_FRAME_PREFIX,
    MAC_FRAME_SIZE,
    DatagramMac,
    datagram_key,
    is_login,
    strip_mac,
)
from udprouter.loadgen.order_flow import build_order_flow
from udprouter.loadgen.plan import build_plan
from udprouter.loadgen.runner import signed_data

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors"
RANDOM_CASES = 4_000


def c_key(key: bytes):
    k = ffi.new("udr_mac_key *")
    lib.udr_mac_key_init(k, key)
    return k


def c_mac(key: bytes, data: bytes) -> bytes:
    out = ffi.new("unsigned char[16]")
    lib.udr_mac_compute(c_key(key), data, len(data), out)
    return bytes(out)


def c_verify(key: bytes, data: bytes) -> int:
    return lib.udr_mac_verify(c_key(key), data, len(data))


@pytest.mark.parametrize("length", [1, 2, 30, 64, 127, 128, 129, 255, 256, 257, 1000, 1024, 1442, 1472])
def test_c_blake2b_equals_hashlib_at_every_block_boundary(length):
    rng = random.Random(length)
    for _ in range(8):
        key, data = rng.randbytes(32), rng.randbytes(length)
        assert c_mac(key, data) == hashlib.blake2b(data, key=key, digest_size=16).digest()


def test_c_blake2b_equals_hashlib_on_random_lengths_and_keys():
    rng = random.Random(7)
    for _ in range(RANDOM_CASES // 4):
        key, data = rng.randbytes(32), rng.randbytes(rng.randrange(1, 1473))
        assert c_mac(key, data) == DatagramMac(key).mac(data)


def _mutate(rng: random.Random, data: bytes) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:
        i = rng.randrange(len(data))
        return data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1:]
    if kind == 1:
        return data[:rng.randrange(len(data))]  # truncated anywhere, the MAC frame included
    if kind == 2:
        return data + encode_message(Sequence(rng.randrange(1 << 20)))  # MAC frame not last
    if kind == 3:
        return data[:-MAC_FRAME_SIZE]  # no MAC frame
    if kind == 4:
        return MAC_FRAME_PREFIX + data[-16:]  # a MAC frame alone
    return data


def test_c_and_python_verify_agree_on_random_and_mutated_datagrams():
    rng = random.Random(11)
    key = rng.randbytes(32)
    mac = DatagramMac(key)
    accepted = refused = 0
    for _ in range(RANDOM_CASES):
        orders = [NewOrderSingle(rng.getrandbits(63), 0, 10**11, 5, 1, 1, 2, 0)
                  for _ in range(rng.randrange(20))]
        body = encode_datagram([Sequence(rng.randrange(1, 1 << 40)), *orders])
        data = _mutate(rng, mac.sign(body))
        python = mac.verify(data)
        c = c_verify(key, data)
        assert c == (-1 if python is None else len(python)), data.hex()
        accepted += python is not None
        refused += python is None
    assert accepted > RANDOM_CASES // 8 and refused > RANDOM_CASES // 2


def test_a_datagram_signed_under_another_key_or_establish_is_refused():
    sid = bytes(range(16))
    first, second = (datagram_key("demo-secret", sid, ts, "demo") for ts in (1, 2))
    data = DatagramMac(first).sign(encode_message(Sequence(1)))
    assert DatagramMac(first).verify(data) is not None
    assert DatagramMac(second).verify(data) is None and c_verify(second, data) == -1
    assert DatagramMac(datagram_key("other-secret", sid, 1, "demo")).verify(data) is None


def test_login_datagrams_are_recognised_and_unchecked_macs_stripped():
    establish = encode_message(Establish(bytes(16), 1, 1000, 1, 0, 0, b"demo:x"))
    assert is_login(establish) and not is_login(encode_message(Sequence(1)))
    body = encode_message(Sequence(3))
    assert strip_mac(DatagramMac(bytes(32)).sign(body)) == body
    assert strip_mac(body) == body and strip_mac(MAC_FRAME_PREFIX + bytes(16)) == MAC_FRAME_PREFIX + bytes(16)


def test_load_generator_signs_each_datagram_with_its_sessions_key_in_c():
    plan = build_plan(build_order_flow(60, sessions=2, seed=1), 7, sessions=2)
    keys = [bytes([1]) * 32, bytes([2]) * 32]
    offsets = array("I", [0])
    for d in plan.datagrams:
        offsets.append(offsets[-1] + len(d))
    data, out_offsets = signed_data(plan, offsets, keys)
    for i, datagram in enumerate(plan.datagrams):
        signed = data[out_offsets[i]:out_offsets[i + 1]]
        assert signed == DatagramMac(keys[plan.fd_index[i]]).sign(datagram)


def test_golden_vector_key_and_mac():
    vector = json.loads((VECTORS / "datagram_sequence_nos_x1_mac.json").read_text())
    auth = vector["authentication"]
    key = datagram_key(auth["secret"], bytes.fromhex(auth["session_id"]), auth["establish_timestamp"],
                       auth["key_id"])
    assert key.hex() == auth["datagram_key"]
    data = (VECTORS / "datagram_sequence_nos_x1_mac.bin").read_bytes()
    assert DatagramMac(key).verify(data) is not None and c_verify(key, data) == len(data) - MAC_FRAME_SIZE
    assert data[-16:].hex() == auth["mac"]
