"""LOBFLOW1 through the Engine with the journal on, beside the same batches without it.

    python -m bench.bench_journal [--quick]

Runs build/engine/bench_journal: the recorded flow in batches of 64, each appended and committed
(durability os: one write(2) per batch; fsync: one fdatasync per batch, shorter run) before it is
applied. Baseline: the same batches through the Engine alone, same run.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_JOURNAL = ROOT / "build" / "engine" / "bench_journal"


def run(quick: bool) -> list[dict]:
    args = [str(BENCH_JOURNAL)] + (["--ops", "200000", "--fsync-ops", "10000"] if quick else [])
    done = subprocess.run(args, capture_output=True, text=True, timeout=900, check=True)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    core = next(line for line in lines if line["mode"] == "core_batched")
    return [{"name": f"LOBFLOW1 {r['symbols']} symbols, journal {r['durability']}, batch {r['batch']}",
             "figure": r["ops_per_s"], "unit": "ops/s",
             "baseline_name": "same batches without the journal (same run)", "baseline": core["ops_per_s"],
             "ratio": round(r["ops_per_s"] / core["ops_per_s"], 3),
             "p50": r["p50_ns"], "p99": r["p99_ns"], "p999": r["p999_ns"], "latency_unit": "ns"}
            for r in lines if r["mode"] == "journal"]


if __name__ == "__main__":
    import sys

    for entry in run("--quick" in sys.argv):
        print(json.dumps(entry))
