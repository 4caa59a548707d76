"""cffi build script (API mode): compiles udprouter._ring_cffi at install time.

The struct layouts come from engine/include/udprouter/engine/ring_abi.h, whose cffi-cdef section is
fed to cdef() verbatim: that header is the single source of truth for the ring ABI.
"""

from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parents[2]
ENGINE_INCLUDE = ROOT / "engine" / "include"
RING_ABI_H = ENGINE_INCLUDE / "udprouter" / "engine" / "ring_abi.h"


def cdef_section(header: Path) -> str:
    text = header.read_text()
    start = text.index("/* cffi-cdef-begin */") + len("/* cffi-cdef-begin */")
    end = text.index("/* cffi-cdef-end */")
    return text[start:end]


ffibuilder = FFI()
ffibuilder.cdef(cdef_section(RING_ABI_H))
ffibuilder.set_source(
    "udprouter._ring_cffi",
    '#include "udprouter/engine/ring_abi.h"\n',
    include_dirs=[str(ENGINE_INCLUDE)],
    extra_compile_args=["-O2", "-std=gnu11"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
