"""BearerAuthenticator: per-call `authorization: Bearer <key_id>:<secret>` against the config's keys."""

import pytest

from fallback_grpc.bearer_auth import BearerAuthenticator
from udprouter.config import KeyConfig

KEYS = [KeyConfig(key_id="demo", secret="demo-secret", account=1),
        KeyConfig(key_id="demo2", secret="demo2-secret", account=2)]


def test_right_key_and_secret_give_the_key_and_its_account():
    key = BearerAuthenticator(KEYS).authenticate([("authorization", "Bearer demo2:demo2-secret")])
    assert (key.key_id, key.account) == ("demo2", 2)


def test_scheme_is_case_insensitive_and_other_metadata_is_ignored():
    metadata = [("user-agent", "x"), ("authorization", "bearer demo:demo-secret")]
    assert BearerAuthenticator(KEYS).authenticate(metadata).key_id == "demo"


def test_a_secret_containing_a_colon_is_compared_whole():
    keys = [KeyConfig(key_id="k", secret="a:b", account=7)]
    assert BearerAuthenticator(keys).authenticate([("authorization", "Bearer k:a:b")]).account == 7
    assert BearerAuthenticator(keys).authenticate([("authorization", "Bearer k:a")]) is None


@pytest.mark.parametrize("metadata", [
    None,
    [],
    [("authorization", "Bearer demo:wrong")],
    [("authorization", "Bearer demo:demo2-secret")],   # another key's secret
    [("authorization", "Bearer nobody:demo-secret")],
    [("authorization", "Basic demo:demo-secret")],
    [("authorization", "Bearer demo")],
    [("authorization", "Bearer :demo-secret")],
    [("authorization", "demo:demo-secret")],
])
def test_missing_malformed_or_wrong_credentials_are_refused(metadata):
    assert BearerAuthenticator(KEYS).authenticate(metadata) is None
