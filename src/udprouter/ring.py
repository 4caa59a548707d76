"""The router's side of the shared-memory ring (router -> engine commands, engine -> router events).

A thin, typed wrapper over udprouter._ring_cffi, which compiles engine/include/udprouter/engine/
ring.h: the same C the engine runs. Batches are cdata arrays filled in place, so one cffi call moves
a whole batch (about 2 ns per record at 64 records per call). Outcomes on the data path are counts
(a full ring accepts fewer records); only setup and attach failures raise.
"""

from __future__ import annotations

import errno
import os

from udprouter._ring_cffi import ffi, lib
from udprouter.errors import UdprouterError

# The ring's records, their kinds and flags: ring_records.py (pure Python, checked against
# ring_abi.h by tests/unit/test_ring.py), re-exported here beside the ring that carries them.
from udprouter.ring_records import *  # noqa: F403 (the re-export: every name, none copied here)

ENGINE_ABSENT = lib.UDR_ENGINE_ABSENT
ENGINE_RECOVERING = lib.UDR_ENGINE_RECOVERING
ENGINE_READY = lib.UDR_ENGINE_READY
ENGINE_STOPPED = lib.UDR_ENGINE_STOPPED
ENGINE_FAILED = lib.UDR_ENGINE_FAILED
NO_ROUTER_LOG = (1 << 64) - 1  # router_logged_through of a router without a log (UINT64_MAX)


class RingError(UdprouterError):
    """The segment could not be created, mapped or used."""


class RingAttachError(RingError):
    """An existing segment was refused: its header does not match this build's ring ABI."""

    def __init__(self, name: str, code: int, message: str) -> None:
        super().__init__(f"cannot attach ring segment {name!r}: {message} (code {code})")
        self.code = code


def _shm_name(name: str) -> bytes:
    if not name or "/" in name.lstrip("/"):
        raise RingError(f"shared-memory name {name!r} must be a non-empty name without '/' inside")
    return ("/" + name.lstrip("/")).encode()


def _os_error(what: str, err: int) -> RingError:
    return RingError(f"{what}: {os.strerror(err)} ({errno.errorcode.get(err, err)})")


INPUT_ARRIVED = lib.UDR_PY_INPUT_ARRIVED  # await_events: a datagram came before the engine's answer


class RingSegment:
    """One mapped segment: header, inbound ring (udr_command) and outbound ring (udr_event)."""

    def __init__(self, name: str, base, size: int, *, owner: bool,
                 inbound_eventfd: int | None, outbound_eventfd: int | None) -> None:
        self.name = name
        self._base = base
        self._size = size
        self._owner = owner
        self._seg = ffi.new("udr_segment *")
        lib.udr_segment_view(self._seg, base, size)
        self._header = self._seg.header
        self._inbound = ffi.addressof(self._seg, "inbound")
        self._outbound = ffi.addressof(self._seg, "outbound")
        self.inbound_eventfd = inbound_eventfd
        self.outbound_eventfd = outbound_eventfd

    # -- lifecycle -------------------------------------------------------------------------------

    @classmethod
    def create(cls, name: str, inbound_capacity: int, outbound_capacity: int) -> RingSegment:
        """Creates and initialises a new segment plus the two eventfds (the engine inherits them)."""
        for label, cap in (("inbound", inbound_capacity), ("outbound", outbound_capacity)):
            if cap <= 0 or cap & (cap - 1) or cap > lib.UDR_RING_MAX_CAPACITY:
                limit = lib.UDR_RING_MAX_CAPACITY
                raise RingError(f"{label}_capacity {cap} must be a power of two up to {limit}")
        size = lib.udr_segment_size(inbound_capacity, outbound_capacity)
        err = ffi.new("int *")
        base = lib.udr_shm_create(_shm_name(name), size, err)
        if base == ffi.NULL:
            raise _os_error(f"cannot create shared memory {name!r}", err[0])
        lib.udr_segment_init(base, size, inbound_capacity, outbound_capacity)
        fds = [lib.udr_eventfd_create(), lib.udr_eventfd_create()]
        if min(fds) < 0:
            for fd in fds:
                if fd >= 0:
                    os.close(fd)
            lib.udr_shm_detach(base, size)
            lib.udr_shm_unlink(_shm_name(name))
            raise _os_error("cannot create eventfd", -min(fds))
        return cls(name, base, size, owner=True, inbound_eventfd=fds[0], outbound_eventfd=fds[1])

    @classmethod
    def attach(cls, name: str, *, inbound_eventfd: int | None = None,
               outbound_eventfd: int | None = None) -> RingSegment:
        """Maps an existing segment after checking magic, layout version, record size and size."""
        size = ffi.new("size_t *")
        err = ffi.new("int *")
        base = lib.udr_shm_attach(_shm_name(name), size, err)
        if base == ffi.NULL:
            raise _os_error(f"cannot attach shared memory {name!r}", err[0])
        code = lib.udr_segment_check(base, size[0])
        if code != lib.UDR_SEGMENT_OK:
            lib.udr_shm_detach(base, size[0])
            raise RingAttachError(name, code, ffi.string(lib.udr_segment_check_message(code)).decode())
        return cls(name, base, size[0], owner=False,
                   inbound_eventfd=inbound_eventfd, outbound_eventfd=outbound_eventfd)

    def close(self) -> None:
        """Unmaps the segment and closes the eventfds this object created. Idempotent."""
        if self._base is None:
            return
        lib.udr_shm_detach(self._base, self._size)
        self._base = None
        if self._owner:
            for fd in (self.inbound_eventfd, self.outbound_eventfd):
                if fd is not None:
                    os.close(fd)
        self.inbound_eventfd = self.outbound_eventfd = None

    def adopt_eventfds(self, inbound_eventfd: int, outbound_eventfd: int) -> None:
        """New eventfds for an attached segment, closed by close() from now on, as create()'s are."""
        self.inbound_eventfd, self.outbound_eventfd = inbound_eventfd, outbound_eventfd
        self._owner = True

    def unlink(self) -> None:
        """Removes the shm name (mappings stay valid until closed). A missing name is not an error."""
        lib.udr_shm_unlink(_shm_name(self.name))

    def __enter__(self) -> RingSegment:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- data path -------------------------------------------------------------------------------

    @staticmethod
    def new_commands(n: int):
        """A zeroed cdata array of n udr_command records to fill and offer."""
        return ffi.new("udr_command[]", n)

    @staticmethod
    def new_events(n: int):
        """A cdata array of n udr_event records for poll_events to fill."""
        return ffi.new("udr_event[]", n)

    def offer_commands(self, array, n: int) -> int:
        """Publishes array[0:n] to the engine; returns how many were accepted (fewer: ring full)."""
        return lib.udr_ring_offer(self._inbound, array, n)

    def poll_events(self, array, max_events: int) -> int:
        """Copies up to max_events events into array and frees their slots; returns the count."""
        return lib.udr_ring_poll(self._outbound, array, max_events)

    @property
    def inbound_ring(self):
        """The inbound udr_ring * (the C fast path counts free slots through it)."""
        return self._inbound

    @property
    def outbound_ring(self):
        """The outbound udr_ring * (the C fast path drains it: udr_py_drain_route)."""
        return self._outbound

    # The engine's side, for tests and tools that stand in for the engine process.
    def poll_commands(self, array, max_commands: int) -> int:
        return lib.udr_ring_poll(self._inbound, array, max_commands)

    def offer_events(self, array, n: int) -> int:
        return lib.udr_ring_offer(self._outbound, array, n)

    # -- wake protocol ---------------------------------------------------------------------------

    def wake_engine_if_sleeping(self) -> bool:
        """After offering: wakes the engine through its eventfd if it announced a sleep."""
        return bool(lib.udr_py_wake_if_sleeping(self._inbound, self.inbound_eventfd))

    def wake_router_if_sleeping(self) -> bool:
        """The engine's counterpart (used by stand-in engines in tests)."""
        return bool(lib.udr_py_wake_if_sleeping(self._outbound, self.outbound_eventfd))

    def set_router_sleeping(self, sleeping: bool) -> int:
        """Announces (True) or withdraws (False) the router's sleep on the outbound eventfd.

        Returns the outbound occupancy seen after the fence: 0 after True means the router may wait
        for outbound_eventfd; anything else means events arrived and the sleep was withdrawn.
        """
        return lib.udr_py_set_sleeping(self._outbound, 1 if sleeping else 0)

    def await_events(self, budget_ns: int, input_fd: int = -1) -> int:
        """Awake (the sleep withdrawn, so the engine writes no eventfd): waits up to budget_ns for
        events, yielding the CPU every few looks; returns the outbound occupancy, 0 if none came, or
        INPUT_ARRIVED if input_fd (when given) became readable first. One cffi call per wait."""
        return lib.udr_py_await_events(self._outbound, budget_ns, input_fd)

    def drain_outbound_eventfd(self) -> int:
        """Resets the outbound eventfd; returns the number of wakes it had accumulated."""
        return lib.udr_eventfd_drain(self.outbound_eventfd)

    # -- header ----------------------------------------------------------------------------------

    @property
    def header(self):
        """The udr_segment_header itself (cffi), for counters read at scrape time."""
        return self._header

    @property
    def engine_state(self) -> int:
        return self._header.engine_state

    @property
    def engine_pid(self) -> int:
        return self._header.engine_pid

    @property
    def next_command_seq(self) -> int:
        return self._header.next_command_seq

    @property
    def journaled_through(self) -> int:
        return self._header.journaled_through

    @property
    def events_through(self) -> int:
        return self._header.events_through

    @property
    def router_logged_through(self) -> int:
        """Highest command_seq whose reports the router's log holds (NO_ROUTER_LOG: it keeps none)."""
        return self._header.router_logged_through

    @router_logged_through.setter
    def router_logged_through(self, command_seq: int) -> None:
        # One aligned 8-byte store: the engine reads it only to decide which snapshots to keep, and a
        # stale (lower) value only keeps more, so no fence is needed.
        self._header.router_logged_through = command_seq

    @property
    def commands_applied(self) -> int:
        return self._header.commands_applied

    @property
    def events_published(self) -> int:
        return self._header.events_published

    @property
    def inbound_capacity(self) -> int:
        return self._header.inbound_capacity

    @property
    def outbound_capacity(self) -> int:
        return self._header.outbound_capacity

    @property
    def inbound_occupancy(self) -> int:
        return lib.udr_ring_occupancy(self._inbound)

    @property
    def outbound_occupancy(self) -> int:
        return lib.udr_ring_occupancy(self._outbound)

    @property
    def inbound_full_events(self) -> int:
        """Router offers refused (in whole or part) because the inbound ring was full."""
        return self._seg.inbound.counters.full_events

    @property
    def size(self) -> int:
        return self._size

    def raw_buffer(self):
        """The whole mapping as a cffi buffer (tests read ABI offsets through it)."""
        return ffi.buffer(ffi.cast("char *", self._base), self._size)
