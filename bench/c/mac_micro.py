"""bench/c/mac_micro.c, built with cc into build/bench/ when its source (or datagram_mac.h) is newer:
ns per datagram of the router's C datagram MAC check, per body size."""

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "bench" / "c" / "mac_micro.c"
HEADER = ROOT / "src" / "udprouter" / "c" / "datagram_mac.h"
BINARY = ROOT / "build" / "bench" / "mac_micro"


def build_mac_micro(binary: Path = BINARY) -> Path:
    newest = max(SOURCE.stat().st_mtime, HEADER.stat().st_mtime)
    if binary.exists() and binary.stat().st_mtime >= newest:
        return binary
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise FileNotFoundError("no C compiler (cc) to build bench/c/mac_micro.c")
    binary.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([cc, "-O2", "-std=gnu11", "-Wall", "-Wextra", f"-I{HEADER.parent}", "-o", str(binary),
                    str(SOURCE)], check=True)
    return binary


def mac_ns_per_datagram(sizes: tuple[int, ...], iterations: int) -> dict[int, float]:
    """{body bytes: ns per datagram} of udr_mac_verify (C), the same -O2 as the router's cffi module."""
    out = subprocess.run([str(build_mac_micro()), str(iterations), *map(str, sizes)], check=True,
                         capture_output=True, text=True, timeout=300).stdout
    return {int(size): float(ns) for _, size, ns, _ in (line.split() for line in out.splitlines())}
