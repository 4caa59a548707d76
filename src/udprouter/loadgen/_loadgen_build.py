"""cffi build script (API mode): compiles udprouter.loadgen._loadgen_cffi at install time.

loadgen.h declares the C surface once: its cffi-cdef section goes to cdef() verbatim and the C
source includes the same header, so the two cannot drift.
"""

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
ROUTER_C = HERE.parent / "fastpath"  # datagram_mac.h: the router's own MAC code
HEADER = HERE / "loadgen.h"
SOURCE = HERE / "loadgen.c"


def cdef_section(header: Path) -> str:
    text = header.read_text()
    start = text.index("/* cffi-cdef-begin */") + len("/* cffi-cdef-begin */")
    return text[start : text.index("/* cffi-cdef-end */")]


ffibuilder = FFI()
ffibuilder.cdef(cdef_section(HEADER))
ffibuilder.set_source(
    "udprouter.loadgen._loadgen_cffi",
    SOURCE.read_text(),
    include_dirs=[str(HERE), str(ROUTER_C)],
    depends=[str(ROUTER_C / "datagram_mac.h"), str(HEADER), str(SOURCE)],
    extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wextra"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
