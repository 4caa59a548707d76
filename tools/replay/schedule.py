"""The replay schedule: when packet i is meant to be sent, in ns from the start, like tcpreplay.

A pure function of the recorded timestamps and the timing options, so tests check it exactly and
the sender only has to follow it (and measures latency from these intended times, which is what
corrects for coordinated omission).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

NS_PER_S = 1_000_000_000
# --speed is applied as an exact ratio of integers with this many steps per 1.0.
SPEED_SCALE = 1_000_000


@dataclass(frozen=True)
class Timing:
    """Timing options; at most one of speed != 1, pps, topspeed is meant to be set (the CLI checks)."""

    speed: float = 1.0  # multiplier on the original inter-packet timing
    pps: float | None = None  # fixed rate, packets per second
    topspeed: bool = False  # everything at time 0: as fast as the sender can
    loop: int = 1  # passes over the capture, laid end to end
    limit: int | None = None  # at most this many packets in all
    duration_s: float | None = None  # nothing scheduled at or after this many seconds

    def describe(self) -> str:
        if self.topspeed:
            mode = "topspeed"
        elif self.pps is not None:
            mode = f"{self.pps:g} pps"
        else:
            mode = f"original timing x{self.speed:g}"
        return mode + (f", {self.loop} loops" if self.loop != 1 else "")


@dataclass(frozen=True, slots=True)
class ScheduledSend:
    packet: int  # index into the recorded packets
    loop: int  # 0-based pass over the capture
    at_ns: int  # intended send time, ns after the replay starts


def _original_offsets(timestamps_ns: Sequence[int]) -> list[int]:
    """Offsets from the first packet; a timestamp that goes backwards counts as no gap (as tcpreplay)."""
    offsets, latest = [], timestamps_ns[0]
    for ts in timestamps_ns:
        latest = max(latest, ts)
        offsets.append(latest - timestamps_ns[0])
    return offsets


def _one_pass(timestamps_ns: Sequence[int], timing: Timing) -> tuple[list[int], int]:
    """Offsets within one pass and the length of a pass (where the next pass starts)."""
    n = len(timestamps_ns)
    if timing.topspeed:
        return [0] * n, 0
    if timing.pps is not None:
        # Continuous across passes: packet j of the whole run goes at j / pps.
        return [], 0
    offsets = _original_offsets(timestamps_ns)
    span = offsets[-1]
    # The next pass starts one mean gap after this one's last packet, so looping keeps the rate.
    period = span + (span // (n - 1) if n > 1 else 0)
    speed = round(timing.speed * SPEED_SCALE)
    return [o * SPEED_SCALE // speed for o in offsets], period * SPEED_SCALE // speed


def schedule(timestamps_ns: Sequence[int], timing: Timing) -> list[ScheduledSend]:
    """Intended send time of every packet of every pass, in order, after --limit and --duration."""
    if timing.speed <= 0 or (timing.pps is not None and timing.pps <= 0) or timing.loop < 1:
        raise ValueError("speed and pps must be positive and loop at least 1")
    n = len(timestamps_ns)
    if n == 0:
        return []
    offsets, period = _one_pass(timestamps_ns, timing)
    total = n * timing.loop
    if timing.limit is not None:
        total = min(total, timing.limit)
    deadline = None if timing.duration_s is None else round(timing.duration_s * NS_PER_S)
    sends = []
    for j in range(total):
        loop, packet = divmod(j, n)
        if timing.pps is not None:
            at = round(j * NS_PER_S / timing.pps)
        else:
            at = loop * period + offsets[packet]
        if deadline is not None and at >= deadline:
            break
        sends.append(ScheduledSend(packet, loop, at))
    return sends
