"""DropCopier: a trading session's execution reports as drop copies (SPEC.md 4.12), made in C
(drop_copy.h).

The frames cross into C as one b"".join; the copies (each a DropCopy frame and the report, one
message) come back as slices of one reused buffer. copies_reference is the same in Python: the
specification the C code is tested against, and the way for frames that are not whole frames.
"""

from __future__ import annotations

import struct

from udprouter._generated.messages import DropCopy
from udprouter._ring_cffi import ffi, lib
from udprouter.codec import encode_message

MARK_SIZE = lib.UDR_DC_MARK_SIZE
# The frames copied: ExecutionReport* and OrderCancelReject of the application schema (templateId
# and schemaId at frame bytes 8..11).
COPIED_HEADERS = frozenset(struct.pack("<HH", template, 101) for template in range(201, 207))


def copies_reference(frames: list[bytes], session_number: int, account: int) -> list[bytes]:
    mark = encode_message(DropCopy(session_number, account))
    return [mark + frame for frame in frames if frame[8:12] in COPIED_HEADERS]


class DropCopier:
    def __init__(self, frames: int = 4096, out_bytes: int = 1 << 20) -> None:
        self._grow(frames, out_bytes)
        self._walked = ffi.new("size_t *")

    def _grow(self, frames: int, out_bytes: int) -> None:
        self._frames_cap, self._out_cap = frames, out_bytes
        self._ends = ffi.new("uint32_t[]", frames)
        self._out = ffi.new("unsigned char[]", out_bytes)
        self._view = ffi.buffer(self._out)

    def copies(self, frames: list[bytes], session_number: int, account: int) -> list[bytes]:
        """The copies of the reports among frames (one SOFH frame each), in their order."""
        n = len(frames)
        blob = b"".join(frames)
        need = len(blob) + n * MARK_SIZE
        if n > self._frames_cap or need > self._out_cap:
            self._grow(max(n, self._frames_cap), max(need, 2 * self._out_cap))
        count = lib.udr_dc_copy_reports(blob, len(blob), session_number, account, self._out, self._ends,
                                        self._walked)
        if self._walked[0] != len(blob):
            return copies_reference(frames, session_number, account)
        view, start, out = self._view, 0, []
        for end in ffi.unpack(self._ends, count):
            out.append(view[start:end])
            start = end
        return out
