"""The engine before and after a change, interleaved: LOBFLOW1 through two bench_lobflow builds.

    python -m bench.engine_ab --before OLD/bench_lobflow [--after build/engine/bench_lobflow]
                              [--rounds 5] [--core 1] [--symbols 100] [--passes 5]

Runs A B A B ... (old, new), each pinned with taskset to the same core, `--rounds` times. The new
build runs with --controls (a "core" row and a "controls" row, the latter with self-match prevention
and account checks on); the old one prints its core row only (a build from before the controls has
no --controls). Each round gives new core / old core and new controls / old core, for ops per
second of wall time and ops per second of the bench thread's CPU time (what a busy shared host
disturbs less); the medians over the rounds are the figures. Builds must have the same totals
(bench_lobflow checks LOBFLOW1's exact totals on the core row and exits non-zero otherwise).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("ops_per_cpu_s", "ops_per_s")


def run_once(binary: str, core: int, symbols: int, passes: int, controls: bool) -> dict[str, dict]:
    args = ["taskset", "-c", str(core), binary, "--symbols", str(symbols), "--passes", str(passes),
            "--json-only"]
    if controls:
        args.append("--controls")
    done = subprocess.run(args, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        sys.exit(f"engine_ab: {binary} exited {done.returncode}: {done.stderr.strip()}")
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {r["mode"]: r for r in rows if r["symbols"] == symbols and r["mode"] in ("core", "controls")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", required=True, help="bench_lobflow of the old build")
    p.add_argument("--after", default=str(ROOT / "build" / "engine" / "bench_lobflow"),
                   help="bench_lobflow of the new build (default: this checkout's)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--core", type=int, default=1, help="the CPU both builds are pinned to")
    p.add_argument("--symbols", type=int, default=100)
    p.add_argument("--passes", type=int, default=5)
    a = p.parse_args(argv)
    if shutil.which("taskset") is None:
        sys.exit("engine_ab: taskset not found (util-linux)")
    for b in (a.before, a.after):
        if not Path(b).is_file():
            sys.exit(f"engine_ab: no such binary: {b}")

    ratios: dict[str, list[float]] = {f"{row} {m}": [] for row in ("core", "controls") for m in METRICS}
    print(f"LOBFLOW1 N={a.symbols}, {a.rounds} rounds old/new interleaved on core {a.core}, "
          f"{a.passes} passes per row (ops/s medians inside each run)")
    print(f"{'round':>5} {'old core':>12} {'new core':>12} {'new controls':>13} "
          f"{'core x':>7} {'controls x':>10}   (ops per CPU-second; x = / old core)")
    for i in range(a.rounds):
        old = run_once(a.before, a.core, a.symbols, a.passes, False)
        new = run_once(a.after, a.core, a.symbols, a.passes, True)
        for m in METRICS:
            ratios[f"core {m}"].append(new["core"][m] / old["core"][m])
            ratios[f"controls {m}"].append(new["controls"][m] / old["core"][m])
        cpu = "ops_per_cpu_s"
        print(f"{i + 1:>5} {old['core'][cpu]:>12.0f} {new['core'][cpu]:>12.0f} {new['controls'][cpu]:>13.0f} "
              f"{ratios['core ' + cpu][-1]:>7.3f} {ratios['controls ' + cpu][-1]:>10.3f}", flush=True)
    summary = {k: round(statistics.median(v), 3) for k, v in ratios.items()}
    for k, v in ratios.items():
        print(f"median new/old {k:<22} {summary[k]:.3f}  (rounds: {', '.join(f'{x:.3f}' for x in v)})")
    print(json.dumps({"bench": "engine_ab", "symbols": a.symbols, "rounds": a.rounds, "core": a.core,
                      "passes": a.passes, "median_ratio": summary}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
