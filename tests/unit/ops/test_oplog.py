"""oplog: logfmt and JSON lines through stdlib logging, values quoted only when they must be, and a
bounded number of lines per event with every held-back line counted."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest

from udprouter.ops import oplog


@pytest.fixture(autouse=True)
def restore_logger():
    """setup() configures the process-wide "udprouter" logger: put it back for the other tests."""
    logger = logging.getLogger(oplog.LOGGER_NAME)
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


@pytest.fixture
def captured():
    stream = io.StringIO()
    oplog.setup("logfmt", "info", stream)
    return stream


def test_logfmt_line_has_timestamp_level_event_and_quoted_values(captured):
    log = oplog.EventLogger(logging.getLogger("udprouter.test"))
    log.info("engine_exited", pid=12, signal="SIGKILL", tail='a "quoted" line\nand more', empty="", ok=True)
    line = captured.getvalue().rstrip("\n")
    assert "\n" not in line
    assert line.startswith("ts=") and "Z level=info event=engine_exited pid=12 signal=SIGKILL " in line
    assert 'tail="a \\"quoted\\" line\\nand more" empty="" ok=true' in line


def test_plain_stdlib_calls_become_message_events(captured):
    logging.getLogger("udprouter").warning("%s happened", "something")
    assert 'level=warning event=message msg="something happened"' in captured.getvalue()


def test_json_format_carries_the_same_fields():
    stream = io.StringIO()
    oplog.setup("json", "info", stream)
    oplog.EventLogger(logging.getLogger("udprouter.test")).warning("ring_full_start", capacity=8)
    record = json.loads(stream.getvalue())
    assert record["event"] == "ring_full_start" and record["capacity"] == 8 and record["level"] == "warning"
    assert record["ts"].endswith("Z")


def test_levels_below_the_threshold_are_not_written():
    stream = io.StringIO()
    oplog.setup("logfmt", "warning", stream)
    log = oplog.EventLogger(logging.getLogger("udprouter.test"))
    log.info("quiet")
    log.error("loud")
    assert "event=quiet" not in stream.getvalue() and "event=loud" in stream.getvalue()


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="log format"):
        oplog.setup("xml")


def test_one_event_writes_a_bounded_number_of_lines_and_counts_the_rest(captured):
    log = oplog.EventLogger(logging.getLogger("udprouter.test"))
    total = 1000
    started = time.monotonic()
    for i in range(total):
        log.info("session_negotiated", n=i)
    elapsed = time.monotonic() - started
    log.info("other_event")  # another event has its own budget
    log.flush_suppressed()
    lines = captured.getvalue().splitlines()
    written = [line for line in lines if "event=session_negotiated" in line]
    (summary,) = [line for line in lines if "event=log_suppressed" in line]
    held = int(summary.split("count=")[1].split()[0])
    assert len(written) + held == total
    assert len(written) <= oplog.BURST + oplog.RATE_PER_S * elapsed + 1
    assert "of=session_negotiated" in summary and any("event=other_event" in line for line in lines)
