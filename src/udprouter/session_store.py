"""SessionStore: durable session numbers, so a FIXP SessionId maps to the same session_id forever.

session_ids are dense uint32 from 1 and never reused: they are the session_id in the ring records
and in the engine's journal, which outlives the router process. The store is an append-only text
file in the journal directory, one ``<session_id> <SessionId hex> <key_id>`` line per assignment,
flushed and fsynced before the id is handed out (an id given to the engine must survive a crash).

A released session (ended and past its retention, SessionLayer.sweep) is forgotten: its SessionId,
seen again, is a new session with a new id. The file is rewritten with only the remembered lines
(and a ``next <id>`` line, so ids stay never reused) once the forgotten ones outnumber them, so it
stays bounded by the live sessions.
"""

from __future__ import annotations

import os
from pathlib import Path

from udprouter.errors import ConfigError

FILE_NAME = "sessions.log"


class SessionStore:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self._path = Path(directory) / FILE_NAME
        self._by_uuid: dict[bytes, tuple[int, str]] = {}
        self._last_id = 0
        self._forgotten = 0  # lines in the file about sessions no longer remembered
        self.compactions = 0
        Path(directory).mkdir(parents=True, exist_ok=True)
        self._load()
        self._file = open(self._path, "a", encoding="ascii")  # noqa: SIM115 - lives as long as the store
        self.log = None  # RouterLog (udprouter.router_log) that journals every session's state, if any

    def _load(self) -> None:
        if not self._path.exists():
            return
        lines = self._path.read_text(encoding="ascii", errors="replace").splitlines()
        for number, line in enumerate(lines, 1):
            parts = line.split(" ")
            if len(parts) == 2 and parts[0] == "next" and parts[1].isdigit():
                self._last_id = max(self._last_id, int(parts[1]) - 1)
                continue
            if len(parts) == 2 and parts[0] == "forget" and len(parts[1]) == 32:
                self._by_uuid.pop(bytes.fromhex(parts[1]), None)
                self._forgotten += 1
                continue
            if len(parts) != 3 or not parts[0].isdigit() or len(parts[1]) != 32:
                # A torn last line (crash mid-append) was never handed out: ignore it.
                if number == len(lines):
                    break
                raise ConfigError(f"{self._path}:{number}: corrupt session store line")
            session_id = int(parts[0])
            self._by_uuid[bytes.fromhex(parts[1])] = (session_id, parts[2])
            self._last_id = max(self._last_id, session_id)

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
        session_id = self._last_id + 1
        if session_id >= 2**32:
            raise ConfigError("session store exhausted: 2**32 - 1 session ids assigned")
        self._file.write(f"{session_id} {bytes(uuid).hex()} {key_id}\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._by_uuid[bytes(uuid)] = (session_id, key_id)
        self._last_id = session_id
        return session_id

    def release(self, uuid: bytes) -> None:
        """Forgets a released session's SessionId (a `forget` line), rewriting the file when the
        forgotten lines outnumber the remembered ones."""
        if self._by_uuid.pop(bytes(uuid), None) is None:
            return
        self._file.write(f"forget {bytes(uuid).hex()}\n")
        self._file.flush()
        self._forgotten += 2  # its assignment line and this one
        if self._forgotten > max(64, 2 * len(self._by_uuid)):
            self._rewrite()

    def _rewrite(self) -> None:
        """The remembered lines only, replacing the file atomically (fsynced before the rename)."""
        tmp = self._path.with_suffix(".tmp")
        with open(tmp, "w", encoding="ascii") as out:
            out.write(f"next {self._last_id + 1}\n")
            for uuid, (session_id, key_id) in sorted(self._by_uuid.items(), key=lambda item: item[1][0]):
                out.write(f"{session_id} {uuid.hex()} {key_id}\n")
            out.flush()
            os.fsync(out.fileno())
        self._file.close()
        os.replace(tmp, self._path)
        self._file = open(self._path, "a", encoding="ascii")  # noqa: SIM115 - lives as long as the store
        self._forgotten = 0
        self.compactions += 1

    @property
    def next_id(self) -> int:
        return self._last_id + 1

    def entries(self) -> dict[int, tuple[bytes, str]]:
        """session_id -> (SessionId, key_id) for every session ever assigned."""
        return {sid: (uuid, key_id) for uuid, (sid, key_id) in self._by_uuid.items()}

    def adopt(self, session) -> None:
        """A new ServerSession for an assigned id: its state is journaled from now on."""
        if self.log is not None:
            self.log.attach(session)

    def __len__(self) -> int:
        return len(self._by_uuid)

    def close(self) -> None:
        self._file.close()
