"""Runs every benchmark that exists and writes bench/results/latest.{json,md} plus PNG plots.

    python -m bench.run [--quick] [--out DIR]      (make bench / make bench-quick)

Each bench module (bench/bench_*.py) exposes run(quick) -> list[dict] with the keys of ENTRY_KEYS
(plus extras such as p50/p99); the engine's benchmark binaries (build/engine/bench_lobflow,
bench_journal, bench_ring) print one JSON object per line; a binary that a bench module of the
same name wraps is left to that module. Every
module runs in a subprocess of its own (no event loop or import state leaks between them) under a
time limit. A module that fails or returns malformed entries is reported as failed in the table and
makes the run exit non-zero at the end: failures are never hidden.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
# Run order (cheap and in-process first); any other bench/bench_*.py runs after these, by name.
MODULES = ("bench_codec", "bench_ring", "bench_journal", "bench_udp", "bench_grpc", "bench_capture")
ENGINE_BUILD = ROOT / "build" / "engine"
# The engine's benchmark binaries (JSON lines on stdout) and their short-run arguments.
ENGINE_QUICK_ARGS = {
    "bench_lobflow": ["--ops", "200000"],
    "bench_journal": ["--ops", "200000", "--fsync-ops", "5000"],
    "bench_ring": ["--ops", "200000", "--raw-records", "2000000"],
}
ENGINE_FLOOR_OPS = 4_000_000  # DESIGN.md: beats liquibook
ENTRY_KEYS = ("name", "figure", "unit", "baseline_name", "baseline", "ratio")
RESULT_MARK = "BENCH-RESULT "
TIMEOUT_S = {True: 150, False: 1200}


@dataclass
class ModuleOutcome:
    module: str
    entries: list[dict] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.error is not None


def available_modules() -> list[str]:
    present = {p.stem for p in (ROOT / "bench").glob("bench_*.py")}
    return [m for m in MODULES if m in present] + sorted(present - set(MODULES))


def check_entries(entries: object) -> str | None:
    """Why entries are malformed, or None when every one has the required keys and numbers."""
    if not isinstance(entries, list) or not entries:
        return "run() returned no entries"
    for e in entries:
        missing = [k for k in ENTRY_KEYS if not isinstance(e, dict) or k not in e]
        if missing:
            return f"entry {e.get('name', '?') if isinstance(e, dict) else e!r} lacks {', '.join(missing)}"
        if not all(isinstance(e[k], int | float) for k in ("figure", "baseline", "ratio")):
            return f"entry {e['name']}: figure, baseline and ratio must be numbers"
    return None


def run_module(module: str, quick: bool) -> ModuleOutcome:
    code = (f"import json, bench.{module} as m; r = m.run({quick}); "
            f"print({RESULT_MARK!r} + json.dumps(r), flush=True)")
    outcome = ModuleOutcome(module)
    started = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                              timeout=TIMEOUT_S[quick])
    except subprocess.TimeoutExpired:
        outcome.error = f"timed out after {TIMEOUT_S[quick]} s"
    else:
        outcome.entries, outcome.error = _parse_module_output(proc)
    outcome.seconds = time.monotonic() - started
    return outcome


def _parse_module_output(proc: subprocess.CompletedProcess) -> tuple[list[dict], str | None]:
    lines = proc.stdout.splitlines()
    for line in lines:
        if not line.startswith(RESULT_MARK):
            print(f"  {line}")
    results = [line[len(RESULT_MARK):] for line in lines if line.startswith(RESULT_MARK)]
    if proc.returncode != 0 or not results:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return [], f"exit {proc.returncode}: {tail}"
    entries = json.loads(results[-1])
    return (entries, None) if (why := check_entries(entries)) is None else ([], why)


def engine_entries(lines: list[str], binary: str = "bench_lobflow") -> list[dict]:
    """Entries from an engine benchmark's JSON lines. A line carrying engine_ops_per_s_same_ops is
    the engine beside a reference matcher on the same ops (the reference is its baseline); a line
    marked "role": "baseline" (or a mode naming one) is the baseline of the other lines with its
    flow and symbol count; lines without either are compared with the DESIGN.md floor (said so)."""
    runs = [json.loads(line) for line in lines if line.strip().startswith("{")]
    baselines = {(r.get("flow"), r.get("symbols")): r for r in runs if _is_baseline(r)}
    entries = []
    for r in runs:
        if _is_baseline(r):
            continue
        if "engine_ops_per_s_same_ops" in r:
            name = f"{_label(r, 'core')}, first {r.get('ops', '?')} ops"
            base_name = f"{r.get('mode')} (same ops, same run)"
            entries.append(_engine_entry(name, r["engine_ops_per_s_same_ops"], base_name, r["ops_per_s"], {}))
            continue
        label = _label(r, r.get("mode", ""))
        base = baselines.get((r.get("flow"), r.get("symbols")))
        base_name, base_ops = ((f"{binary} {base['mode']} (same run)", base["ops_per_s"]) if base
                               else ("floor 4M ops/s (DESIGN.md)", ENGINE_FLOOR_OPS))
        extras = {"p50": r.get("p50_ns"), "p99": r.get("p99_ns"), "p999": r.get("p999_ns"),
                  "latency_unit": "ns"}
        entries.append(_engine_entry(label, r["ops_per_s"], base_name, base_ops, extras))
    return entries


def _label(r: dict, mode: str) -> str:
    parts = ("engine", r.get("flow", ""), r.get("symbols", ""), "symbols", mode, *_qualifiers(r))
    return " ".join(str(x) for x in parts if x != "")


def _is_baseline(r: dict) -> bool:
    return r.get("role") == "baseline" or "baseline" in str(r.get("mode", ""))


def _qualifiers(r: dict) -> list[str]:
    return [f"{k}={r[k]}" for k in ("wait", "durability", "batch") if k in r]


def _engine_entry(name: str, figure: float, base_name: str, base: float, extras: dict) -> dict:
    return {"name": name, "figure": figure, "unit": "ops/s", "baseline_name": base_name, "baseline": base,
            "ratio": round(figure / base, 3) if base else 0.0, **extras}


def run_engine(binary: str, quick: bool) -> ModuleOutcome:
    outcome = ModuleOutcome(f"engine {binary}")
    started = time.monotonic()
    args = [str(ENGINE_BUILD / binary)] + (ENGINE_QUICK_ARGS[binary] if quick else [])
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT_S[quick])
        if proc.returncode != 0:
            outcome.error = f"exit {proc.returncode}: {(proc.stderr.strip().splitlines() or [''])[-1]}"
        else:
            outcome.entries = engine_entries(proc.stdout.splitlines(), binary)
            outcome.error = check_entries(outcome.entries)
    except (subprocess.TimeoutExpired, ValueError, KeyError) as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
    outcome.seconds = time.monotonic() - started
    return outcome


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def markdown_table(outcomes: list[ModuleOutcome]) -> str:
    rows = ["| module | measurement | figure | unit | baseline | baseline figure | ratio | p50 | p99 |",
            "| --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: |"]
    for o in outcomes:
        if o.failed:
            rows.append(f"| {o.module} | **FAILED**: {o.error} | | | | | | | |")
        for e in o.entries:
            cells = [o.module, e["name"], _fmt(e["figure"]), e["unit"], e["baseline_name"],
                     _fmt(e["baseline"]), f"{e['ratio']:.2f}x", _fmt(e.get("p50")), _fmt(e.get("p99"))]
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def write_results(outcomes: list[ModuleOutcome], out_dir: Path, quick: bool) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    document = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": quick,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "entries": [{"module": o.module, **e} for o in outcomes for e in o.entries],
        "failures": [{"module": o.module, "error": o.error} for o in outcomes if o.failed],
        "modules": [{"module": o.module, "seconds": round(o.seconds, 1), "ok": not o.failed}
                    for o in outcomes],
    }
    json_path, md_path = out_dir / "latest.json", out_dir / "latest.md"
    json_path.write_text(json.dumps(document, indent=2) + "\n")
    mode = "quick" if quick else "full"
    md_path.write_text(f"# Benchmark results ({mode} run, {document['generated_at']})\n\n"
                       f"{markdown_table(outcomes)}\nRatios are figure / baseline, both from the same run.\n")
    return json_path, md_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (under two minutes in all)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--only", nargs="*", help="run only these modules (e.g. bench_udp engine)")
    args = parser.parse_args(argv)
    outcomes = []
    selected = [m for m in available_modules() if not args.only or m in args.only]
    for module in selected:
        print(f"== {module}", flush=True)
        outcomes.append(run_module(module, args.quick))
    for binary in ENGINE_QUICK_ARGS:
        if binary in selected:
            continue  # bench/<binary>.py wraps that binary itself: one entry set per measurement
        wanted = not args.only or "engine" in args.only or binary in args.only
        if wanted and (ENGINE_BUILD / binary).exists():
            print(f"== engine {binary}", flush=True)
            outcomes.append(run_engine(binary, args.quick))
    json_path, md_path = write_results(outcomes, args.out, args.quick)
    try:
        from bench.plots import write_plots

        written = write_plots([e for o in outcomes for e in o.entries], args.out)
    except Exception as exc:  # noqa: BLE001 - a broken plot must not lose the figures already written
        outcomes.append(ModuleOutcome("plots", error=f"{type(exc).__name__}: {exc}"))
        write_results(outcomes, args.out, args.quick)
        written = []
    print(markdown_table(outcomes))
    print(f"wrote {json_path.relative_to(ROOT) if json_path.is_relative_to(ROOT) else json_path}, "
          f"{md_path.name}, {len(written)} plots")
    failed = [o.module for o in outcomes if o.failed]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
