"""SessionStore: durable session numbers, so a FIXP SessionId maps to the same session_id forever.

session_ids are dense uint32 from 1: they are the session_id in the ring records and in the
engine's journal, which outlives the router process. The store is an append-only text file in the
journal directory, one ``<session_id> <SessionId hex> <key_id> [<first_outbound>]`` line per
assignment, flushed and fsynced before the id is handed out (an id given to the engine must survive
a crash).

A released session (ended and past its retention, SessionLayer.sweep) is forgotten: its SessionId,
seen again, is a new session (a ``forget <SessionId hex> <first_outbound>`` line). Its id is then
*pending*: the router sends the engine UDR_CMD_RESET_SESSION for it (its resting orders canceled,
its ClOrdID mark cleared) and, once the engine has answered (so the reset is journaled), the id is
*free* (a ``free <session_id> <first_outbound>`` line) and the next new session takes it before any
never-used id: a journal's lifetime has no session cap, only the live sessions are bounded by the
engine's max_sessions. A reused id continues its previous occupant's server sequence numbers from
first_outbound (one past the last it sent), so ExecID = session_id << 40 | number is never given
twice. The file is rewritten with only the remembered, pending and free ids (and a ``next <id>``
line) once the forgotten lines outnumber them, so it stays bounded by the ids in use.
"""

from __future__ import annotations

import os
import uuid as uuid_module
from pathlib import Path

from udprouter.errors import ConfigError

FILE_NAME = "sessions.log"
# Fixed namespace: the SessionId of a key's gRPC flow is uuid5(namespace, "grpc:" + key_id). Recovery
# tells a logged gRPC flow from a UDP session by it, and a UDP Negotiate may not take that SessionId.
GRPC_SESSION_NAMESPACE = uuid_module.UUID("6f0c39e4-5a43-4c1c-9b8e-2b1f6d1d7a10")


def grpc_session_uuid(key_id: str) -> bytes:
    return uuid_module.uuid5(GRPC_SESSION_NAMESPACE, f"grpc:{key_id}").bytes


class SessionStore:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self._path = Path(directory) / FILE_NAME
        self._by_uuid: dict[bytes, tuple[int, str]] = {}
        self._last_id = 0
        self._forgotten = 0  # lines in the file about sessions no longer remembered
        self._first: dict[int, int] = {}  # a remembered reused id's first server sequence number
        self.pending: dict[int, int] = {}  # released ids awaiting the engine's reset -> first_outbound
        self.free: dict[int, int] = {}  # reset ids ready for a new session -> first_outbound
        self.reused = 0  # ids given to a new session after a reset (this process)
        self.compactions = 0
        Path(directory).mkdir(parents=True, exist_ok=True)
        self._load()
        self._file = open(self._path, "a", encoding="ascii")  # noqa: SIM115 - lives as long as the store
        self.log = None  # the RouterLog (durability.router_log) journaling every session's state, if any

    def _load(self) -> None:
        if not self._path.exists():
            return
        lines = self._path.read_text(encoding="ascii", errors="replace").splitlines()
        for number, line in enumerate(lines, 1):
            parts = line.split(" ")
            if len(parts) == 2 and parts[0] == "next" and parts[1].isdigit():
                self._last_id = max(self._last_id, int(parts[1]) - 1)
                continue
            if len(parts) in (2, 3) and parts[0] == "forget" and len(parts[1]) == 32:
                known = self._by_uuid.pop(bytes.fromhex(parts[1]), None)
                if known is not None and len(parts) == 3 and parts[2].isdigit():
                    # (a two-field forget line predates reuse: its numbering is unknown, the id stays unused)
                    self.pending[known[0]] = int(parts[2])
                    self._first.pop(known[0], None)
                self._forgotten += 1
                continue
            if len(parts) == 3 and parts[0] in ("pending", "free") and (parts[1] + parts[2]).isdigit():
                session_id, first = int(parts[1]), int(parts[2])
                self.pending.pop(session_id, None)
                (self.pending if parts[0] == "pending" else self.free)[session_id] = first
                self._last_id = max(self._last_id, session_id)
                continue
            reused = len(parts) == 4 and parts[3].isdigit()
            if not (len(parts) == 3 or reused) or not parts[0].isdigit() or len(parts[1]) != 32:
                # A torn last line (crash mid-append) was never handed out: ignore it.
                if number == len(lines):
                    break
                raise ConfigError(f"{self._path}:{number}: corrupt session store line")
            session_id = int(parts[0])
            self._by_uuid[bytes.fromhex(parts[1])] = (session_id, parts[2])
            self._last_id = max(self._last_id, session_id)
            self.free.pop(session_id, None)
            if reused:
                self._first[session_id] = int(parts[3])

    def lookup(self, uuid: bytes) -> tuple[int, str] | None:
        """(session_id, key_id) recorded for this SessionId, or None."""
        return self._by_uuid.get(bytes(uuid))

    def assign(self, uuid: bytes, key_id: str) -> int:
        """The session_id for uuid, assigning and persisting the next one on first sight.

        The caller checks that a known uuid belongs to the same key before calling.
        """
        known = self._by_uuid.get(bytes(uuid))
        if known is not None:
            return known[0]
        if self.free:
            session_id = min(self.free)  # the lowest: ids stay dense within the engine's table
            first = self.free.pop(session_id)
            self._file.write(f"{session_id} {bytes(uuid).hex()} {key_id} {first}\n")
            self._first[session_id] = first
            self.reused += 1
        else:
            session_id = self._last_id + 1
            if session_id >= 2**32:
                raise ConfigError("session store exhausted: 2**32 - 1 session ids assigned")
            self._file.write(f"{session_id} {bytes(uuid).hex()} {key_id}\n")
            self._last_id = session_id
        self._file.flush()
        os.fsync(self._file.fileno())
        self._by_uuid[bytes(uuid)] = (session_id, key_id)
        return session_id

    def first_outbound(self, session_id: int) -> int:
        """The first server sequence number of the id's current session (1 unless the id is reused)."""
        return self._first.get(session_id, 1)

    def reset_done(self, session_id: int) -> None:
        """The engine answered the id's UDR_CMD_RESET_SESSION: the id is free for a new session.
        (Written after the reset is in the engine's journal; the assignment that reuses the id is
        fsynced, which makes this line durable before it.)"""
        first = self.pending.pop(session_id, None)
        if first is None:
            return
        self.free[session_id] = first
        self._file.write(f"free {session_id} {first}\n")
        self._file.flush()
        self._forgotten += 1
        self._rewrite_if_mostly_forgotten()

    def release(self, uuid: bytes, next_outbound: int = 1) -> None:
        """Forgets a released session's SessionId (a `forget` line); its id is pending its reset, and
        its next occupant numbers from one past next_outbound (strictly above every number the
        released one used or could have used). Rewrites the file when the forgotten lines outnumber
        the remembered ones."""
        known = self._by_uuid.pop(bytes(uuid), None)
        if known is None:
            return
        first = max(next_outbound, self._first.pop(known[0], 1)) + 1
        self.pending[known[0]] = first
        self._file.write(f"forget {bytes(uuid).hex()} {first}\n")
        self._file.flush()
        self._forgotten += 2  # its assignment line and this one
        self._rewrite_if_mostly_forgotten()

    def _rewrite_if_mostly_forgotten(self) -> None:
        if self._forgotten > max(64, 2 * (len(self._by_uuid) + len(self.pending) + len(self.free))):
            self._rewrite()

    def _rewrite(self) -> None:
        """The remembered lines only, replacing the file atomically (fsynced before the rename)."""
        tmp = self._path.with_suffix(".tmp")
        with open(tmp, "w", encoding="ascii") as out:
            out.write(f"next {self._last_id + 1}\n")
            for uuid, (session_id, key_id) in sorted(self._by_uuid.items(), key=lambda item: item[1][0]):
                first = self._first.get(session_id)
                out.write(f"{session_id} {uuid.hex()} {key_id}{'' if first is None else f' {first}'}\n")
            for kind, ids in (("pending", self.pending), ("free", self.free)):
                for session_id, first in sorted(ids.items()):
                    out.write(f"{kind} {session_id} {first}\n")
            out.flush()
            os.fsync(out.fileno())
        self._file.close()
        os.replace(tmp, self._path)
        self._file = open(self._path, "a", encoding="ascii")  # noqa: SIM115 - lives as long as the store
        self._forgotten = 0
        self.compactions += 1

    @property
    def next_id(self) -> int:
        """The id the next new session takes (a free one first)."""
        return min(self.free) if self.free else self._last_id + 1

    def entries(self) -> dict[int, tuple[bytes, str]]:
        """session_id -> (SessionId, key_id) for every session ever assigned."""
        return {sid: (uuid, key_id) for uuid, (sid, key_id) in self._by_uuid.items()}

    def adopt(self, session) -> None:
        """A new ServerSession for an assigned id: its state is journaled from now on (a reused id's
        previous occupant's logged state is reset first: never restored to the new one)."""
        if self.log is not None:
            if session.first_outbound > 1:
                self.log.reset(session.session_id, session.first_outbound)
            self.log.attach(session)

    def __len__(self) -> int:
        return len(self._by_uuid)

    def close(self) -> None:
        self._file.close()
