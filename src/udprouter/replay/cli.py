"""udprouter-replay CAPTURE --target HOST:PORT [-x X | -p N | -M MBPS | -t] [-l N] [-L N] [--json] ...

Reads a pcap/pcapng capture (router --capture, tcpdump, Wireshark), keeps the client datagrams that
pass the filters, opens a fresh session per recorded session and replays the application messages
on schedule. Exit status: 0 replayed; 1 the capture was unreadable past some offset (what came before
it was replayed); 2 bad arguments or nothing to replay; 3 the router refused or did not answer.
The timing flags are tcpreplay's: -x/--multiplier, -p/--pps, -M/--mbps, -t/--topspeed, -l/--loop
(0 = forever, until --duration, -L or SIGINT/SIGTERM), -L/--limit, --stats N. A signal ends the
sending early; the answers still missing are waited for and the report is printed as usual.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import sys

import msgspec
import uvloop
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from udprouter.config import load_config
from udprouter.errors import UdprouterError
from udprouter.replay.reader import read_capture
from udprouter.replay.recording import PacketFilter, extract_recording
from udprouter.replay.report import build_report, render
from udprouter.replay.runner import ReplayStats, ReplayTarget, replay
from udprouter.replay.schedule import Timing

DEFAULT_TARGET = "127.0.0.1:9000"
DEMO_KEY, DEMO_SECRET = "demo", "demo-secret"
PROGRESS_EVERY = 16


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (forever) or more, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="udprouter-replay", description=__doc__.split("\n\n")[1])
    p.add_argument("capture", help="pcap or pcapng file")
    p.add_argument("--target", type=_host_port, default=DEFAULT_TARGET, help="router HOST:PORT (%(default)s)")
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("-x", "--multiplier", "--speed", dest="speed", type=_positive(float), default=1.0,
                      help="multiplier on the recorded rate (2 = twice as fast)")
    rate.add_argument("-p", "--pps", type=_positive(float), help="fixed rate in datagrams per second")
    rate.add_argument("-M", "--mbps", type=_positive(float),
                      help="fixed rate in megabits per second of UDP payload")
    rate.add_argument("-t", "--topspeed", action="store_true", help="as fast as possible")
    p.add_argument("-l", "--loop", type=_non_negative_int, default=1,
                   help="passes over the capture, end to end; 0 = forever (until --duration, -L or a signal)")
    p.add_argument("-L", "--limit", type=_positive(int), help="send at most N datagrams")
    p.add_argument("--stats", type=_positive(float), metavar="N",
                   help="print totals and rates to stderr every N seconds")
    p.add_argument("--duration", type=_positive(float), help="stop sending after S seconds")
    p.add_argument("--dst-port", type=int, help="only client datagrams sent to this port")
    p.add_argument("--src-port", type=int, help="only client datagrams sent from this port")
    p.add_argument("--session", help="only this recorded SessionId (32 hex digits), or 'all' (default)")
    p.add_argument("--key", help=f"key id of the fresh sessions (default {DEMO_KEY!r})")
    p.add_argument("--secret", help="secret of --key")
    p.add_argument("--config", help="router TOML config: its first key is used unless --key is given")
    p.add_argument("--wait", type=float, default=2.0, help="seconds to wait for answers after the last send")
    p.add_argument("--json", action="store_true", help="print one JSON object, no progress bar")
    return p


def _credentials(args: argparse.Namespace) -> tuple[str, str]:
    if args.key is not None:
        if args.secret is None:
            raise SystemExit("udprouter-replay: --key needs --secret")
        return args.key, args.secret
    if args.config is not None:
        keys = load_config(args.config).keys
        if not keys:
            raise SystemExit(f"udprouter-replay: {args.config} has no [[keys]]")
        return keys[0].key_id, keys[0].secret
    return DEMO_KEY, DEMO_SECRET


def _timing(args: argparse.Namespace) -> Timing:
    return Timing(
        speed=args.speed,
        pps=args.pps,
        topspeed=args.topspeed,
        loop=args.loop,
        limit=args.limit,
        duration_s=args.duration,
        mbps=args.mbps,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    err = Console(stderr=True)
    try:
        contents = read_capture(args.capture)
    except OSError as exc:
        err.print(f"udprouter-replay: cannot read {args.capture}: {exc.strerror}")
        return 2
    if contents.error is not None:
        err.print(
            f"[red]udprouter-replay: {contents.error}[/]; replaying the {len(contents.datagrams)} "
            "datagram(s) before it"
        )
    try:
        flt = PacketFilter(args.dst_port, args.src_port, args.session)
        flt.session_hex()
    except ValueError:
        err.print(f"udprouter-replay: --session {args.session!r} is not 32 hex digits")
        return 2
    recording = extract_recording(contents.datagrams, flt)
    if not recording.datagrams:
        err.print(
            f"udprouter-replay: no client application datagrams to replay in {args.capture} "
            f"(skipped: {dict(contents.skipped) | dict(recording.skipped) or 'none'})"
        )
        return 2
    key_id, secret = _credentials(args)
    host, port = args.target
    target = ReplayTarget(host, port, key_id, secret, wait_s=args.wait)
    timing = _timing(args)
    show_progress = not args.json and sys.stderr.isatty()
    stats = None if args.stats is None else _stats_printer(err, args.json)
    try:
        outcome = uvloop.run(_run(recording, timing, target, show_progress, stats, args.stats))
    except UdprouterError as exc:
        err.print(f"udprouter-replay: {exc}")
        return 3
    report = build_report(contents, recording, outcome, timing, f"{host}:{port}")
    if args.json:
        sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
    else:
        render(report, Console())
    return 1 if contents.error is not None else 0


def _stats_printer(console: Console, as_json: bool):
    def show(s: ReplayStats) -> None:
        if as_json:
            line = {**dataclasses.asdict(s), "pps": round(s.pps, 1), "mbps": round(s.mbps, 3)}
            sys.stderr.write(msgspec.json.encode({"stats": line}).decode() + "\n")
            sys.stderr.flush()
        else:
            console.print(f"stats {s.elapsed_s:.1f} s: {s.datagrams_sent:,} datagrams, "
                          f"{s.bytes_sent:,} bytes, {s.pps:,.1f} pps, {s.mbps:,.3f} Mbps, "
                          f"{s.acknowledged:,} acknowledged, {s.unanswered:,} unanswered, "
                          f"{s.send_errors:,} send errors", highlight=False)

    return show


async def _run(recording, timing, target, show_progress: bool, stats=None, stats_every_s=None):
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        return await _run_until(recording, timing, target, show_progress, stop, stats, stats_every_s)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _run_until(recording, timing, target, show_progress: bool, stop, stats, stats_every_s):
    if not show_progress:
        return await replay(recording, timing, target, stop=stop, stats=stats, stats_every_s=stats_every_s)
    columns = (
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("datagrams"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("replay", total=None)

        def update(done: int, total: int | None) -> None:
            if done % PROGRESS_EVERY == 0 or done == total or done == 0:
                progress.update(task, completed=done, total=total)

        return await replay(recording, timing, target, update, stop=stop, stats=stats,
                            stats_every_s=stats_every_s)


if __name__ == "__main__":
    sys.exit(main())
