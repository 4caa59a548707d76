"""Record the sample capture from a real router: `python -m udprouter.replay.sample [--out FILE]`.

Starts `udprouter serve --capture FILE` on ephemeral ports with a journal in a temporary directory,
runs a short scripted session (demo key) that places, crosses, replaces and cancels a few dozen
orders on instruments 1-3 (and draws a few rejects), waits for every first answer, and stops the
router. The system tests use the same RouterProcess and scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import uvloop

from udprouter._generated.messages import (
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    OrdType,
    Side,
    TimeInForce,
)
from udprouter.client import Client

DEFAULT_OUT = "src/udprouter/replay/samples/demo.pcapng"
PX = 1_000_000_000  # one unit of price as a -9 mantissa
CENT = PX // 100
_LISTENING = re.compile(r"udprouter listening udp=(?P<host>[\d.]+):(?P<port>\d+)")
CONFIG = """
[udp]
port = 0
[grpc]
enabled = false
[metrics]
enabled = false
[journal]
dir = "{journal}"
durability = "none"
[engine]
# The sample session trades one account with itself, and the committed captures were recorded so:
# self-match prevention (on by default) would cancel those trades.
self_match_prevention = false
"""


class RouterProcess:
    """`udprouter serve` as a subprocess on an ephemeral UDP port; stopped by its pid."""

    def __init__(self, workdir: str, capture: str | None = None, start_timeout_s: float = 30.0) -> None:
        self.workdir = workdir
        self.capture = capture
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen | None = None
        self.address: tuple[str, int] | None = None

    def __enter__(self) -> RouterProcess:
        work = Path(self.workdir)
        (work / "router.toml").write_text(CONFIG.format(journal=work / "journal"))
        args = [sys.executable, "-m", "udprouter.cli", "serve", "--config", str(work / "router.toml")]
        if self.capture:
            args += ["--capture", self.capture]
        # Output goes to files, never to pipes nobody drains (a full pipe would stall the router).
        with open(work / "router.out", "w") as out, open(work / "router.err", "w") as err:
            self.proc = subprocess.Popen(args, stdout=out, stderr=err)
        try:
            self.address = self._wait_listening(work / "router.out", work / "router.err")
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_listening(self, out: Path, err: Path) -> tuple[str, int]:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline and self.proc.poll() is None:
            match = _LISTENING.search(out.read_text())
            if match:
                return match["host"], int(match["port"])
            time.sleep(0.02)
        raise RuntimeError(f"router did not start (exit {self.proc.poll()}): {err.read_text()[-2000:]}")

    def stop(self) -> int | None:
        """SIGTERM by pid (SIGKILL after 15 s); returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        code, self.proc = self.proc.returncode, None
        return code

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _cancel(c: Client, orig: int, sec: int, side: Side) -> OrderCancelRequest:
    return OrderCancelRequest(c.next_cl_ord_id(), orig, time.time_ns(), sec, side)


def _replace(c: Client, orig: int, sec: int, side: Side, price: int, qty: int) -> OrderCancelReplaceRequest:
    return OrderCancelReplaceRequest(c.next_cl_ord_id(), orig, time.time_ns(), price, qty, sec, side)


def _book(c: Client, sec: int) -> list:
    """Two buys and two sells resting around 100.00."""
    return [
        c.new_order(sec, Side.Buy, 100 * PX - 10 * CENT, 10),
        c.new_order(sec, Side.Buy, 100 * PX - 5 * CENT, 20),
        c.new_order(sec, Side.Sell, 100 * PX + 5 * CENT, 10),
        c.new_order(sec, Side.Sell, 100 * PX + 10 * CENT, 30),
    ]


def scenario(c: Client) -> list[list]:
    """The datagrams of the sample session, in order (each a list of messages)."""
    steps: list[list] = []
    books = {sec: _book(c, sec) for sec in (1, 2, 3)}
    steps += [books[sec] for sec in (1, 2, 3)]
    # Crossing: a buy through both sells (partial fill of the second), an IOC sell into the bids.
    steps.append([c.new_order(1, Side.Buy, 100 * PX + 10 * CENT, 25)])
    steps.append(
        [c.new_order(2, Side.Sell, 100 * PX - 10 * CENT, 15, time_in_force=TimeInForce.ImmediateOrCancel)]
    )
    steps.append(
        [
            c.new_order(
                3, Side.Buy, 0, 5, ord_type=OrdType.Market, time_in_force=TimeInForce.ImmediateOrCancel
            ),
            c.new_order(3, Side.Sell, 100 * PX + 5 * CENT, 500, time_in_force=TimeInForce.FillOrKill),
        ]
    )
    b1, b3 = books[1][0], books[3][1]
    replace_1 = _replace(c, b1.cl_ord_id, 1, Side.Buy, 100 * PX - 2 * CENT, 10)
    replace_3 = _replace(c, b3.cl_ord_id, 3, Side.Buy, 100 * PX - 5 * CENT, 5)
    steps.append([replace_1, replace_3])
    steps.append([c.new_order(1, Side.Sell, 100 * PX - 2 * CENT, 4)])  # hits the replaced bid
    steps.append(
        [_cancel(c, replace_1.cl_ord_id, 1, Side.Buy), _cancel(c, books[2][3].cl_ord_id, 2, Side.Sell)]
    )
    steps.append([_cancel(c, books[1][2].cl_ord_id, 1, Side.Sell)])  # filled earlier: rejected
    steps.append(
        [
            c.new_order(1, Side.Buy, 115 * PX, 1),
            c.new_order(9, Side.Buy, 100 * PX, 1),
            c.new_order(2, Side.Buy, 100 * PX + 1, 1),
        ]
    )  # band, unknown symbol, tick
    steps.append(
        [
            c.new_order(sec, Side.Buy, 100 * PX - 20 * CENT - i * CENT, 7)
            for sec in (1, 2, 3)
            for i in range(3)
        ]
    )
    return steps


async def run_scenario(
    host: str, port: int, key_id: str = "demo", secret: str = "demo-secret", gap_s: float = 0.02
) -> list[list]:
    """Run the sample session against a router; returns the datagrams sent with their first answers."""
    client = await Client.connect(host, port, key_id, secret)
    answered = []
    try:
        for datagram in scenario(client):
            await client.send_messages(datagram)
            answers = await asyncio.wait_for(
                asyncio.gather(*(client.first_ack(m.cl_ord_id) for m in datagram)), 5
            )
            answered.append(list(zip(datagram, answers, strict=True)))
            await asyncio.sleep(gap_s)
    finally:
        await client.close()
    return answered


def record(out: str) -> list[list]:
    with (
        tempfile.TemporaryDirectory(prefix="udprouter-sample-") as workdir,
        RouterProcess(workdir, out) as router,
    ):
        return uvloop.run(run_scenario(*router.address))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m udprouter.replay.sample", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    answered = record(args.out)
    for datagram in answered:
        print(", ".join(f"{m.__class__.__name__}->{a.__class__.__name__}" for m, a in datagram))
    return 0


if __name__ == "__main__":
    sys.exit(main())
