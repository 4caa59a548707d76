"""Build hook for the cffi extension (API mode, compiled at install time, never at import time)."""

from setuptools import setup

setup(
    cffi_modules=[
        "src/udprouter/_ffi_build.py:ffibuilder",
        "tools/loadgen/_loadgen_build.py:ffibuilder",
    ]
)
