"""Longer seeded runs of the hostile scenarios (tests/hostile_scenarios.py) against live routers:

    python -m tests.chaos --minutes N [--seed S]        (make chaos: 10 minutes)

Round k uses seed S + k and a fresh router (the fast path on even rounds, the Python path on odd
ones), and runs every scenario larger than the system tests do: poison Sequences in a neighbour's
read batches, random field values beside a neighbour whose every order must be applied once, a
RetransmitRequest flood against the byte budget, and session churn with release. After each round
the router must stop cleanly (exit 0), with no traceback in its log and no datagram whose handling
failed. The first failure ends the run with its seed, so `--seed S+k --minutes 0` repeats it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

from tests.hostile_scenarios import fuzz_beside_neighbour, poison_batches, retransmit_flood, session_churn
from tests.system.conftest import RouterProcess
from tests.system.report_checks import metric

BUDGET = 65_536


async def one_round(router: RouterProcess, rng: random.Random) -> dict:
    figures = {}
    figures["poison"] = await poison_batches(router.udp, rng, rounds=rng.randint(5, 20))
    figures["fuzz"] = await fuzz_beside_neighbour(router.udp, rng, datagrams=rng.randint(5_000, 20_000))
    figures["retransmit"] = await retransmit_flood(router.udp, rng, requests=rng.randint(500, 3_000),
                                                   budget_bytes_per_s=BUDGET)
    figures["churn"] = await session_churn(router.udp, rng, sessions=rng.randint(50, 300))
    assert metric(router, "udprouter_datagram_errors_total") == 0
    return figures


def run(minutes: float, seed: int) -> int:
    deadline = time.monotonic() + minutes * 60
    k = 0
    while k == 0 or time.monotonic() < deadline:
        round_seed = seed + k
        fast = k % 2 == 0
        with tempfile.TemporaryDirectory(prefix="udprouter-chaos-") as tmp:
            config = (f"[udp]\nfast_path = {'true' if fast else 'false'}\n"
                      f"[session]\nretransmit_bytes_per_s = {BUDGET}\nended_retention_s = 0.0\n")
            router = RouterProcess(Path(tmp), config)
            started = time.monotonic()
            try:
                router.start()
                figures = asyncio.run(one_round(router, random.Random(round_seed)))
                status = router.stop()
                log = router.log_text()
                assert status == 0, f"router exit {status}"
                assert "Traceback" not in log, log[-2000:]
            except Exception:  # noqa: BLE001 - report the seed, then fail
                router.stop()
                traceback.print_exc()
                print(f"chaos: round {k} FAILED (seed {round_seed}, fast_path={fast}); "
                      f"repeat: python -m tests.chaos --seed {round_seed} --minutes 0", flush=True)
                return 1
        print(f"chaos: round {k} ok (seed {round_seed}, fast_path={fast}, "
              f"{time.monotonic() - started:.0f} s): {figures}", flush=True)
        k += 1
    print(f"chaos: {k} rounds clean in {minutes} minutes (seeds {seed}..{seed + k - 1})", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    args = parser.parse_args(argv)
    return run(args.minutes, args.seed)


if __name__ == "__main__":
    sys.exit(main())
