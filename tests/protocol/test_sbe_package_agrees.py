"""An independent SBE decoder (the PyPI package `sbe`) reads every application vector the same way."""

import json

import pytest
import sbe

from tools.gen.schema import ROOT, load_schemas
from tools.gen.vectors import VECTORS_DIR

ORDERS_XML = ROOT / "protocol" / "orders.xml"
APP_MESSAGES = [md for s in load_schemas() if s.package == "udprouter" for md in s.messages]


@pytest.fixture(scope="module")
def schema():
    with open(ORDERS_XML) as xml:
        return sbe.Schema.parse(xml)


def expected_value(field_def, json_value):
    if field_def.enum is not None:
        return None if json_value is None else json_value["name"]
    if field_def.value_member:
        return {field_def.value_member: json_value}
    return json_value


@pytest.mark.parametrize("md", APP_MESSAGES, ids=lambda md: md.name)
def test_sbe_package_decodes_application_vector_to_same_fields(schema, md):
    data = (VECTORS_DIR / f"{md.name}.bin").read_bytes()
    expected = json.loads((VECTORS_DIR / f"{md.name}.json").read_text())
    decoded = schema.decode(data[6:])  # the sbe package reads from the message header on
    assert decoded.message_name == md.name
    assert decoded.header["blockLength"] == md.block_length
    assert decoded.header["templateId"] == md.template_id
    assert decoded.value == {f.name: expected_value(f, expected["fields"][f.name]) for f in md.fields}
