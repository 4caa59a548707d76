"""What the crash and recovery system tests read back from routers and clients."""

from __future__ import annotations

import re
import urllib.request

from udprouter._generated.messages import ExecutionReportNew
from udprouter.client import Client

RUN_SPECIFIC = ("transact_time", "exec_id")  # differ between runs by design (router clock, ExecID)


def drain(client: Client) -> list:
    """Every report the client has received and not yet read."""
    out = []
    while not client.inbound.queue.empty():
        out.append(client.inbound.queue.get_nowait())
    return out


def comparable(reports: list) -> list[tuple]:
    """Reports without the fields that differ between runs by design."""
    rows = []
    for report in reports:
        fields = {k: getattr(report, k) for k in report.__struct_fields__ if k not in RUN_SPECIFIC}
        rows.append((type(report).__name__, tuple(sorted(fields.items()))))
    return rows


def assert_exactly_once(reports: list, expected_ids: set[int]) -> None:
    news = [r.cl_ord_id for r in reports if isinstance(r, ExecutionReportNew)]
    assert sorted(news) == sorted(expected_ids), "every order acknowledged exactly once"
    server_seqs = [r.exec_id & ((1 << 40) - 1) for r in reports if hasattr(r, "exec_id")]
    assert server_seqs == sorted(set(server_seqs)), "reports delivered once each, in server order"


def metric(router, name: str) -> float:
    """One sample of the router's Prometheus text."""
    url = f"http://127.0.0.1:{router.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    assert match, f"{name} not exported"
    return float(match.group(1))
