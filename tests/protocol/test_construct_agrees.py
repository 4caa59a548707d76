"""The generated construct definitions parse and build every vector exactly as the msgspec codec."""

import json

import pytest

from tools.gen.schema import load_schemas
from tools.gen.vectors import VECTORS_DIR, message_to_json
from udprouter import codec
from udprouter._generated import construct_defs

MESSAGE_DEFS = [md for s in load_schemas() for md in s.messages]


def construct_values(md, body) -> list:
    values = []
    for f in md.fields:
        value = body[f.py_name]
        if f.enum is not None:
            null = f.optional and int(value) == f.null_value  # an optional enum left null
            value = None if null else (int(value), str(value))
        elif f.optional and value == f.null_value:
            value = None
            value = None
        values.append(value)
    return values + [body[v.py_name] for v in md.var_data]


@pytest.mark.parametrize("md", MESSAGE_DEFS, ids=lambda md: md.name)
def test_construct_parses_vector_to_codec_values(md):
    data = (VECTORS_DIR / f"{md.name}.bin").read_bytes()
    frame = construct_defs.Frame.parse(data)
    msg = codec.decode_message(data)
    assert frame.sofh.message_length == len(data)
    assert frame.header.template_id == md.template_id
    assert construct_values(md, frame.body) == [(int(v), v.name) if hasattr(v, "name") else v
                                                for v in (getattr(msg, n) for n in msg.__struct_fields__)]


@pytest.mark.parametrize("md", MESSAGE_DEFS, ids=lambda md: md.name)
def test_construct_builds_vector_bytes_from_parsed_frame(md):
    data = (VECTORS_DIR / f"{md.name}.bin").read_bytes()
    assert construct_defs.Frame.build(construct_defs.Frame.parse(data)) == data


def test_construct_datagram_parses_x20_vector_like_codec():
    data = (VECTORS_DIR / "datagram_sequence_nos_x20.bin").read_bytes()
    expected = json.loads((VECTORS_DIR / "datagram_sequence_nos_x20.json").read_text())
    frames = construct_defs.Datagram.parse(data)
    assert len(frames) == len(expected["messages"]) == 21
    decoded = codec.decode_datagram(data)
    assert [f.body.cl_ord_id for f in frames[1:]] == [m.cl_ord_id for m in decoded[1:]]
    assert [message_to_json(m) for m in decoded] == expected["messages"]
