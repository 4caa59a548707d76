"""FIXP credentials: HMAC signature over the contract's string, window and replay cache."""

import hashlib
import hmac

from udprouter.auth import Authenticator, AuthResult, sign
from udprouter.config import KeyConfig

SID = bytes(range(16))
NOW = 1_700_000_000_000_000_000
WINDOW = 5_000_000_000


def _auth():
    return Authenticator([KeyConfig(key_id="demo", secret="demo-secret", account=1)], WINDOW)


def test_signature_matches_the_contract_string():
    creds = sign("demo-secret", "Negotiate", SID, NOW, "demo")
    text = f"Negotiate\n{SID.hex()}\n{NOW}\ndemo".encode()
    expected = hmac.new(b"demo-secret", text, hashlib.sha256).hexdigest()
    assert creds == f"demo:{expected}".encode()
    assert b"demo-secret" not in creds


def test_valid_credentials_are_accepted_with_their_key():
    creds = sign("demo-secret", "Negotiate", SID, NOW, "demo")
    result, key = _auth().verify("Negotiate", SID, NOW, creds, NOW)
    assert result is AuthResult.OK
    assert key.account == 1


def test_wrong_secret_is_a_bad_signature():
    creds = sign("guess", "Negotiate", SID, NOW, "demo")
    assert _auth().verify("Negotiate", SID, NOW, creds, NOW)[0] is AuthResult.BAD_SIGNATURE


def test_signature_for_another_message_name_is_refused():
    creds = sign("demo-secret", "Establish", SID, NOW, "demo")
    assert _auth().verify("Negotiate", SID, NOW, creds, NOW)[0] is AuthResult.BAD_SIGNATURE


def test_unknown_key_is_refused():
    creds = sign("demo-secret", "Negotiate", SID, NOW, "other")
    assert _auth().verify("Negotiate", SID, NOW, creds, NOW)[0] is AuthResult.UNKNOWN_KEY


def test_malformed_credentials_are_refused():
    auth = _auth()
    for creds in (b"", b"demo", b"demo:short", b"\xff\xfe:" + b"0" * 64, b":" + b"0" * 64):
        assert auth.verify("Negotiate", SID, NOW, creds, NOW)[0] is AuthResult.MALFORMED


def test_timestamp_outside_window_is_stale_both_ways():
    auth = _auth()
    for ts in (NOW - WINDOW - 1, NOW + WINDOW + 1):
        creds = sign("demo-secret", "Negotiate", SID, ts, "demo")
        assert auth.verify("Negotiate", SID, ts, creds, NOW)[0] is AuthResult.STALE_TIMESTAMP


def test_replayed_session_and_timestamp_pair_is_refused():
    auth = _auth()
    creds = sign("demo-secret", "Negotiate", SID, NOW, "demo")
    assert auth.verify("Negotiate", SID, NOW, creds, NOW)[0] is AuthResult.OK
    assert auth.verify("Negotiate", SID, NOW, creds, NOW + 1)[0] is AuthResult.REPLAYED


def test_replay_cache_is_bounded_by_the_window():
    auth = _auth()
    for i in range(100):
        ts = NOW + i * WINDOW
        assert auth.verify("Negotiate", SID, ts, sign("demo-secret", "Negotiate", SID, ts, "demo"), ts)[0] \
            is AuthResult.OK
    assert len(auth) <= 3
