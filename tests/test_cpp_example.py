"""examples/cpp: the sidecar reader builds and runs anywhere with CMake and a C++17 compiler;
the TensorRT program (resnet_infer_tensorrt) builds wherever TensorRT's headers and libnvinfer
are found and runs a plan where a GPU is. Each part skips with the reason when its tools are
missing. The OpenVINO program's tests are in test_cpp_openvino.py."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cpp_build import GROUP, SOURCE, build_examples
from tests.tensorrt.helpers import fake_plan

pytestmark = pytest.mark.xdist_group(GROUP)


def _tensorrt_found() -> str | None:
    """Why resnet_infer_tensorrt cannot be built here, or None."""
    roots = [os.environ.get("TENSORRT_ROOT", ""), "/usr", "/usr/local/tensorrt"]
    headers = [Path(r) / "include" / "NvInfer.h" for r in roots if r] + [
        Path("/usr/include/x86_64-linux-gnu/NvInfer.h"), Path("/usr/include/aarch64-linux-gnu/NvInfer.h")]
    if not any(h.is_file() for h in headers):
        return "TensorRT headers (NvInfer.h) not found; set TENSORRT_ROOT"
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    listed = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, check=False).stdout if os.path.exists(ldconfig) else ""
    libs = [Path(r) / d / "libnvinfer.so" for r in roots if r for d in ("lib", "lib64")]
    if "libnvinfer.so" not in listed and not any(lib.exists() for lib in libs):
        return "libnvinfer not found (ldconfig -p | grep nvinfer); set TENSORRT_ROOT"
    return None


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_examples(tmp_path_factory)


def _check(build: Path, plan: Path, version: str, cc: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(build / "sidecar_check"), str(plan), version, cc], capture_output=True, text=True,
                          check=False, timeout=30)


def test_sidecar_reader_agrees_with_python_rules(build_dir: Path, tmp_path: Path) -> None:
    plan = fake_plan(tmp_path, input_spec={"channels": 3, "height": 224, "width": 224,
                                           "class_names": ["cat", "dog \"husky\"", "n\u00e9e"]})
    ok = _check(build_dir, plan, "10.13.0.35", "8.6")
    assert ok.returncode == 0, ok.stderr
    assert "tensorrt 10.13.0.35" in ok.stdout and "input input batch 1..256" in ok.stdout and "classes 3" in ok.stdout
    other_version = _check(build_dir, plan, "10.14.1.48", "8.6")
    assert other_version.returncode == 2 and "built with TensorRT 10.13.0.35" in other_version.stderr
    other_gpu = _check(build_dir, plan, "10.13.0.35", "9.0")
    assert other_gpu.returncode == 2 and "compute capability 8.6" in other_gpu.stderr
    portable = fake_plan(tmp_path, "portable.plan", version_compatible=True, hardware_compatibility="ampere_plus")
    assert _check(build_dir, portable, "11.1.0.7", "9.0").returncode == 0
    assert _check(build_dir, portable, "10.13.0.35", "7.5").returncode == 2
    (tmp_path / "bad.plan").write_bytes(b"x")
    (tmp_path / "bad.plan.json").write_text("{\"kind\": \"plan\", ")
    broken = _check(build_dir, tmp_path / "bad.plan", "10.13.0.35", "8.6")
    assert broken.returncode == 2 and "invalid JSON" in broken.stderr


def test_tensorrt_program_builds_where_tensorrt_is(build_dir: Path, tmp_path: Path) -> None:
    reason = _tensorrt_found()
    if reason:
        pytest.skip(reason)
    binary = build_dir / "resnet_infer_tensorrt"
    assert binary.is_file(), "TensorRT was found but CMake did not build resnet_infer_tensorrt"
    usage = subprocess.run([str(binary)], capture_output=True, text=True, check=False, timeout=30)
    assert usage.returncode == 2 and "usage" in usage.stderr
    mismatched = fake_plan(tmp_path, tensorrt_version="9.0.0.1")
    refused = subprocess.run([str(binary), str(mismatched), "--random", "4"], capture_output=True, text=True, check=False,
                             timeout=60)
    assert refused.returncode in (2, 3), refused.stderr  # 3 when this machine has no GPU
    assert len(refused.stderr.strip().splitlines()) == 1 and refused.stderr.startswith("error: "), refused.stderr


def _header_trees() -> list[Path]:
    """TensorRT include folders to compile against: TENSORRT_INCLUDE_DIRS (several, separated by
    ':', e.g. the 10.x and 11.x trees of NVIDIA's TensorRT OSS repository), else the installed one."""
    listed = [Path(p) for p in os.environ.get("TENSORRT_INCLUDE_DIRS", "").split(os.pathsep) if p]
    roots = [os.environ.get("TENSORRT_ROOT", ""), "/usr", "/usr/local/tensorrt"]
    found = [Path(r) / "include" for r in roots if r] + [Path("/usr/include/x86_64-linux-gnu"), Path("/usr/include/aarch64-linux-gnu")]
    return [d for d in listed or found if (d / "NvInfer.h").is_file()]


def test_tensorrt_program_compiles_against_each_tensorrt_header_tree() -> None:
    """The TensorRT example and the headers it shares with the OpenVINO one compile against every
    TensorRT header tree given (10.x and 11.x), without TensorRT's libraries or a GPU."""
    compiler = next((c for c in ("c++", "g++", "clang++") if shutil.which(c)), None)
    trees = _header_trees()
    cuda = [Path(os.environ.get("CUDA_HOME", "/usr/local/cuda")) / "include", Path("/usr/include")]
    cuda_include = next((d for d in cuda if (d / "cuda_runtime_api.h").is_file()), None)
    if compiler is None or not trees or cuda_include is None:
        pytest.skip("needs a C++ compiler, TensorRT headers (TENSORRT_INCLUDE_DIRS or an install) and CUDA's "
                    "cuda_runtime_api.h (CUDA_HOME)")
    for tree in trees:
        result = subprocess.run([compiler, "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror",
                                 "-Wno-deprecated-declarations", "-isystem", str(tree), "-isystem", str(cuda_include),
                                 str(SOURCE / "tensorrt_main.cpp")], capture_output=True, text=True, check=False, timeout=120)
        assert result.returncode == 0, f"{tree}:\n{result.stderr[-3000:]}"
