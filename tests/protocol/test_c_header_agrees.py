"""The generated C header compiles as C and C++, and reads every vector to the codec's values."""

import shutil
import subprocess
from pathlib import Path

import pytest

from tools.gen.schema import ROOT, load_schemas, upper_snake
from tools.gen.vectors import VECTORS_DIR
from udprouter import codec

INCLUDE = ROOT / "engine" / "include"
MESSAGE_DEFS = [md for s in load_schemas() for md in s.messages]
PRINTF = {"int8": "%d", "uint8": "%u", "int16": "%d", "uint16": "%u", "int32": "%d", "uint32": "%u",
          "int64": "%lld", "uint64": "%llu", "char": "%u"}
CAST = {"int64": "(long long)", "uint64": "(unsigned long long)"}

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("g++") is None,
                                reason="needs gcc and g++")


def print_fields(md) -> str:
    """C statements printing each field of `msg` (a pointer to the packed struct) as name=value."""
    lines = []
    for f in md.fields:
        if f.is_bytes:
            lines.append(f'printf("{f.py_name}="); for (int i = 0; i < {f.length}; i++) '
                         f'printf("%02x", msg->{f.py_name}[i]); printf("\\n");')
        else:
            lines.append(f'printf("{f.py_name}={PRINTF[f.primitive]}\\n", '
                         f'{CAST.get(f.primitive, "")}msg->{f.py_name});')
    return "\n        ".join(lines)


def c_program() -> str:
    cases = []
    for md in MESSAGE_DEFS:
        key = upper_snake(md.name)
        name = f"udr_sbe_{key.lower()}"
        cases.append(f"""    if (tid == UDR_SBE_{key}_TEMPLATE_ID && sid == UDR_SBE_{key}_SCHEMA_ID) {{
        const {name} *msg = (const {name} *)(buf + UDR_SBE_FRAME_PREFIX_SIZE);
        {print_fields(md)}
        return 0;
    }}""")
    return """#include <stdio.h>
#include <string.h>
#include "udprouter/generated/sbe_messages.h"
int main(int argc, char **argv) {
    static unsigned char buf[2048];
    if (argc < 2) return 2;
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 2;
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (n < UDR_SBE_FRAME_PREFIX_SIZE) return 3;
    udr_sbe_message_header h;
    memcpy(&h, buf + UDR_SBE_SOFH_SIZE, sizeof h);
    unsigned tid = h.template_id, sid = h.schema_id;
""" + "\n".join(cases) + "\n    return 4;\n}\n"


@pytest.fixture(scope="module")
def reader(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("c_header")
    source = work / "read_vector.c"
    source.write_text(c_program())
    binary = work / "read_vector"
    subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", f"-I{INCLUDE}",
                    str(source), "-o", str(binary)], check=True, timeout=60)
    return binary


def test_header_compiles_as_cpp20_with_warnings_as_errors(tmp_path):
    source = tmp_path / "check.cpp"
    source.write_text('#include "udprouter/generated/sbe_messages.h"\nint main() { return 0; }\n')
    subprocess.run(["g++", "-std=c++20", "-Wall", "-Wextra", "-Werror", "-pedantic", f"-I{INCLUDE}",
                    "-fsyntax-only", str(source)], check=True, timeout=60)


@pytest.mark.parametrize("md", MESSAGE_DEFS, ids=lambda md: md.name)
def test_c_struct_reads_vector_block_like_the_codec(reader, md):
    path = VECTORS_DIR / f"{md.name}.bin"
    out = subprocess.run([str(reader), str(path)], check=True, capture_output=True, text=True, timeout=10)
    msg = codec.decode_message(path.read_bytes())
    expected = []
    for f in md.fields:
        value = getattr(msg, f.py_name)
        if value is None:
            value = f.null_value
        expected.append(f"{f.py_name}={value.hex() if isinstance(value, bytes) else int(value)}")
    assert out.stdout.splitlines() == expected
