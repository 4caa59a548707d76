"""Build hooks that pyproject.toml cannot declare: the cffi extensions and the engine binary.

- cffi modules (API mode): compiled at install time, never at import time.
- The engine: a wheel (and any non-editable install) runs CMake on engine/ and ships the
  `udprouter-engine` executable inside the package (udprouter/bin/), so `udprouter serve` works in a
  venv anywhere. An editable install (`make setup`) skips it: the Makefile builds build/engine/.
"""

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
ENGINE_TARGET = "udprouter-engine"
PACKAGED_ENGINE = Path("udprouter") / "bin" / ENGINE_TARGET  # config.PACKAGED_ENGINE_BIN agrees


class BuildPyWithEngine(build_py):
    """build_py, then the engine built by CMake (Release) and copied into the package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        build_dir = Path(self.build_lib).resolve().parent / "engine-cmake"
        jobs = str(os.cpu_count() or 2)
        subprocess.run(["cmake", "-S", str(ROOT / "engine"), "-B", str(build_dir),
                        "-DCMAKE_BUILD_TYPE=Release"], check=True)
        subprocess.run(["cmake", "--build", str(build_dir), "--target", ENGINE_TARGET,
                        "--parallel", jobs], check=True)
        target = Path(self.build_lib) / PACKAGED_ENGINE
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(build_dir / ENGINE_TARGET, target)
        target.chmod(0o755)


setup(
    # Python-version independent: the cffi modules use the stable ABI, the engine is an executable.
    options={"bdist_wheel": {"py_limited_api": "cp311"}},
    cmdclass={"build_py": BuildPyWithEngine},
    cffi_modules=[
        "src/udprouter/_ffi_build.py:ffibuilder",
        "src/udprouter/loadgen/_loadgen_build.py:ffibuilder",
    ],
)
