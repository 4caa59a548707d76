"""Every golden vector decodes to its JSON and re-encodes to its exact bytes."""

import json

import pytest

from tools.gen.schema import load_schemas
from tools.gen.vectors import VECTORS_DIR, message_from_json, message_to_json
from udprouter import codec

MESSAGE_NAMES = [md.name for s in load_schemas() for md in s.messages]
DATAGRAMS = ["datagram_sequence_nos_x1", "datagram_sequence_nos_x20"]


def load(name: str) -> tuple[bytes, dict]:
    return (VECTORS_DIR / f"{name}.bin").read_bytes(), json.loads((VECTORS_DIR / f"{name}.json").read_text())


@pytest.mark.parametrize("name", MESSAGE_NAMES)
def test_message_vector_decodes_to_its_json(name):
    data, expected = load(name)
    msg = codec.decode_message(data)
    assert type(msg).__name__ == name
    assert message_to_json(msg) == expected


@pytest.mark.parametrize("name", MESSAGE_NAMES)
def test_message_vector_json_encodes_to_its_bytes(name):
    data, expected = load(name)
    assert codec.encode_message(message_from_json(expected)) == data


@pytest.mark.parametrize("name", MESSAGE_NAMES)
def test_message_vector_frame_header_matches_schema(name):
    data, expected = load(name)
    assert int.from_bytes(data[0:4], "big") == len(data)
    assert data[4:6] == b"\xeb\x50"
    header = [int.from_bytes(data[i:i + 2], "little") for i in (6, 8, 10, 12)]
    assert header == [expected["block_length"], expected["template_id"], expected["schema_id"],
                      expected["version"]]


@pytest.mark.parametrize("name", DATAGRAMS)
def test_datagram_vector_decodes_to_its_json_and_back(name):
    data, expected = load(name)
    entries = codec.decode_datagram(data)
    assert [message_to_json(e) for e in entries] == expected["messages"]
    assert codec.encode_datagram([message_from_json(j) for j in expected["messages"]]) == data


def test_datagram_x20_carries_sequence_then_twenty_orders_within_limits():
    data, expected = load("datagram_sequence_nos_x20")
    names = [j["message"] for j in expected["messages"]]
    assert names == ["Sequence"] + ["NewOrderSingle"] * 20
    assert len(data) <= codec.MAX_DATAGRAM_SIZE


def test_json_with_mismatched_enum_name_is_refused():
    _, expected = load("NewOrderSingle")
    expected["fields"]["Side"] = {"name": "Buy", "value": 2}
    with pytest.raises(ValueError, match="names another member"):
        message_from_json(expected)
