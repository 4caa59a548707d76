"""The C UDP echo server (bench/c/udp_echo.c) as a context manager: built with cc into build/bench/
when its source is newer, started on an ephemeral loopback port, stopped by its pid on exit."""

import re
import shutil
import subprocess
from pathlib import Path

from bench.udp_servers import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "bench" / "c" / "udp_echo.c"
BINARY = ROOT / "build" / "bench" / "udp_echo"


def build_udp_echo(binary: Path = BINARY) -> Path:
    """Compiles udp_echo if the binary is missing or older than its source; returns its path."""
    if binary.exists() and binary.stat().st_mtime >= SOURCE.stat().st_mtime:
        return binary
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise FileNotFoundError("no C compiler (cc) to build bench/c/udp_echo.c")
    binary.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-o", str(binary), str(SOURCE)], check=True)
    return binary


class EchoServer(ServerProcess):
    """with EchoServer(spin=False) as echo: ... echo.port ... (started and stopped as every
    benchmark server is: bench/udp_servers.ServerProcess)."""

    def __init__(self, spin: bool = False, max_seconds: int = 300) -> None:
        args = [str(build_udp_echo()), "--port", "0", "--max-seconds", str(max_seconds)]
        super().__init__(args + (["--spin"] if spin else []), re.compile(r"PORT (\d+)"))
