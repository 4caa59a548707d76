"""systemd's notify protocol without a dependency: one datagram to the unix socket in $NOTIFY_SOCKET.

READY=1 once serving, STOPPING=1 when a stop begins, WATCHDOG=1 every half of $WATCHDOG_USEC
(only when $WATCHDOG_PID is unset or ours). Outside systemd ($NOTIFY_SOCKET unset) every call is a
no-op. A name starting with "@" is an abstract socket.
"""

from __future__ import annotations

import os
import socket


class SdNotifier:
    def __init__(self, environ=os.environ) -> None:
        path = environ.get("NOTIFY_SOCKET", "")
        self.address = "\0" + path[1:] if path.startswith("@") else path
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        watched = usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid()))
        self.watchdog_interval_s = int(usec) / 2e6 if watched else 0.0
        self.sent = 0
        self.errors = 0

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, state: str) -> bool:
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(state.encode(), self.address)
        except OSError:
            self.errors += 1  # the supervisor went away: nothing to tell
            return False
        self.sent += 1
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")
