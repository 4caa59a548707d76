"""The replay schedule: when packet i is meant to be sent, in ns from the start, like tcpreplay.

A pure function of the recorded timestamps and the timing options, so tests check it exactly and
the sender only has to follow it (and measures latency from these intended times, which is what
corrects for coordinated omission).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

NS_PER_S = 1_000_000_000
# --speed is applied as an exact ratio of integers with this many steps per 1.0.
SPEED_SCALE = 1_000_000


@dataclass(frozen=True)
class Timing:
    """Timing options; at most one of speed != 1, pps, mbps, topspeed is meant to be set (the CLI checks)."""

    speed: float = 1.0  # multiplier on the original inter-packet timing
    pps: float | None = None  # fixed rate, packets per second
    topspeed: bool = False  # everything at time 0: as fast as the sender can
    loop: int = 1  # passes over the capture, laid end to end; 0 = forever (as tcpreplay -l 0)
    limit: int | None = None  # at most this many packets in all
    duration_s: float | None = None  # nothing scheduled at or after this many seconds
    mbps: float | None = None  # fixed rate in megabits per second of UDP payload

    @property
    def finite(self) -> bool:
        """False when only a signal ends the run (loop forever with no --limit or --duration)."""
        return self.loop != 0 or self.limit is not None or self.duration_s is not None

    def describe(self) -> str:
        if self.topspeed:
            mode = "topspeed"
        elif self.pps is not None:
            mode = f"{self.pps:g} pps"
        elif self.mbps is not None:
            mode = f"{self.mbps:g} Mbps"
        else:
            mode = f"original timing x{self.speed:g}"
        if self.loop == 0:
            return mode + ", loop forever"
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
    if timing.pps is not None or timing.mbps is not None:
        # Continuous across passes: packet j of the whole run goes at j / pps (or its bytes / mbps).
        return [], 0
    offsets = _original_offsets(timestamps_ns)
    span = offsets[-1]
    # The next pass starts one mean gap after this one's last packet, so looping keeps the rate.
    period = span + (span // (n - 1) if n > 1 else 0)
    speed = round(timing.speed * SPEED_SCALE)
    return [o * SPEED_SCALE // speed for o in offsets], period * SPEED_SCALE // speed


def iter_schedule(timestamps_ns: Sequence[int], timing: Timing,
                  sizes: Sequence[int] | None = None) -> Iterator[ScheduledSend]:
    """Intended send time of every packet of every pass, in order, after --limit and --duration.

    Endless when timing.loop is 0 and neither limit nor duration bounds it. sizes (bytes of each
    packet's UDP payload) are needed for --mbps: packet j goes when the bytes before it have had
    their time at that rate.
    """
    if (timing.speed <= 0 or (timing.pps is not None and timing.pps <= 0) or timing.loop < 0
            or (timing.mbps is not None and timing.mbps <= 0)):
        raise ValueError("speed, pps and mbps must be positive and loop at least 0")
    n = len(timestamps_ns)
    if n == 0:
        return
    if timing.mbps is not None and (sizes is None or len(sizes) != n):
        raise ValueError("--mbps needs the size of every packet")
    offsets, period = _one_pass(timestamps_ns, timing)
    total = None if timing.loop == 0 else n * timing.loop
    if timing.limit is not None:
        total = timing.limit if total is None else min(total, timing.limit)
    deadline = None if timing.duration_s is None else round(timing.duration_s * NS_PER_S)
    bits_before = 0
    for j in range(total) if total is not None else itertools.count():
        loop, packet = divmod(j, n)
        if timing.pps is not None:
            at = round(j * NS_PER_S / timing.pps)
        elif timing.mbps is not None:
            at = round(bits_before * 1000 / timing.mbps)  # bits / (Mbps * 1e6) s, in ns
            bits_before += 8 * sizes[packet]
        else:
            at = loop * period + offsets[packet]
        if deadline is not None and at >= deadline:
            return
        yield ScheduledSend(packet, loop, at)


def schedule(timestamps_ns: Sequence[int], timing: Timing,
             sizes: Sequence[int] | None = None) -> list[ScheduledSend]:
    """iter_schedule as a list; refuses a schedule that never ends."""
    if not timing.finite:
        raise ValueError("an endless schedule (loop 0 without limit or duration) has no list")
    return list(iter_schedule(timestamps_ns, timing, sizes))
