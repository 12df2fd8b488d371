#!/usr/bin/env bash
# The test command: install into .venv (created if missing) with the dev extras, then lint,
# type-check and run the tests. CI runs exactly this on a clean clone (.ci/run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
EXTRAS=dev source scripts/setup_env.sh
# Reference implementations used only by tests, installed without their CUDA dependencies.
python -m pip install -q --no-deps "torchvision==0.28.0"
# TensorRT's Python API as type stubs (never a runtime dependency), mended so mypy reads them:
# `mypy resnet_deploy` then type-checks the TensorRT builder and runner without TensorRT.
python -m pip install -q --no-deps "tensorrt-stubs==10.13.0.35.1"
python scripts/mend_tensorrt_stubs.py

# The C++ examples' tests (tests/test_cpp_*.py) build examples/cpp with CMake and a C++17 compiler.
if ! command -v cmake >/dev/null 2>&1 || ! command -v c++ >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake g++ >/dev/null; } \
            || echo "note: apt-get could not install cmake and g++; the C++ example tests will skip" >&2
    else
        echo "note: cmake or a C++ compiler is missing (apt-get install cmake g++); the C++ example tests will skip" >&2
    fi
fi

echo "== ruff"; ruff check .
echo "== mypy"; mypy resnet_deploy
echo "== lint-imports"; lint-imports
# --dist loadgroup: tests marked xdist_group (the Triton server tests) share one worker, so
# one server starts per run; every other test is distributed as before.
echo "== pytest"; python -m pytest -q -n 2 --dist loadgroup "$@"
