"""ReplayReport: the end-of-run summary, as one JSON object (--json) or a rich table."""

from __future__ import annotations

import msgspec
from rich.console import Console
from rich.table import Table

from udprouter.replay.reader import CaptureContents
from udprouter.replay.recording import Recording
from udprouter.replay.runner import ReplayOutcome
from udprouter.replay.schedule import Timing


class LatencyUs(msgspec.Struct):
    p50: float | None
    p99: float | None
    p999: float | None
    max: float | None


class ReplayReport(msgspec.Struct):
    capture: str
    target: str
    timing: str
    sessions: int
    datagrams_sent: int
    sent: int
    acknowledged: int
    rejected: int
    rejected_by_reason: dict[str, int]
    not_applied: int
    unanswered: int
    rate_per_s: float | None  # achieved: messages sent / time from start to the last send
    bytes_sent: int  # UDP payload bytes sent to the router (replayed datagrams, resends, session messages)
    mbps: float | None  # achieved: bytes_sent * 8 / time from start to the last send, in megabits/s
    send_errors: int  # socket errors on sending (refused, no buffer space): those datagrams were lost
    stopped: bool  # a signal ended the sending before the schedule did
    intended_rate_per_s: float | None  # what the schedule asked for (None at --topspeed)
    duration_s: float
    latency_us: LatencyUs  # first answer - intended send time (coordinated omission corrected)
    matches_capture: dict[str, int]  # first answers vs the recording's: same / different / not recorded
    mismatches: list[str]
    unmapped_orig_cl_ord_ids: int  # cancels/replaces of orders placed before the capture began
    skipped: dict[str, int]  # frames or datagrams of the capture not replayed, by reason
    capture_error: str | None  # the capture's first unreadable byte; nothing past it was replayed


def _rate(count: int, span_ns: int) -> float | None:
    return round(count * 1e9 / span_ns, 1) if span_ns > 0 else None


def build_report(
    contents: CaptureContents, recording: Recording, outcome: ReplayOutcome, timing: Timing, target: str
) -> ReplayReport:
    tracker = outcome.tracker
    span = outcome.last_send_ns - outcome.started_ns
    intended_span = outcome.intended_span_ns
    # Both rates divide every message sent by the time from the start to the last send (achieved)
    # or to the last send's scheduled time (intended), so they compare like with like.
    skipped = {**contents.skipped, **recording.skipped}
    return ReplayReport(
        capture=contents.path,
        target=target,
        timing=timing.describe(),
        sessions=outcome.sessions,
        datagrams_sent=outcome.datagrams_sent,
        sent=tracker.sent,
        acknowledged=tracker.acknowledged,
        rejected=tracker.rejected,
        rejected_by_reason=dict(tracker.rejected_by_reason),
        not_applied=tracker.not_applied,
        unanswered=tracker.unanswered,
        rate_per_s=_rate(tracker.sent, span),
        bytes_sent=outcome.bytes_sent,
        mbps=round(outcome.bytes_sent * 8 / span * 1e3, 3) if span > 0 else None,
        send_errors=outcome.send_errors,
        stopped=outcome.stopped,
        intended_rate_per_s=None if timing.topspeed else _rate(tracker.sent, intended_span),
        duration_s=round(max(span, 0) / 1e9, 6),
        latency_us=LatencyUs(**tracker.latency_us()),
        matches_capture={"same": 0, "different": 0, "not recorded": 0, **tracker.compared},
        mismatches=tracker.mismatches,
        unmapped_orig_cl_ord_ids=outcome.unmapped_orig,
        skipped=skipped,
        capture_error=None if contents.error is None else str(contents.error),
    )


def _fmt(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:,.1f}{unit}"


def render(report: ReplayReport, console: Console) -> None:
    table = Table(
        title=f"udprouter-replay: {report.capture} -> {report.target} ({report.timing})",
        show_header=False,
        title_justify="left",
    )
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows = [
        ("sessions / datagrams", f"{report.sessions} / {report.datagrams_sent}"),
        ("sent", f"{report.sent:,}"),
        ("acknowledged", f"{report.acknowledged:,}"),
        ("rejected", f"{report.rejected:,}"),
        *((f"  {reason}", f"{count:,}") for reason, count in sorted(report.rejected_by_reason.items())),
        ("not applied", f"{report.not_applied:,}"),
        ("unanswered", f"{report.unanswered:,}"),
        ("rate achieved", _fmt(report.rate_per_s, " msg/s")),
        ("rate intended", _fmt(report.intended_rate_per_s, " msg/s")),
        ("bytes sent", f"{report.bytes_sent:,}"),
        ("Mbps achieved", "-" if report.mbps is None else f"{report.mbps:,.3f}"),
        ("send errors", f"{report.send_errors:,}"),
        *(
            (f"latency {label}", _fmt(getattr(report.latency_us, key), " us"))
            for label, key in (("p50", "p50"), ("p99", "p99"), ("p99.9", "p999"), ("max", "max"))
        ),
        *(
            (f"answers {k} as capture" if k == "same" else f"answers {k}", f"{v:,}")
            for k, v in report.matches_capture.items()
        ),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    for line in report.mismatches:
        console.print(f"[yellow]differs:[/] {line}")
    if report.stopped:
        console.print("[yellow]stopped by a signal before the schedule ended[/]")
    for reason, count in sorted(report.skipped.items()):
        console.print(f"[dim]skipped {count}: {reason}[/]")
    if report.capture_error:
        console.print(f"[red]{report.capture_error}[/]")
