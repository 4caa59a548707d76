"""Write every file generated from the SBE schemas (see tools/gen/__init__.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from tools.gen.emit_c_descriptors import OUTPUT as C_DESCRIPTORS
from tools.gen.emit_c_descriptors import render_c_descriptors
from tools.gen.emit_c_header import render_c_header
from tools.gen.emit_construct import render_construct_defs
from tools.gen.emit_python import HEADER, render_messages
from tools.gen.emit_spec import render_spec
from tools.gen.schema import ROOT, load_schemas

GENERATED_INIT = HEADER + '"""Generated from the SBE schemas in protocol/; see tools/gen."""\n'


def render(schemas=None) -> dict[str, str]:
    """Every generated file: {repo-relative path: text}."""
    schemas = load_schemas() if schemas is None else schemas
    return {
        "src/udprouter/_generated/__init__.py": GENERATED_INIT,
        "src/udprouter/_generated/messages.py": render_messages(schemas),
        "src/udprouter/_generated/construct_defs.py": render_construct_defs(schemas),
        "engine/include/udprouter/generated/sbe_messages.h": render_c_header(schemas),
        C_DESCRIPTORS: render_c_descriptors(schemas),
        "protocol/SPEC.md": render_spec(schemas),
    }


def stale_files(files: dict[str, str], root: Path = ROOT) -> list[str]:
    return [path for path, text in files.items()
            if not (root / path).exists() or (root / path).read_text() != text]


def write_files(files: dict[str, str], root: Path = ROOT) -> None:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    files = render()
    if "--check" in argv:
        stale = stale_files(files)
        for path in stale:
            print(f"stale: {path} (run python -m tools.gen)")
        return 1 if stale else 0
    write_files(files)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
