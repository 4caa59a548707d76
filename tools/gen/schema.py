"""Read an SBE 1.0 message schema (protocol/*.xml) into plain definitions the emitters share.

Only what udprouter's schemas use is supported: primitive types (optionally fixed-length uint8
arrays), enums, single-value composites with constant members (PRICE9), optional fields with the
SBE null value, and var data composites (uint16 length + uint8/char data). Anything else is a
SchemaError, so a schema edit the generators cannot express fails loudly at generation time.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATHS = (ROOT / "protocol" / "fixp_session.xml", ROOT / "protocol" / "orders.xml")

# primitive -> (struct format char, size, C type, SBE null value for optional presence)
PRIMITIVES: dict[str, tuple[str, int, str, int]] = {
    "char": ("B", 1, "char", 0),
    "int8": ("b", 1, "int8_t", -(2**7)),
    "uint8": ("B", 1, "uint8_t", 2**8 - 1),
    "int16": ("h", 2, "int16_t", -(2**15)),
    "uint16": ("H", 2, "uint16_t", 2**16 - 1),
    "int32": ("i", 4, "int32_t", -(2**31)),
    "uint32": ("I", 4, "uint32_t", 2**32 - 1),
    "int64": ("q", 8, "int64_t", -(2**63)),
    "uint64": ("Q", 8, "uint64_t", 2**64 - 1),
}
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\d|$)|[A-Z]?[a-z]+|\d+")


class SchemaError(Exception):
    """The schema uses a construct the generators do not support, or is inconsistent."""


def snake_case(name: str) -> str:
    """ClOrdID -> cl_ord_id, RefTemplateID -> ref_template_id, SessionId -> session_id."""
    return "_".join(word.lower() for word in _WORDS.findall(name))


def upper_snake(name: str) -> str:
    return snake_case(name).upper()


@dataclass(frozen=True)
class EnumValue:
    name: str
    value: int
    description: str


@dataclass(frozen=True)
class EnumDef:
    name: str
    primitive: str
    values: tuple[EnumValue, ...]
    description: str


@dataclass(frozen=True)
class FieldDef:
    """One fixed-size field of a message block."""

    name: str             # schema name (ClOrdID)
    py_name: str          # snake_case (cl_ord_id)
    field_id: int
    type_name: str        # schema type (ClOrdID, PRICE9, Side, UUID)
    primitive: str        # encoding primitive (uint64, int64, uint8)
    length: int           # array length; 1 for scalars
    offset: int
    optional: bool
    enum: EnumDef | None
    constants: tuple[tuple[str, str, int], ...]  # constant composite members: (name, primitive, value)
    value_member: str     # composite member carrying the value (mantissa), "" for simple types
    description: str

    @property
    def size(self) -> int:
        return PRIMITIVES[self.primitive][1] * self.length

    @property
    def fmt(self) -> str:
        return f"{self.length}s" if self.length > 1 else PRIMITIVES[self.primitive][0]

    @property
    def null_value(self) -> int:
        return PRIMITIVES[self.primitive][3]

    @property
    def is_bytes(self) -> bool:
        return self.length > 1


@dataclass(frozen=True)
class VarDataDef:
    name: str
    py_name: str
    field_id: int
    type_name: str
    is_string: bool       # char data -> str (UTF-8); uint8 data -> bytes
    description: str


@dataclass(frozen=True)
class MessageDef:
    name: str
    template_id: int
    description: str
    fields: tuple[FieldDef, ...]
    var_data: tuple[VarDataDef, ...]
    schema_id: int
    version: int
    package: str

    @property
    def block_length(self) -> int:
        return sum(f.size for f in self.fields)

    @property
    def struct_format(self) -> str:
        return "<" + "".join(f.fmt for f in self.fields)


@dataclass(frozen=True)
class SchemaDef:
    package: str
    schema_id: int
    version: int
    source: str           # repo-relative path of the XML
    enums: tuple[EnumDef, ...]
    messages: tuple[MessageDef, ...]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(node: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in node if _local(child.tag) == name]


def _parse_enum(node: ET.Element) -> EnumDef:
    values = tuple(EnumValue(v.get("name"), int(v.text.strip()), v.get("description", ""))
                   for v in _children(node, "validValue"))
    primitive = node.get("encodingType")
    if primitive not in PRIMITIVES:
        raise SchemaError(f"enum {node.get('name')}: encodingType {primitive} not supported")
    return EnumDef(node.get("name"), primitive, values, node.get("description", ""))


class _Types:
    """The <types> section: simple types, composites and enums by name."""

    def __init__(self, types_node: ET.Element) -> None:
        self.simple: dict[str, ET.Element] = {}
        self.composites: dict[str, ET.Element] = {}
        self.enums: dict[str, EnumDef] = {}
        for node in types_node:
            kind, name = _local(node.tag), node.get("name")
            if kind == "type":
                self.simple[name] = node
            elif kind == "composite":
                self.composites[name] = node
            elif kind == "enum":
                self.enums[name] = _parse_enum(node)
            else:
                raise SchemaError(f"type kind {kind} ({name}) not supported")

    def field(self, node: ET.Element, offset: int) -> FieldDef:
        name, type_name = node.get("name"), node.get("type")
        common = dict(name=name, py_name=snake_case(name), field_id=int(node.get("id")),
                      type_name=type_name, offset=offset,
                      optional=node.get("presence") == "optional",
                      description=node.get("description", ""))
        if type_name in self.enums:
            enum = self.enums[type_name]
            return FieldDef(primitive=enum.primitive, length=1, enum=enum, constants=(),
                            value_member="", **common)
        if type_name in self.simple:
            simple = self.simple[type_name]
            length = int(simple.get("length", "1"))
            primitive = simple.get("primitiveType")
            if length > 1 and primitive != "uint8":
                raise SchemaError(f"{name}: arrays of {primitive} not supported")
            return FieldDef(primitive=primitive, length=length, enum=None, constants=(),
                            value_member="", **common)
        if type_name in self.composites:
            return self._composite_field(self.composites[type_name], common)
        raise SchemaError(f"{name}: unknown type {type_name}")

    def _composite_field(self, composite: ET.Element, common: dict) -> FieldDef:
        variable = [m for m in composite if m.get("presence") != "constant"]
        constants = tuple((m.get("name"), m.get("primitiveType"), int(m.text.strip()))
                          for m in composite if m.get("presence") == "constant")
        if len(variable) != 1 or _local(variable[0].tag) != "type":
            raise SchemaError(f"{common['name']}: only single-value composites are supported")
        member = variable[0]
        return FieldDef(primitive=member.get("primitiveType"), length=1, enum=None,
                        constants=constants, value_member=member.get("name"), **common)

    def var_data(self, node: ET.Element) -> VarDataDef:
        name, type_name = node.get("name"), node.get("type")
        composite = self.composites.get(type_name)
        members = {m.get("name"): m for m in composite} if composite is not None else {}
        if set(members) != {"length", "varData"} or members["length"].get("primitiveType") != "uint16":
            raise SchemaError(f"{name}: var data must be a uint16 length + varData composite")
        return VarDataDef(name, snake_case(name), int(node.get("id")), type_name,
                          members["varData"].get("primitiveType") == "char", node.get("description", ""))


def _parse_message(node: ET.Element, types: _Types, schema: ET.Element) -> MessageDef:
    fields: list[FieldDef] = []
    var_data: list[VarDataDef] = []
    offset = 0
    for child in node:
        kind = _local(child.tag)
        if kind == "field":
            if var_data:
                raise SchemaError(f"{node.get('name')}: field {child.get('name')} after var data")
            declared = child.get("offset")
            if declared is not None and int(declared) != offset:
                raise SchemaError(f"{node.get('name')}.{child.get('name')}: declared offset {declared}, "
                                  f"computed {offset} (gaps are not allowed)")
            fields.append(types.field(child, offset))
            offset += fields[-1].size
        elif kind == "data":
            var_data.append(types.var_data(child))
        else:
            raise SchemaError(f"{node.get('name')}: <{kind}> not supported")
    return MessageDef(node.get("name"), int(node.get("id")), node.get("description", ""),
                      tuple(fields), tuple(var_data), int(schema.get("id")),
                      int(schema.get("version", "0")), schema.get("package"))


def parse_schema(path: Path) -> SchemaDef:
    root = ET.parse(path).getroot()
    if root.get("byteOrder", "littleEndian") != "littleEndian":
        raise SchemaError(f"{path.name}: only littleEndian schemas are supported")
    types = _Types(_children(root, "types")[0])
    messages = tuple(_parse_message(m, types, root) for m in _children(root, "message"))
    ids = [m.template_id for m in messages]
    if len(set(ids)) != len(ids):
        raise SchemaError(f"{path.name}: duplicate template ids")
    return SchemaDef(root.get("package"), int(root.get("id")), int(root.get("version", "0")),
                     path.relative_to(ROOT).as_posix(), tuple(types.enums.values()), messages)


def load_schemas(paths: tuple[Path, ...] = SCHEMA_PATHS) -> tuple[SchemaDef, ...]:
    """Both schemas, checked for names that would collide in the generated modules."""
    schemas = tuple(parse_schema(p) for p in paths)
    names = [e.name for s in schemas for e in s.enums] + [m.name for s in schemas for m in s.messages]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SchemaError(f"names defined twice across schemas: {duplicates}")
    return schemas
