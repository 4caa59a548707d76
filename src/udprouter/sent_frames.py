"""SentFrames: a session's sequenced frames, the newest `capacity` of them, kept for retransmission.

Frames are kept in the blocks they were handed over in: a list of bytes (a flush's), or a
PackedFrames (a pass's replies built in C: one bytes object holding the session's frames back to
back, and their end offsets). Keeping a block costs one append per session and pass, not one
object per frame; at 20 orders a datagram that per-frame work was about a sixth of the router's
CPU. A frame is cut out of its block only when it is asked for: a RetransmitRequest, a router log
roll carrying a session's frames forward, or the router log's image at open.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence


class PackedFrames:
    """Frames back to back in data; ends: their end offsets as native uint32s, counted from base
    (data[0]'s offset in the buffer the frames were cut from)."""

    __slots__ = ("data", "ends", "base")

    def __init__(self, data: bytes, ends: bytes, base: int) -> None:
        self.data, self.ends, self.base = data, ends, base

    def __len__(self) -> int:
        return len(self.ends) >> 2

    def frames(self, start: int, stop: int) -> list[bytes]:
        """Frames start .. stop - 1 of the block, as bytes."""
        ends, base, data = memoryview(self.ends).cast("I"), self.base, self.data
        begin = ends[start - 1] - base if start else 0
        out = []
        for k in range(start, stop):
            end = ends[k] - base
            out.append(data[begin:end])
            begin = end
        return out


Block = list[bytes] | PackedFrames


class SentFrames:
    """The newest `capacity` frames sequenced, oldest first (capacity 0 keeps none)."""

    __slots__ = ("capacity", "_blocks", "_kept", "_skip")

    def __init__(self, capacity: int, frames: Sequence[bytes] = ()) -> None:
        self.capacity = capacity
        self._blocks: deque[Block] = deque()
        self._kept = 0  # frames kept, over all blocks
        self._skip = 0  # leading frames of _blocks[0] dropped already
        self.extend(list(frames))

    def __len__(self) -> int:
        return self._kept

    def extend(self, block: Block) -> None:
        """The next frames sequenced; the oldest beyond capacity are dropped. The block is kept as
        it is: the caller does not change it afterwards."""
        n = len(block)
        if n == 0 or self.capacity <= 0:
            return
        self._blocks.append(block)
        self._kept += n
        over = self._kept - self.capacity
        if over > 0:
            self._kept = self.capacity
            blocks, skip = self._blocks, self._skip + over
            while skip >= len(blocks[0]):
                skip -= len(blocks.popleft())
            self._skip = skip

    def frames(self, start: int = 0, count: int | None = None) -> list[bytes]:
        """count kept frames (all to the newest: None) from position start (0: the oldest kept)."""
        stop = self._kept if count is None else min(self._kept, start + count)
        out: list[bytes] = []
        at = start + self._skip  # position in the blocks, dropped frames included
        for block in self._blocks:
            n = len(block)
            if at < n:
                take = min(n, at + stop - start - len(out))
                out += block[at:take] if isinstance(block, list) else block.frames(at, take)
                if len(out) >= stop - start:
                    break
                at = 0
            else:
                at -= n
        return out
