"""The shared-memory ring: Python's cost per record, and LOBFLOW1 through the ring into the engine.

    python -m bench.bench_ring [--quick]

  python offer+poll, batch 64: udprouter.ring.RingSegment.offer_commands + poll_commands of 64
      records per call, ns per record; baseline: the same with one record per call (what batching saves)
  ring into the engine process: build/engine/bench_ring (LOBFLOW1 offered in batches of 64 to a
      forked EngineProcess, events drained), once per wait strategy; baseline: the ring's raw
      two-process throughput measured by the same binary in the same run
"""

from __future__ import annotations

import json
import os
import subprocess
import timeit
import uuid
from pathlib import Path

from udprouter.ring import RingSegment

ROOT = Path(__file__).resolve().parents[1]
BENCH_RING = ROOT / "build" / "engine" / "bench_ring"


def _python_ns_per_record(seg: RingSegment, batch: int, number: int) -> float:
    cmds = seg.new_commands(batch)
    out = seg.new_commands(batch)

    def once() -> None:
        seg.offer_commands(cmds, batch)
        seg.poll_commands(out, batch)

    return min(timeit.repeat(once, number=number, repeat=5)) / number / batch * 1e9


def python_entries(quick: bool) -> list[dict]:
    seg = RingSegment.create(f"udr-bench-{os.getpid()}-{uuid.uuid4().hex[:8]}", 1024, 8)
    try:
        number = 2_000 if quick else 20_000
        batched = _python_ns_per_record(seg, 64, number)
        single = _python_ns_per_record(seg, 1, number * 16)
    finally:
        seg.unlink()
        seg.close()
    return [{"name": "ring offer+poll from Python, batch 64", "figure": round(batched, 2),
             "unit": "ns/record", "baseline_name": "same, one record per call", "baseline": round(single, 2),
             "ratio": round(batched / single, 3)}]


def engine_entries(quick: bool) -> list[dict]:
    args = [str(BENCH_RING)] + (["--ops", "200000", "--raw-records", "5000000"] if quick else [])
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, check=True)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    raw = next(line for line in lines if line["mode"] == "ring_raw")
    return [{"name": f"LOBFLOW1 {r['symbols']} symbols via the ring into the engine, wait {r['wait']}",
             "figure": r["ops_per_s"], "unit": "ops/s",
             "baseline_name": "ring raw two-process throughput, batch 64 (records/s, same run)",
             "baseline": raw["ops_per_s"], "ratio": round(r["ops_per_s"] / raw["ops_per_s"], 4),
             "p50": r["p50_ns"], "p99": r["p99_ns"], "p999": r["p999_ns"], "latency_unit": "ns"}
            for r in lines if r["mode"] == "ring"]


def run(quick: bool) -> list[dict]:
    return python_entries(quick) + engine_entries(quick)


if __name__ == "__main__":
    import sys

    for entry in run("--quick" in sys.argv):
        print(json.dumps(entry))
