#!/usr/bin/env bash
# Build the C++ examples (examples/cpp) with CMake and, given a model, run the matching one:
#
#   bash scripts/build_cpp_example.sh                                   # build into build/cpp
#   bash scripts/build_cpp_example.sh r20.int8.onnx --random 64 --threads 2   # then run resnet_infer_openvino
#   bash scripts/build_cpp_example.sh r50_fp16.plan --random 64 --threads 2   # .plan: resnet_infer_tensorrt
#
# OpenVINO comes from the openvino wheel of PYTHON (default: .venv/bin/python, else python3), or a
# system install found by CMake; TensorRT from TENSORRT_ROOT or the system (its headers and
# libnvinfer; the pip wheel has no headers). BUILD_DIR (default build/cpp) is where it builds.
# Exit codes: 3 when cmake, a compiler or the runtime the model needs is missing, the build's
# when it fails, else the program's (0 done, 1 failure, 2 bad input).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build/cpp}"
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON="$(command -v python3 || true)"; fi
fi
mkdir -p "$BUILD_DIR"
for tool in cmake c++; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "error: $tool is not installed (Debian/Ubuntu: apt-get install cmake g++)" >&2
        exit 3
    fi
done
cmake -S "$ROOT/examples/cpp" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release ${PYTHON:+"-DOPENVINO_PYTHON=$PYTHON"} >"$BUILD_DIR/configure.log" 2>&1 \
    || { cat "$BUILD_DIR/configure.log" >&2; exit 1; }
grep -E "^-- (OpenVINO|TensorRT)" "$BUILD_DIR/configure.log" || true
cmake --build "$BUILD_DIR" -j "$(nproc 2>/dev/null || echo 2)" >"$BUILD_DIR/build.log" 2>&1 \
    || { tail -30 "$BUILD_DIR/build.log" >&2; exit 1; }
echo "built: $(cd "$BUILD_DIR" && ls resnet_infer_openvino resnet_infer_tensorrt sidecar_check 2>/dev/null | tr '\n' ' ')"
[ $# -eq 0 ] && exit 0

case "$1" in
    *.plan) program="$BUILD_DIR/resnet_infer_tensorrt"; needs="TensorRT (headers and libnvinfer; set TENSORRT_ROOT) and the CUDA toolkit" ;;
    *) program="$BUILD_DIR/resnet_infer_openvino"; needs="OpenVINO (pip install -e '.[openvino]' in the PYTHON environment, or set OpenVINO_DIR)" ;;
esac
if [ ! -x "$program" ]; then
    echo "error: $(basename "$program") was not built: CMake did not find $needs (see $BUILD_DIR/configure.log)" >&2
    exit 3
fi
exec "$program" "$@"
