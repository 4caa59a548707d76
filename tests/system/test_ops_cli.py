"""The operator's command line: `udprouter --version`, and clear errors from the journal tools."""

from __future__ import annotations

import subprocess
import sys

from udprouter import __version__
from udprouter.config import REPO_ROOT


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "udprouter.cli", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60)


def test_version_prints_the_package_version():
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"udprouter {__version__}"


def test_journal_tools_name_a_missing_path(tmp_path):
    missing = tmp_path / "nowhere"
    for tool in ("dump", "verify"):
        result = cli("journal", tool, str(missing))
        assert result.returncode == 2
        assert result.stderr.strip() == f"udprouter journal: {missing}: no such file or directory"


def test_verify_of_an_empty_journal_directory_is_ok(tmp_path):
    result = cli("journal", "verify", str(tmp_path))
    assert result.returncode == 0 and '"commands": 0' in result.stdout


def test_a_file_that_is_not_a_journal_is_named_at_offset_0(tmp_path):
    bogus = tmp_path / "journal-00000000000000000001.log"
    bogus.write_bytes(b"not a journal segment at all")
    result = cli("journal", "verify", str(tmp_path))
    assert result.returncode == 1 and f"{bogus} offset 0: not a journal segment" in result.stderr
