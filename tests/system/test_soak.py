"""bench.soak end to end for ~10 seconds (make soak runs it for 10 minutes): the real router and
engine under paced load, a table (Markdown + CSV) and a PNG written, and an exit status that
agrees with the RSS growth the table itself shows."""

from __future__ import annotations

import csv
import subprocess
import sys

from bench.soak import Row, verdict
from udprouter.config import REPO_ROOT

ROWS = 8
WARMUP_ROWS = 3


def test_soak_writes_rss_ring_and_latency_over_time_and_exits_by_its_own_verdict(tmp_path):
    args = [sys.executable, "-m", "bench.soak", "--minutes", str(ROWS / 60), "--interval-s", "1",
            "--warmup-s", str(WARMUP_ROWS), "--rate", "1000", "--out", str(tmp_path)]
    done = subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    with (tmp_path / "soak.csv").open() as f:
        rows = [Row(**{k: float(v) if "." in v else int(v) for k, v in r.items()}) for r in csv.DictReader(f)]
    assert len(rows) == ROWS
    assert all(r.acked == r.orders == 1000 and r.unanswered == 0 for r in rows)
    assert all(r.router_rss_mb > 0 and r.engine_rss_mb > 0 and 0 < r.p50_us <= r.p99_us for r in rows)
    assert [r.t_s for r in rows] == sorted(r.t_s for r in rows)
    ok, grown = verdict(rows, WARMUP_ROWS, 0.05)
    assert done.returncode == (0 if ok else 1)
    assert f"router {grown['router_rss_mb']:+.2%}" in (tmp_path / "soak.md").read_text()
    assert (tmp_path / "soak.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _row(t: float, router_mb: float, engine_mb: float, unanswered: int = 0) -> Row:
    return Row(t, 100, 100 - unanswered, unanswered, router_mb, engine_mb, router_mb / 2, engine_mb / 2, 0, 0,
               10.0, 20.0, 30.0, 40.0)


def test_verdict_fails_on_rss_growth_after_warmup_or_unanswered_orders():
    flat = [_row(1, 50, 90), _row(2, 100, 100), _row(3, 104, 100), _row(4, 105, 101)]
    assert verdict(flat, 2, 0.05) == (True, {"router_rss_mb": 0.05, "engine_rss_mb": 0.01})
    growing = flat + [_row(5, 106, 101)]
    assert not verdict(growing, 2, 0.05)[0]
    lossy = flat[:-1] + [_row(4, 100, 100, unanswered=1)]
    assert not verdict(lossy, 2, 0.05)[0]
