"""Helpers for the operations tests: the router's log lines parsed, bounded polls, HTTP probes."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

LOGFMT_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')
POLL_TIMEOUT_S = 30.0


def parse_logfmt(line: str) -> dict:
    fields = {}
    for key, value in LOGFMT_PAIR.findall(line):
        fields[key] = json.loads(value) if value.startswith('"') else value
    return fields


def log_events(text: str, fmt: str = "logfmt") -> list[dict]:
    """The structured lines of a router's output (the listening banner and stray lines skipped)."""
    events = []
    for line in text.splitlines():
        if fmt == "json" and line.startswith("{"):
            events.append(json.loads(line))
        elif fmt == "logfmt" and line.startswith("ts="):
            events.append(parse_logfmt(line))
    return events


def named(events: list[dict], name: str) -> list[dict]:
    return [e for e in events if e.get("event") == name]


def wait_until(predicate, what: str, timeout_s: float = POLL_TIMEOUT_S):
    """Polls predicate() (bounded) until it returns something truthy; returns that."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_for_event(router, name: str, count: int = 1, timeout_s: float = POLL_TIMEOUT_S) -> list[dict]:
    return wait_until(lambda: len(found := named(log_events(router.log_text()), name)) >= count and found,
                      f"{count} x {name} in the router log", timeout_s)


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
