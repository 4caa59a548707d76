"""SupervisedRing: the router's ring segment, with what a restarted router needs on top of RingSegment.

  * reattach(): maps the segment a dead router left (same name, header matching this build) and
    gives it fresh eventfds (the old ones died with that router; the new engine inherits these).
  * published_command_seq(): the highest command_seq known to have reached the engine side (the
    inbound ring's last published record or the journal mark), so a router log record written
    ahead of an offer can be confirmed or rolled back.
  * prepare_replay(done_through): the outbound ring is emptied and events_through set to where the
    router log says event routing stood, so the new engine re-emits exactly the events whose
    reports the dead router never logged (its journal replay emits events after events_through).
  * before_offer: called with the batch's last command_seq before each offer (router log).
Only for a segment no engine is attached to (the supervisor waits for the old engine to exit).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

from udprouter._ring_cffi import ffi, lib
from udprouter.ring import ENGINE_ABSENT, ENGINE_STOPPED, RingAttachError, RingError, RingSegment


class SupervisedRing(RingSegment):
    before_offer: Callable[[int], None] | None = None

    @classmethod
    def reattach(cls, name: str) -> SupervisedRing | None:
        """The existing segment named name with new eventfds; None if there is none (a segment
        that does not match this build's ABI is unlinked so a new one can be created)."""
        try:
            ring = cls.attach(name)
        except RingAttachError:
            with contextlib.suppress(RingError):
                lib.udr_shm_unlink(("/" + name.lstrip("/")).encode())
            return None
        except RingError:
            return None
        fds = [lib.udr_eventfd_create(), lib.udr_eventfd_create()]
        if min(fds) < 0:
            for fd in fds:
                if fd >= 0:
                    os.close(fd)
            ring.close()
            raise RingError(f"cannot create eventfd: {os.strerror(-min(fds))}")
        ring.inbound_eventfd, ring.outbound_eventfd = fds
        ring._owner = True  # the eventfds are ours to close; the mapping is ours to unlink at stop
        return ring

    def offer_commands(self, array, n: int) -> int:
        hook = self.before_offer
        if hook is not None and n and hook(array[n - 1].command_seq) is False:
            return 0  # the write-ahead record is not in the log: the batch waits (OrderEntry.flush)
        return super().offer_commands(array, n)

    def published_command_seq(self) -> int:
        inbound = self._seg.inbound
        producer = inbound.counters.producer_position
        tail = 0
        if producer:
            slots = ffi.cast("udr_command *", inbound.slots)
            tail = slots[(producer - 1) & (inbound.capacity - 1)].command_seq
        return max(tail, self._header.journaled_through)

    def prepare_replay(self, done_through: int) -> None:
        """Before the engine starts: drop unread events and have it re-emit after done_through."""
        outbound = self._seg.outbound
        outbound.counters.producer_position = 0
        outbound.counters.consumer_position = 0
        outbound.cached_producer = outbound.cached_consumer = 0
        header = self._header
        header.events_through = done_through
        if header.engine_state == ENGINE_ABSENT:  # a new segment: the engine treats a served one so
            header.engine_state = ENGINE_STOPPED
