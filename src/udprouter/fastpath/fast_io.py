"""DatagramSocket: the router's IPv4 UDP socket, read with recvmmsg and written with sendmmsg.

One readable callback drains up to UDR_IO_MAX_BATCH datagrams per cffi call (src/udprouter/fastpath/
fast_io.h) instead of one datagram_received per datagram; the datagrams sent during one loop pass
leave in one sendmmsg call. Addresses cross the C boundary as 48-bit keys (IPv4 << 16 | port) and
map to the (host, port) tuples the rest of the router uses through a bounded dict.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

from udprouter._ring_cffi import ffi, lib

MAX_BATCH = lib.UDR_IO_MAX_BATCH
SLOT_SIZE = lib.UDR_IO_SLOT_SIZE
# Spoofed sources cannot grow the address cache without bound (a few hundred bytes each); a released
# session's address is forgotten at once (forget), so clients coming and going do not fill it.
MAX_KNOWN_ADDRESSES = 8192
_IPV4 = struct.Struct(">I")


def address_key(addr) -> int:
    return (_IPV4.unpack(socket.inet_aton(addr[0]))[0] << 16) | addr[1]


def key_address(key: int) -> tuple[str, int]:
    return socket.inet_ntoa(_IPV4.pack(key >> 16)), key & 0xFFFF


class DatagramSocket:
    def __init__(self, host: str, port: int, buffer_bytes: int,
                 schedule: Callable[[Callable[[], None]], object]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, option, buffer_bytes)
            except OSError:
                pass  # the kernel's cap applies; a smaller buffer only drops bursts sooner
        self.sock.bind((host, port))
        self.fd = self.sock.fileno()
        self.address = self.sock.getsockname()
        self._schedule = schedule  # call_soon: a send outside a readable callback still leaves this pass
        self.defer_flush = False  # inside a router pass that ends with flush(): nothing to schedule
        # receive_raw's datagrams, left in place for C: payloads, their lengths, source keys.
        self.arena = ffi.new("unsigned char[]", MAX_BATCH * SLOT_SIZE)
        self._view = memoryview(ffi.buffer(self.arena))
        self.lens = ffi.new("uint32_t[]", MAX_BATCH)
        self.keys = ffi.new("uint64_t[]", MAX_BATCH)
        self._errors = ffi.new("uint32_t *")
        self._one_len = ffi.new("uint32_t[1]")  # flush() of a single datagram (the low-rate pass)
        self._one_key = ffi.new("uint64_t[1]")
        self._addr_of: dict[int, tuple[str, int]] = {}
        self._key_of: dict[object, int] = {}
        self._out: list[bytes] = []
        self._out_keys: list[int] = []
        self.receive_errors = 0
        self.send_errors = 0

    @staticmethod
    def supports(host: str) -> bool:
        """IPv4 literal or name resolving to IPv4 only; anything else keeps the asyncio endpoint."""
        try:
            socket.inet_aton(host)
        except OSError:
            return False
        return True

    def receive(self) -> list[tuple[bytes, tuple[str, int]]]:
        """Up to MAX_BATCH waiting datagrams as (payload, address); [] when none wait."""
        return [self.received(i) for i in range(self.receive_raw())]

    def receive_raw(self) -> int:
        """recvmmsg into the arena, left in place for C (arena, lens, keys); returns the count."""
        n = lib.udr_io_recv_batch(self.fd, self.arena, MAX_BATCH, self.lens, self.keys)
        if n < 0:
            self.receive_errors += 1
            return 0
        return n

    def received(self, i: int) -> tuple[bytes, tuple[str, int]]:
        """Datagram i of the last receive_raw() as (payload, address)."""
        key = self.keys[i]
        addr = self._addr_of.get(key)
        if addr is None:
            addr = self._learn(key)
        start = i * SLOT_SIZE
        return bytes(self._view[start:start + self.lens[i]]), addr

    def _learn(self, key: int) -> tuple[str, int]:
        if len(self._addr_of) >= MAX_KNOWN_ADDRESSES:
            self._addr_of.clear()
            self._key_of.clear()
        addr = key_address(key)
        self._addr_of[key] = addr
        self._key_of[addr] = key
        return addr

    def forget(self, addr) -> None:
        """Drops addr from the address cache (learnt again if it sends once more)."""
        key = self._key_of.pop(addr, None)
        if key is not None:
            self._addr_of.pop(key, None)

    def key_of(self, addr) -> int:
        """The C key of a (host, port) address."""
        key = self._key_of.get(addr)
        return address_key(addr) if key is None else key

    def send_built(self, data, lens, keys, count: int) -> int:
        """count datagrams laid back to back in data (C buffers: lengths, destination keys), sent
        after anything already queued (one sendmmsg per MAX_BATCH); returns how many left."""
        if self._out:
            self.flush()
        self._errors[0] = 0
        sent = lib.udr_io_send_batch(self.fd, data, lens, keys, count, self._errors)
        self.send_errors += self._errors[0]
        return sent

    def send(self, data: bytes, addr) -> None:
        """Queues one datagram; it leaves with the rest of this loop pass in flush()."""
        key = self.key_of(addr)
        if not self._out and not self.defer_flush:
            self._schedule(self.flush)
        self._out.append(data)
        self._out_keys.append(key)

    def flush(self) -> int:
        """Sends every queued datagram (one sendmmsg per MAX_BATCH); returns how many left."""
        out = self._out
        if not out:
            return 0
        keys = self._out_keys
        self._out, self._out_keys = [], []
        self._errors[0] = 0
        if len(out) == 1:
            data = out[0]
            self._one_len[0], self._one_key[0] = len(data), keys[0]
            sent = lib.udr_io_send_batch(self.fd, data, self._one_len, self._one_key, 1, self._errors)
        else:
            lens = ffi.new("uint32_t[]", [len(d) for d in out])
            sent = lib.udr_io_send_batch(self.fd, ffi.from_buffer(b"".join(out)), lens,
                                         ffi.new("uint64_t[]", keys), len(out), self._errors)
        self.send_errors += self._errors[0]
        return sent

    def close(self) -> None:
        self.flush()
        self.sock.close()
