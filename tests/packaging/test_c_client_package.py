"""The C client library installs and is found as users find libraries: pkg-config and find_package.

A program outside the repository includes the installed headers, links the installed library and
runs; one build uses `pkg-config --cflags --libs udprouter-client`, one a CMake project with
find_package(udprouter_client).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = r"""
#include <stdio.h>
#include <udprouter/client/udr_client.h>
#include <udprouter/client/udr_sbe_print.h>
int main(void) {
    udr_client_config config;
    udr_client_config_init(&config);
    const char *name = udr_sbe_message_name(UDR_SBE_UDPROUTER_SCHEMA_ID, 101);
    printf("%s %u %u\n", name, config.keepalive_ms, (unsigned)UDR_SBE_NEW_ORDER_SINGLE_BLOCK_LENGTH);
    return 0;
}
"""
CONSUMER_CMAKE = """cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(udprouter_client REQUIRED)
add_executable(consumer main.c)
target_link_libraries(consumer PRIVATE udprouter::udprouter_client)
"""
EXPECTED = "NewOrderSingle 1000 35\n"


def run(args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=300, **kw)


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    work = tmp_path_factory.mktemp("c-client-install")
    build, prefix = work / "build", work / "prefix"
    run(["cmake", "-S", str(ROOT / "clients/c"), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
         "-DUDR_CLIENT_EXAMPLES=OFF", f"-DCMAKE_INSTALL_PREFIX={prefix}"])
    run(["cmake", "--build", str(build), "--parallel", "2"])
    run(["cmake", "--install", str(build)])
    return prefix


def test_installed_library_builds_a_program_through_pkg_config(prefix, tmp_path):
    (tmp_path / "main.c").write_text(PROGRAM)
    pc_dirs = [str(p) for p in prefix.glob("lib*/pkgconfig")]
    env = dict(os.environ, PKG_CONFIG_PATH=os.pathsep.join(pc_dirs))
    flags = run(["pkg-config", "--cflags", "--libs", "--static", "udprouter-client"], env=env).stdout.split()
    run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", str(tmp_path / "main.c"), "-o",
         str(tmp_path / "prog"), *flags])
    assert run([str(tmp_path / "prog")]).stdout == EXPECTED


def test_installed_library_builds_a_program_through_find_package(prefix, tmp_path):
    (tmp_path / "main.c").write_text(PROGRAM)
    (tmp_path / "CMakeLists.txt").write_text(CONSUMER_CMAKE)
    run(["cmake", "-S", str(tmp_path), "-B", str(tmp_path / "build"), f"-DCMAKE_PREFIX_PATH={prefix}"])
    run(["cmake", "--build", str(tmp_path / "build")])
    assert run([str(tmp_path / "build" / "consumer")]).stdout == EXPECTED
