"""Emit src/udprouter/_generated/construct_defs.py: construct definitions of every frame.

For tools and files (captures, vectors, debugging), never for the hot path: construct parses a
frame in microseconds where the struct-based codec takes tens of nanoseconds.
"""

from __future__ import annotations

from tools.gen.emit_python import HEADER
from tools.gen.schema import FieldDef, MessageDef, SchemaDef

_CONSTRUCT_INT = {
    "char": "c.Int8ul", "int8": "c.Int8sl", "uint8": "c.Int8ul", "int16": "c.Int16sl",
    "uint16": "c.Int16ul", "int32": "c.Int32sl", "uint32": "c.Int32ul", "int64": "c.Int64sl",
    "uint64": "c.Int64ul",
}

PRELUDE = '''"""construct definitions of the SOFH, the SBE message header and every message.

Generated from {sources}. Field names are the schema's snake_case names (as in messages.py); enum
fields parse to construct EnumIntegerString values (the str name; int() gives the value). Not for the
hot path: use udprouter.codec there.
"""

import construct as c

SOFH = c.Struct(
    "message_length" / c.Int32ub,
    "encoding_type" / c.Const(0xEB50, c.Int16ub),
)

MessageHeader = c.Struct(
    "block_length" / c.Int16ul,
    "template_id" / c.Int16ul,
    "schema_id" / c.Int16ul,
    "version" / c.Int16ul,
)

VarBytes = c.Prefixed(c.Int16ul, c.GreedyBytes)
VarString = c.PascalString(c.Int16ul, "utf8")
'''


def _field_line(field: FieldDef) -> str:
    if field.is_bytes:
        body = f"c.Bytes({field.length})"
    elif field.enum is not None:
        members = ", ".join(f'("{v.name}", {v.value})' for v in field.enum.values)
        body = f"c.Enum({_CONSTRUCT_INT[field.primitive]}, **dict([{members}]))"
    else:
        body = _CONSTRUCT_INT[field.primitive]
    return f'    "{field.py_name}" / {body},  # {field.name} @{field.offset}'


def _message_def(msg: MessageDef) -> str:
    lines = [f"# {msg.name}: template {msg.template_id}, schema {msg.schema_id}, "
             f"block {msg.block_length} bytes", f"{msg.name} = c.Struct("]
    lines += [_field_line(f) for f in msg.fields]
    lines += [f'    "{v.py_name}" / {"VarString" if v.is_string else "VarBytes"},  # {v.name}'
              for v in msg.var_data]
    lines.append(")")
    return "\n".join(lines) + "\n"


def _tables(messages: list[MessageDef]) -> str:
    lines = ["# (schema id, template id) -> message body definition", "BODIES = {"]
    lines += [f"    ({m.schema_id}, {m.template_id}): {m.name}," for m in messages]
    lines += ["}", "BY_NAME = {", *[f'    "{m.name}": {m.name},' for m in messages], "}", "",
              "# One framed message: SOFH, header, body (blockLength is the known one).",
              "Frame = c.Struct(",
              '    "sofh" / SOFH,',
              '    "header" / MessageHeader,',
              '    "body" / c.Switch(lambda ctx: (ctx.header.schema_id, ctx.header.template_id), BODIES),',
              ")", "",
              "# A datagram: framed messages back to back.",
              "Datagram = c.GreedyRange(Frame)"]
    return "\n".join(lines) + "\n"


def render_construct_defs(schemas: tuple[SchemaDef, ...]) -> str:
    sources = ", ".join(s.source for s in schemas)
    messages = [m for s in schemas for m in s.messages]
    parts = [HEADER + PRELUDE.format(sources=sources)]
    parts += [_message_def(m) for m in messages]
    parts.append(_tables(messages))
    return "\n\n".join(parts)
