"""The command line every bench module shares: `python -m bench.<module> [--quick] [--json]`."""

import argparse
import json
from collections.abc import Callable


def print_entries(entries: list[dict]) -> None:
    """One line per entry: figure, in-run baseline and ratio (and the floor when the entry has one)."""
    for e in entries:
        floor = f"  floor {e['floor']:,} {'met' if e['meets_floor'] else 'MISSED'}" if "floor" in e else ""
        if e.get("baseline_meets_floor") is False:
            floor += f" (the baseline missed it too: {e['baseline']:,})"
        print(f"{e['name']}: {e['figure']:,} {e['unit']} vs {e['baseline_name']} {e['baseline']:,} "
              f"-> {e['ratio']:.2f}x{floor}")


def module_main(run: Callable[[bool], list[dict]], description: str, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the entries as one JSON array")
    args = parser.parse_args(argv)
    result = run(args.quick)
    if args.json:
        print(json.dumps(result))
    return 0
