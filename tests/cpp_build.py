"""Build examples/cpp once per test session (per xdist worker: the C++ tests share the
`cpp-build` xdist group, so under `--dist loadgroup` one worker builds it), for
tests/test_cpp_example.py and tests/test_cpp_openvino.py. OpenVINO comes from the wheel of the
interpreter running the tests; TensorRT wherever CMake finds it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "examples" / "cpp"
GROUP = "cpp-build"
_built: dict[str, Path] = {}


def build_examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build folder (configured and built on the first call; skips without CMake or a compiler)."""
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed (scripts/test.sh installs it with apt-get where it can)")
    if not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
        pytest.skip("no C++ compiler (c++/g++/clang++) found (scripts/test.sh installs g++ with apt-get where it can)")
    if "dir" in _built:
        return _built["dir"]
    build = tmp_path_factory.mktemp("cpp_build")
    configure = subprocess.run(["cmake", "-S", str(SOURCE), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                                f"-DOPENVINO_PYTHON={sys.executable}"], capture_output=True, text=True, check=False)
    assert configure.returncode == 0, configure.stdout + configure.stderr
    result = subprocess.run(["cmake", "--build", str(build), "-j", "2"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    (build / "configure.log").write_text(configure.stdout + configure.stderr)
    _built["dir"] = build
    return build
