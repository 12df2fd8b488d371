#!/usr/bin/env bash
# The whole GPU verification on an offline GPU machine, in one command (under 9 minutes on one H100):
#
#   bash scripts/gpu_check.sh OUTDIR            # install .whl/, info, pytest -m gpu, sweep, train, validate
#   bash scripts/gpu_check.sh --dry-run OUTDIR  # check every prerequisite and print the plan (any machine)
#
# The wheels come from scripts/fetch_gpu_wheels.sh (run it on a networked machine and copy .whl/
# with the repository). They are installed with pip --no-index --no-deps into a throw-away folder
# (RD_SITE, default /tmp/rd-site) put first on PYTHONPATH: the image's torch is never touched, and
# onnxruntime-gpu shadows the image's CPU onnxruntime (the same module) for this run only.
# PYTHON picks the interpreter (default python3: on the GPU image, the one that holds PyTorch).
# Results, logs and summary.md go to OUTDIR; exit 0 when no stage failed, 1 when one did,
# 2 when a prerequisite is broken (a corrupt or incomplete wheel, an unusable OUTDIR).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "error: $PYTHON not found; set PYTHON=/path/to/python3" >&2
    exit 2
fi
if [ $# -lt 1 ]; then
    echo "usage: bash scripts/gpu_check.sh [--dry-run] OUTDIR" >&2
    exit 2
fi
cd "$ROOT"
exec "$PYTHON" "$ROOT/scripts/gpu_check.py" "$@"
