"""Config: TOML decoded into Structs, errors name the key path, prices converted exactly."""

import os
from pathlib import Path

import pytest

from udprouter.config import (
    ENGINE_BIN_ENV,
    instruments_of,
    load_config,
    parse_config,
    resolve_engine_binary,
)
from udprouter.errors import ConfigError, UdprouterError


def test_default_config_has_demo_keys_and_three_instruments():
    config = load_config(None)
    assert [(k.key_id, k.secret, k.account) for k in config.keys] == [
        ("demo", "demo-secret", 1),
        ("demo2", "demo2-secret", 2),
    ]
    instruments = instruments_of(config)
    assert sorted(instruments) == [1, 2, 3]
    for inst in instruments.values():
        assert inst.tick == 10_000_000
        assert inst.reference_price == 100_000_000_000
        assert (inst.min_price, inst.max_price) == (90_000_000_000, 110_000_000_000)
        assert inst.max_qty == 1_000_000
    assert (config.udp.host, config.udp.port) == ("127.0.0.1", 9000)
    assert (config.grpc.host, config.grpc.port) == ("127.0.0.1", 50051)
    assert (config.metrics.host, config.metrics.port) == ("127.0.0.1", 9100)
    assert config.journal.durability == "os"


def test_file_overrides_only_what_it_names():
    config = parse_config("[udp]\nport = 0\n[journal]\ndurability = 'fsync'\n")
    assert config.udp.port == 0
    assert config.udp.host == "127.0.0.1"
    assert config.journal.durability == "fsync"
    assert len(config.keys) == 2


def test_max_open_orders_defaults_to_a_tenth_of_the_engines_order_table():
    assert parse_config("").session.max_open_orders == 100_000  # of engine.max_orders 1,000,000
    assert parse_config("[engine]\nmax_orders = 50\n").session.max_open_orders == 5
    assert parse_config("[engine]\nmax_orders = 5\n").session.max_open_orders == 1
    assert parse_config("[session]\nkeepalive_ms = 1000\n").session.max_open_orders == 100_000
    explicit = parse_config("[engine]\nmax_orders = 50\n[session]\nmax_open_orders = 50\n")
    assert explicit.session.max_open_orders == 50  # all of it, when set so


def test_max_open_orders_above_the_engines_order_table_is_refused_naming_the_key():
    with pytest.raises(ConfigError) as info:
        parse_config("[engine]\nmax_orders = 50\n[session]\nmax_open_orders = 51\n")
    message = str(info.value)
    assert message.startswith("session.max_open_orders: expected at most engine.max_orders (50), got 51")
    assert "\n" not in message
    with pytest.raises(ConfigError, match="^session.max_open_orders"):
        parse_config("[session]\nmax_open_orders = 1000001\n")


def test_decimal_prices_convert_exactly_and_band_rounds_inward_to_tick():
    config = parse_config(
        "[[instruments]]\nsecurity_id = 7\nsymbol = 'X'\ntick = '0.05'\n"
        "reference_price = '10.10'\nband = '0.033'\nmax_qty = 5\n"
    )
    inst = instruments_of(config)[7]
    assert inst.tick == 50_000_000
    assert inst.reference_price == 10_100_000_000
    # 10.10 * 0.967 = 9.7667 -> up to 9.80; 10.10 * 1.033 = 10.4333 -> down to 10.40
    assert (inst.min_price, inst.max_price) == (9_800_000_000, 10_400_000_000)
    assert inst.engine_arg() == "7:50000000:9800000000:10400000000:5"


def _instrument(**overrides):
    fields = {"security_id": 1, "symbol": "'A'", "tick": "'0.01'", "reference_price": "'100'",
              "band": "'0.1'", "max_qty": 10}
    fields.update(overrides)
    return "[[instruments]]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items())


def test_float_tick_names_the_key_path():
    text = _instrument() + _instrument(security_id=2, tick="0.01")
    with pytest.raises(ConfigError, match=r"^instruments\[1\]\.tick: expected a decimal string"):
        parse_config(text)


def test_unparsable_decimal_names_the_key_path():
    with pytest.raises(ConfigError, match=r"^instruments\[0\]\.reference_price: expected a decimal"):
        parse_config(_instrument(reference_price="'abc'"))


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"^udp\.prot: unknown key"):
        parse_config("[udp]\nprot = 9000\n")


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"^session\.keepalive_ms: expected `int`, got `str`"):
        parse_config("[session]\nkeepalive_ms = 'x'\n")


def test_bad_enum_value_is_named():
    with pytest.raises(ConfigError, match=r"^journal\.durability: "):
        parse_config("[journal]\ndurability = 'sometimes'\n")


def test_reference_price_off_tick_is_rejected():
    with pytest.raises(ConfigError, match=r"^instruments\[0\]\.reference_price: "):
        parse_config(_instrument(reference_price="'100.005'"))


def test_capacity_must_be_power_of_two():
    with pytest.raises(ConfigError, match=r"^engine\.inbound_capacity: "):
        parse_config("[engine]\ninbound_capacity = 1000\n")


@pytest.mark.parametrize("value", ["'some'", "[]", "[-1]", "[4294967296]", "5"])
def test_bad_drop_copy_is_named(value):
    text = f"[[keys]]\nkey_id='a'\nsecret='s'\naccount=1\ndrop_copy={value}\n"
    with pytest.raises(ConfigError, match=r"^keys\[0\]\.drop_copy: expected"):
        parse_config(text)


def test_drop_copy_accounts():
    text = "[[keys]]\nkey_id='a'\nsecret='s'\naccount=9\ndrop_copy=[1, 2]\n" \
           "[[keys]]\nkey_id='b'\nsecret='t'\naccount=9\ndrop_copy='all'\n"
    some, every = parse_config(text + _instrument()).keys
    assert [some.copies_account(a) for a in (1, 2, 3)] == [True, True, False]
    assert every.copies_account(3) and not load_config(None).keys[0].copies_account(1)


def test_duplicate_key_ids_are_rejected():
    text = "[[keys]]\nkey_id='a'\nsecret='s'\naccount=1\n[[keys]]\nkey_id='a'\nsecret='t'\naccount=2\n"
    with pytest.raises(ConfigError, match=r"^keys\[1\]\.key_id: duplicate"):
        parse_config(text)


def test_toml_syntax_error_is_a_config_error():
    with pytest.raises(ConfigError):
        parse_config("[udp\n")


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.toml")


def test_config_error_is_a_udprouter_error():
    assert issubclass(ConfigError, UdprouterError)


def test_missing_engine_binary_names_path_and_make_target(tmp_path, monkeypatch):
    missing = tmp_path / "nope" / "udprouter-engine"
    monkeypatch.setenv(ENGINE_BIN_ENV, str(missing))
    with pytest.raises(ConfigError) as info:
        resolve_engine_binary(load_config(None))
    assert str(missing) in str(info.value)
    assert "make engine" in str(info.value)


def test_engine_binary_from_env_is_used(tmp_path, monkeypatch):
    binary = tmp_path / "engine"
    binary.write_text("#!/bin/sh\n")
    os.chmod(binary, 0o755)
    monkeypatch.setenv(ENGINE_BIN_ENV, str(binary))
    assert resolve_engine_binary(load_config(None)) == Path(binary)
