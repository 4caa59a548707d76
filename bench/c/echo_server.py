"""The C UDP echo server (bench/c/udp_echo.c) as a context manager: built with cc into build/bench/
when its source is newer, started on an ephemeral loopback port, stopped by its pid on exit."""

import shutil
import signal
import subprocess
from pathlib import Path

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


class EchoServer:
    """with EchoServer(spin=False) as echo: ... echo.port ..."""

    def __init__(self, spin: bool = False, max_seconds: int = 300) -> None:
        self.spin = spin
        self.max_seconds = max_seconds
        self.port = 0
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> "EchoServer":
        args = [str(build_udp_echo()), "--port", "0", "--max-seconds", str(self.max_seconds)]
        args += ["--spin"] if self.spin else []
        self._proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = self._proc.stdout.readline() if self._proc.stdout else ""
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"udp_echo did not report its port: {line!r}")
        self.port = int(line.split()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc else 0

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()
        self._proc = None
