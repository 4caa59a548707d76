"""The package as a user outside this repository gets it: sdist -> wheel (the engine compiled by
CMake inside it) -> a fresh venv in a temporary directory -> `udprouter serve` from there, and two
orders that trade through it. Run for every Python 3.11-3.13 interpreter on the machine (the wheel
is abi3); one that is missing is reported as skipped, never silently passed."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from udprouter.config import REPO_ROOT

BUILD_TIMEOUT_S = 600
INSTALL_TIMEOUT_S = 600
START_TIMEOUT_S = 60
TRADE_TIMEOUT_S = 60
LISTENING = re.compile(r"udp=([\d.]+):(\d+) grpc=(\S+) metrics=(\S+) engine_pid=(\d+)")
PYTHONS = ("3.11", "3.12", "3.13")

SAMPLE_PATH = ("import pathlib, udprouter.replay as r; "
               "print(pathlib.Path(r.__file__).parent / 'samples/demo.pcapng')")
TRADE_SCRIPT = """
import asyncio, sys
import udprouter
from udprouter.client import Client
from udprouter._generated.messages import ExecutionReportTrade, Side

async def main(port):
    assert "site-packages" in udprouter.__file__, udprouter.__file__
    buyer = await Client.connect("127.0.0.1", port, "demo", "demo-secret")
    seller = await Client.connect("127.0.0.1", port, "demo2", "demo2-secret")
    buy = await buyer.send_order(security_id=1, side=Side.Buy, price=100_000_000_000, qty=7)
    print("buy", type(await buyer.first_ack(buy)).__name__)
    sell = await seller.send_order(security_id=1, side=Side.Sell, price=100_000_000_000, qty=7)
    async def first_trade(client):
        async for report in client.reports():
            if isinstance(report, ExecutionReportTrade):
                return report
    trades = [await asyncio.wait_for(first_trade(c), 20) for c in (buyer, seller)]
    print("traded", [t.last_qty for t in trades])
    await buyer.close()
    await seller.close()

asyncio.run(main(int(sys.argv[1])))
"""


def interpreter(version: str) -> str | None:
    """A real python<version> (pyenv's installs first: its shims exist for versions not selected)."""
    pyenv = Path.home() / ".pyenv" / "versions"
    for candidate in sorted(pyenv.glob(f"{version}.*"), reverse=True):
        if (candidate / "bin" / "python3").exists():
            return str(candidate / "bin" / "python3")
    found = shutil.which(f"python{version}")
    if found and "shims" not in found:
        return found
    return None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    env = dict(os.environ, PIP_CONSTRAINT=str(REPO_ROOT / "constraints.txt"))
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(REPO_ROOT)],
                   check=True, capture_output=True, timeout=BUILD_TIMEOUT_S, env=env)
    sdist = next(out.glob("udprouter-*.tar.gz"))
    # The wheel is built from the sdist, as a package index would: the sdist must carry the engine.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out), str(sdist)],
                   check=True, capture_output=True, timeout=BUILD_TIMEOUT_S, env=env)
    return next(out.glob("udprouter-*.whl"))


@pytest.mark.parametrize("version", PYTHONS)
def test_wheel_installs_outside_the_checkout_and_trades(wheel, tmp_path, version):
    python = interpreter(version)
    if python is None:
        pytest.skip(f"python{version} is not installed on this machine")
    assert "abi3" in wheel.name and "udprouter/bin/udprouter-engine" in zipfile.ZipFile(wheel).namelist()
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=INSTALL_TIMEOUT_S)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "-c", str(REPO_ROOT / "constraints.txt"),
                    f"{wheel}[tools]"], check=True, timeout=INSTALL_TIMEOUT_S, capture_output=True)
    config = tmp_path / "router.toml"
    config.write_text(f'[udp]\nport = 0\n[metrics]\nport = 0\n[grpc]\nport = 0\n'
                      f'[journal]\ndir = "{tmp_path / "journal"}"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "UDPROUTER_ENGINE_BIN")}
    log = tmp_path / "serve.log"
    with log.open("w") as out:  # cwd outside the checkout: nothing may come from the repo
        proc = subprocess.Popen([str(venv / "bin" / "udprouter"), "serve", "--config", str(config)],
                                cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        match = None
        while match is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            match = LISTENING.search(log.read_text())
        assert match, log.read_text()
        trade = subprocess.run([str(venv / "bin" / "python"), "-c", TRADE_SCRIPT, match.group(2)],
                               cwd=tmp_path, capture_output=True, text=True, timeout=TRADE_TIMEOUT_S, env=env)
        assert trade.returncode == 0, trade.stderr
        assert "buy ExecutionReportNew" in trade.stdout and "traded [7, 7]" in trade.stdout
        # The [tools] extra: the replay tool and its sample capture come with the package.
        sample = subprocess.run([str(venv / "bin" / "python"), "-c", SAMPLE_PATH], cwd=tmp_path, env=env,
                                capture_output=True, text=True, check=True).stdout.strip()
        replay = subprocess.run([str(venv / "bin" / "udprouter-replay"), sample, "--target",
                                 f"127.0.0.1:{match.group(2)}", "--json"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=TRADE_TIMEOUT_S)
        assert replay.returncode == 0, replay.stderr
        report = json.loads(replay.stdout)
        assert report["sent"] > 0 and report["acknowledged"] > 0 and report["unanswered"] == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()
