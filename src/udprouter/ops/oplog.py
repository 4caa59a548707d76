"""Operational log: one structured line per event, logfmt (default) or JSON, through stdlib logging.

    from udprouter.ops.oplog import get_logger
    log = get_logger()
    log.info("engine_exited", pid=123, signal="SIGKILL")
    -> ts=2026-12-06T01:02:03.456Z level=info event=engine_exited pid=123 signal=SIGKILL

Plain stdlib calls on the "udprouter" logger (log.warning("%s", text)) come out as the same kind of
line with event=message. Never log a secret: callers pass key ids and addresses only.

Volume stays bounded under a flood: each event name may write BURST lines, refilled at RATE_PER_S;
lines over that are counted and the next line of the same event carries suppressed=<n>
(flush_suppressed() writes the counts that no later line carried). Event names are code constants,
so the set of buckets is bounded.
"""

from __future__ import annotations

import json
import logging
import sys
import time

LOGGER_NAME = "udprouter"
FORMATS = ("logfmt", "json")
LEVELS = ("debug", "info", "warning", "error")
RATE_PER_S = 20.0
BURST = 50.0


def _iso(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


def _fields(record: logging.LogRecord) -> dict:
    fields = {"ts": _iso(record.created), "level": record.levelname.lower()}
    event = getattr(record, "event", None)
    if event is None:
        fields["event"] = "message"
        fields["msg"] = record.getMessage()
    else:
        fields["event"] = event
    fields.update(getattr(record, "fields", None) or {})
    if record.exc_info:
        fields["exc"] = logging.Formatter().formatException(record.exc_info)
    return fields


def _logfmt_value(value) -> str:
    text = value if isinstance(value, str) else ("true" if value is True else "false" if value is False
                                                 else str(value))
    if text and not any(c in text for c in ' "=\\\n\t') and text.isprintable():
        return text
    return json.dumps(text)


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{key}={_logfmt_value(value)}" for key, value in _fields(record).items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), default=str, separators=(",", ":"))


class _Bucket:
    __slots__ = ("tokens", "last", "suppressed")

    def __init__(self) -> None:
        self.tokens, self.last, self.suppressed = BURST, time.monotonic(), 0


class EventLogger:
    """log.info("event", key=value): a rate-limited structured line through the stdlib logger."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._buckets: dict[str, _Bucket] = {}

    def debug(self, event: str, **fields) -> None:
        self.log(logging.DEBUG, event, fields)

    def info(self, event: str, **fields) -> None:
        self.log(logging.INFO, event, fields)

    def warning(self, event: str, **fields) -> None:
        self.log(logging.WARNING, event, fields)

    def error(self, event: str, **fields) -> None:
        self.log(logging.ERROR, event, fields)

    def log(self, level: int, event: str, fields: dict) -> None:
        if not self.logger.isEnabledFor(level):
            return
        bucket = self._buckets.get(event)
        if bucket is None:
            bucket = self._buckets[event] = _Bucket()
        now = time.monotonic()
        bucket.tokens = min(BURST, bucket.tokens + (now - bucket.last) * RATE_PER_S)
        bucket.last = now
        if bucket.tokens < 1.0:
            bucket.suppressed += 1
            return
        bucket.tokens -= 1.0
        if bucket.suppressed:
            fields = {**fields, "suppressed": bucket.suppressed}
            bucket.suppressed = 0
        self.logger.log(level, event, extra={"event": event, "fields": fields})

    def flush_suppressed(self) -> None:
        """One line per event whose suppressed lines no later line has reported yet."""
        for event, bucket in self._buckets.items():
            if bucket.suppressed:
                count, bucket.suppressed = bucket.suppressed, 0
                self.logger.warning("log_suppressed", extra={"event": "log_suppressed",
                                                             "fields": {"of": event, "count": count}})


_loggers: dict[str, EventLogger] = {}


def get_logger(name: str = LOGGER_NAME) -> EventLogger:
    logger = _loggers.get(name)
    if logger is None:
        logger = _loggers[name] = EventLogger(logging.getLogger(name))
    return logger


def setup(fmt: str = "logfmt", level: str = "info", stream=None) -> logging.Handler:
    """Installs the one handler of the "udprouter" logger tree (replacing an earlier one)."""
    if fmt not in FORMATS:
        raise ValueError(f"log format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger(LOGGER_NAME)
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
    return handler
