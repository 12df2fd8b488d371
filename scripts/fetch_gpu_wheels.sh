#!/usr/bin/env bash
# On a networked machine: download into .whl/ the wheels an offline GPU machine needs to run
# scripts/gpu_check.sh, for the GPU image this workplace lends (Python 3.12, manylinux x86-64,
# torch 2.11+cu130, cuda-bindings, nvidia-ml-py, onnx, onnxruntime CPU; no TensorRT, no network).
#
#   bash scripts/fetch_gpu_wheels.sh                 # onnxruntime-gpu + what resnet-deploy needs
#   WITH_TENSORRT=1 bash scripts/fetch_gpu_wheels.sh # also TensorRT for CUDA 13 (several GB)
#
# What it fetches, and why:
#   onnxruntime-gpu   the CUDA/TensorRT execution providers (built for CUDA 13: the image's CUDA);
#                     it replaces the image's CPU onnxruntime at run time (same module name)
#   pydantic (+ pydantic-core, annotated-types, typing-inspection, typing-extensions)
#                     resnet-deploy >= this round reads every JSON through pydantic v2 models;
#                     the image has none of them (typing-extensions: pydantic-core needs a newer one)
#   onnxslim          resnet-deploy's export simplifier; not in the image
#   mlcommons-loadgen MLPerf's load generator for the mlperf stages (a 0.5 MB cp312 wheel)
#   tensorrt-cu13*    only with WITH_TENSORRT=1 (the image has no TensorRT)
# Every other runtime dependency of resnet-deploy (torch, numpy, click, safetensors, onnx,
# onnxscript, scikit-learn, pillow, matplotlib, tqdm, rich) is in the image: they are not fetched,
# and gpu_check.sh --dry-run checks that they import.
#
# Files reach that machine only when none is over 64 MiB: bigger wheels are split into
# NAME.whl.part-000, -001, ... (60 MiB each); SHA256SUMS lists every whole wheel, and
# gpu_check.sh re-joins and checks them before installing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${DEST:-$ROOT/.whl}"
PYTHON="${PYTHON:-python3}"
PART_BYTES=$((60 * 1024 * 1024))
LIMIT_BYTES=$((64 * 1024 * 1024))
PACKAGES=("onnxruntime-gpu" "pydantic>=2.7" "onnxslim>=0.1.40" "typing-extensions>=4.16" "mlcommons-loadgen")
if [ "${WITH_TENSORRT:-0}" = "1" ]; then
    PACKAGES+=("tensorrt-cu13")
fi
# The image's own packages (from the lent image's package list): never fetched again.
IMAGE_HAS="colorama coloredlogs flatbuffers humanfriendly ml-dtypes numpy onnx onnx-ir onnxscript packaging protobuf sympy mpmath torch"

mkdir -p "$DEST"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
echo "downloading for CPython 3.12 manylinux x86-64: ${PACKAGES[*]}"
"$PYTHON" -m pip download --quiet --dest "$STAGE" --only-binary=:all: --implementation cp \
    --python-version 3.12 --abi cp312 --abi abi3 --abi none \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any "${PACKAGES[@]}"

rm -f "$DEST"/*.whl "$DEST"/*.whl.part-* "$DEST"/SHA256SUMS
for wheel in "$STAGE"/*.whl; do
    name="$(basename "$wheel")"
    project="$(echo "${name%%-*}" | tr '_' '-' | tr '[:upper:]' '[:lower:]')"
    if [[ " $IMAGE_HAS " == *" $project "* ]]; then
        echo "  skip  $name (the GPU image has $project)"
        continue
    fi
    (cd "$STAGE" && sha256sum "$name") >> "$DEST/SHA256SUMS"
    size="$(stat -c %s "$wheel")"
    if [ "$size" -gt "$LIMIT_BYTES" ]; then
        split -b "$PART_BYTES" -d -a 3 "$wheel" "$DEST/$name.part-"
        echo "  split $name ($((size / 1048576)) MiB) into $(ls "$DEST/$name".part-* | wc -l) parts"
    else
        cp "$wheel" "$DEST/$name"
        echo "  keep  $name ($((size / 1024)) KiB)"
    fi
done
largest="$(find "$DEST" -type f -printf '%s\n' | sort -n | tail -1)"
if [ "${largest:-0}" -gt "$LIMIT_BYTES" ]; then
    echo "error: a file in $DEST is over 64 MiB" >&2
    exit 1
fi
echo "wrote $DEST ($(du -sh "$DEST" | cut -f1), largest file $((largest / 1048576)) MiB); copy it with the repository"
echo "to the GPU machine and run: bash scripts/gpu_check.sh OUTDIR"
