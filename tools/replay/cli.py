"""udprouter-replay CAPTURE --target HOST:PORT [--speed X | --pps N | --topspeed] [--loop N] [--json] ...

Reads a pcap/pcapng capture (router --capture, tcpdump, Wireshark), keeps the client datagrams that
pass the filters, opens a fresh session per recorded session and replays the application messages
on schedule. Exit status: 0 replayed; 1 the capture was unreadable past some offset (what came before
it was replayed); 2 bad arguments or nothing to replay; 3 the router refused or did not answer.
"""

from __future__ import annotations

import argparse
import sys

import msgspec
import uvloop
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tools.replay.reader import read_capture
from tools.replay.recording import PacketFilter, extract_recording
from tools.replay.report import build_report, render
from tools.replay.runner import ReplayTarget, replay
from tools.replay.schedule import Timing
from udprouter.config import load_config
from udprouter.errors import UdprouterError

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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="udprouter-replay", description=__doc__.split("\n\n")[1])
    p.add_argument("capture", help="pcap or pcapng file")
    p.add_argument("--target", type=_host_port, default=DEFAULT_TARGET, help="router HOST:PORT (%(default)s)")
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--speed", type=_positive(float), default=1.0, help="multiplier on the recorded timing")
    rate.add_argument("--pps", type=_positive(float), help="fixed rate in datagrams per second")
    rate.add_argument("--topspeed", action="store_true", help="as fast as possible")
    p.add_argument("--loop", type=_positive(int), default=1, help="passes over the capture, end to end")
    p.add_argument("--limit", type=_positive(int), help="send at most N datagrams")
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
    try:
        outcome = uvloop.run(_run(recording, timing, target, show_progress))
    except UdprouterError as exc:
        err.print(f"udprouter-replay: {exc}")
        return 3
    report = build_report(contents, recording, outcome, timing, f"{host}:{port}")
    if args.json:
        sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
    else:
        render(report, Console())
    return 1 if contents.error is not None else 0


async def _run(recording, timing, target, show_progress: bool):
    if not show_progress:
        return await replay(recording, timing, target)
    columns = (
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("datagrams"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("replay", total=None)

        def update(done: int, total: int) -> None:
            if done % PROGRESS_EVERY == 0 or done == total or done == 0:
                progress.update(task, completed=done, total=total)

        return await replay(recording, timing, target, update)


if __name__ == "__main__":
    sys.exit(main())
