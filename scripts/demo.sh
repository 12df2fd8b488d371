#!/usr/bin/env bash
# The main job on a fresh machine: install into .venv, then train, export, validate, quantize,
# build (where TensorRT is present), benchmark and report on the bundled digits dataset.
# A few minutes on 2 CPU cores; the report lands in runs/demo/report.md and report.html.
#   OUT=runs/other ./scripts/demo.sh    choose the output folder
#   QUICK=1 ./scripts/demo.sh           a smoke run (2 epochs, short benchmark)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/setup_env.sh
OUT="${OUT:-runs/demo}"
resnet-deploy info
resnet-deploy pipeline --model resnet20 --dataset digits --out "$OUT" ${QUICK:+--quick}
echo "open $OUT/report.html (or read $OUT/report.md)"
