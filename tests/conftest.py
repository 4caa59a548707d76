"""Suite-wide rules: in CI (CI=true) a skipped test is a failure, so nothing is silently skipped."""

import os

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI is a failure: {report.longrepr}"


C_CLIENT_SOURCE = "clients/c"
# `make client-c` builds here; the fixture builds if it has not. UDR_C_CLIENT_BUILD names another
# build (the sanitizer build of `make test-client-c-debug`).
C_CLIENT_BUILD = os.environ.get("UDR_C_CLIENT_BUILD", "build/client-c")


@pytest.fixture(scope="session")
def c_client_bin():
    """c_client_bin(name) -> path of a program of the C client library's build (brought up to date once)."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    build = root / C_CLIENT_BUILD
    if not (build / "CMakeCache.txt").exists():
        subprocess.run(["cmake", "-S", str(root / C_CLIENT_SOURCE), "-B", str(build),
                        "-DCMAKE_BUILD_TYPE=Release"], check=True, capture_output=True, timeout=300)
    subprocess.run(["cmake", "--build", str(build), "--parallel", "2"], check=True, capture_output=True,
                   timeout=600)
    return lambda name: build / name
