"""SentFrames: a session's sequenced frames, the newest `capacity` of them, kept for retransmission.

Frames are kept in the blocks they were handed over in: a flush's frames, or a pass's replies built
in C (one bytes object holding the session's frames back to back, and their end offsets). Keeping a
block costs one append per session and pass, not one object per frame; at 20 orders a datagram that
per-frame work was about a sixth of the router's CPU. A frame is cut out of its block only when it
is asked for: a RetransmitRequest, a router log roll carrying a session's frames forward, or the
router log's image at open.

A block is a tuple of bytes and ints only: the collector stops tracking such a tuple the first time
it sees it. A block object of a class of our own stays tracked, and with hundreds of thousands kept
(65,536 frames a session) each full collection walked them all: 45 ms for 300,000, a stall in the
loop (README "The kept frames, one block per pass").
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

# A block, flat so that one collection untracks it: (count, frame, frame, ...), or (count, base,
# data, ends) with the frames back to back in data and ends their end offsets as native uint32s
# counted from base (data[0]'s offset in the buffer the frames were cut from).
Block = tuple


def block_frames(block: Block, start: int, stop: int) -> list[bytes]:
    """Frames start .. stop - 1 of a block."""
    if type(block[1]) is not int:
        return list(block[1 + start:1 + stop])
    _, base, data, ends = block
    ends = memoryview(ends).cast("I")
    begin = ends[start - 1] - base if start else 0
    out = []
    for k in range(start, stop):
        end = ends[k] - base
        out.append(data[begin:end])
        begin = end
    return out


class SentFrames:
    """The newest `capacity` frames sequenced, oldest first (capacity 0 keeps none). kept: how many
    it holds (read it, never set it)."""

    __slots__ = ("capacity", "kept", "_blocks", "_skip")

    def __init__(self, capacity: int, frames: Sequence[bytes] = ()) -> None:
        self.capacity = capacity
        self.kept = 0  # frames kept, over all blocks
        self._blocks: deque[Block] = deque()
        self._skip = 0  # leading frames of _blocks[0] dropped already
        self.extend(frames)

    def __len__(self) -> int:
        return self.kept

    def extend(self, frames: Sequence[bytes]) -> None:
        """The next frames sequenced (copied into the block: the caller may reuse its list)."""
        n = len(frames)
        if n:
            self._append((n, *frames), n)

    def extend_packed(self, data: bytes, ends: bytes | None, base: int, n: int) -> None:
        """The next n frames sequenced, back to back in data; ends: their end offsets (native
        uint32s) in the buffer data was cut from at offset base (None when n is 1: data is the
        frame)."""
        if n:
            self._append((1, data) if n == 1 else (n, base, data, ends), n)

    def _append(self, block: Block, n: int) -> None:
        if self.capacity > 0:
            self._blocks.append(block)
            self.kept += n
            if self.kept > self.capacity:
                self._drop()

    def _drop(self) -> None:
        """The oldest frames beyond capacity go (whole blocks, or the head of the oldest one)."""
        blocks, skip = self._blocks, self._skip + self.kept - self.capacity
        self.kept = self.capacity
        while skip >= blocks[0][0]:
            skip -= blocks.popleft()[0]
        self._skip = skip

    def frames(self, start: int = 0, count: int | None = None) -> list[bytes]:
        """count kept frames (all to the newest: None) from position start (0: the oldest kept)."""
        stop = self.kept if count is None else min(self.kept, start + count)
        out: list[bytes] = []
        at = start + self._skip  # position in the blocks, dropped frames included
        for block in self._blocks:
            n = block[0]
            if at < n:
                out += block_frames(block, at, min(n, at + stop - start - len(out)))
                if len(out) >= stop - start:
                    break
                at = 0
            else:
                at -= n
        return out
