"""udprouter-downstream: a local nats-server and the publisher (and, with --store, PostgreSQL and the
store) for a router started with the same config. For local use; in production the broker and the
database are the firm's own and only udprouter-publish / udprouter-store run beside the router.

    udprouter-downstream --config router.toml [--store] [--dir var/downstream]

Stops everything it started on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from udprouter.config import load_config
from udprouter.downstream.local import NatsServer, PostgresServer, stop_pid
from udprouter.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="udprouter-downstream", description=__doc__.split("\n")[0])
    p.add_argument("--config", help="the router's config file")
    p.add_argument("--store", action="store_true", help="also a local PostgreSQL and udprouter-store")
    p.add_argument("--dir", default="var/downstream", help="where the local nats-server keeps its stream")
    args = p.parse_args(argv)
    try:
        load_config(args.config)
    except ConfigError as exc:
        print(f"udprouter-downstream: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    nats_server = NatsServer(Path(args.dir), "nats").start()
    postgres = None
    procs: list[subprocess.Popen] = []
    try:
        config = ["--config", args.config] if args.config else []
        procs.append(subprocess.Popen([sys.executable, "-m", "udprouter.downstream.publisher", *config,
                                       "--nats", nats_server.url]))
        print(f"DOWNSTREAM nats={nats_server.url} stream=UDPROUTER_EXEC", flush=True)
        if args.store:
            postgres = PostgresServer().start()
            procs.append(subprocess.Popen([sys.executable, "-m", "udprouter.downstream.store", "--nats",
                                           nats_server.url, "--dsn", postgres.dsn]))
            print(f"DOWNSTREAM store dsn={postgres.dsn}", flush=True)
        while not stop.wait(0.5):
            if any(proc.poll() is not None for proc in procs):
                print("udprouter-downstream: a child exited; stopping", file=sys.stderr)
                return 1
        return 0
    finally:
        for proc in procs:
            stop_pid(proc)
        if postgres is not None:
            postgres.stop()
        nats_server.stop()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
