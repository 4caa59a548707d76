"""DatagramPacker: a session's frames into Sequence-led datagrams, packed in C (fast_pack.h).

The frames cross into C as one b"".join (C reads each one's length from its SOFH; a DropCopy frame
and the report after it are one message); the datagrams come back as slices of one reused buffer.
Same output as server_session.pack_datagrams_reference (a unit test compares them), a fraction of
its cost per frame: the report path packs every report this way.
"""

from __future__ import annotations

from udprouter._generated.messages import MAX_DATAGRAM_SIZE, MAX_MESSAGES_PER_DATAGRAM
from udprouter._ring_cffi import ffi, lib

SEQUENCE_FRAME_SIZE = lib.UDR_FP_SEQUENCE_FRAME_SIZE


class DatagramPacker:
    def __init__(self, max_bytes: int = MAX_DATAGRAM_SIZE, max_messages: int = MAX_MESSAGES_PER_DATAGRAM,
                 frames: int = 4096, out_bytes: int = 1 << 20) -> None:
        self.max_bytes, self.max_messages = max_bytes, max_messages
        self._frames_cap = frames
        self._ends = ffi.new("uint32_t[]", frames)
        self._messages = ffi.new("uint32_t *")
        self._grow(out_bytes)

    def _grow(self, out_bytes: int) -> None:
        self._out_cap = out_bytes
        self._out = ffi.new("unsigned char[]", out_bytes)
        self._view = ffi.buffer(self._out)

    def pack(self, frames: list[bytes], first_seq: int) -> list[bytes] | None:
        """Frames numbered from first_seq -> datagrams of at most max_bytes and max_messages, each
        starting with a Sequence naming its first frame's number. None when an element is not one
        whole frame (or a DropCopy frame and its report): the caller packs those another way."""
        n = len(frames)
        if n == 0:
            return []
        blob = b"".join(frames)  # one bytes frame: join returns it, no copy
        need = len(blob) + n * SEQUENCE_FRAME_SIZE  # at worst one Sequence per frame
        if n > self._frames_cap or need > self._out_cap:
            self._frames_cap = max(n, self._frames_cap)
            self._ends = ffi.new("uint32_t[]", self._frames_cap)
            self._grow(max(need, 2 * self._out_cap))
        count = lib.udr_fp_pack_datagrams(blob, len(blob), first_seq, self.max_bytes, self.max_messages,
                                          self._out, self._ends, self._messages)
        if self._messages[0] != n:
            return None
        if count == 1:
            return [self._view[0:self._ends[0]]]
        view, start, out = self._view, 0, []
        for end in ffi.unpack(self._ends, count):
            out.append(view[start:end])
            start = end
        return out
