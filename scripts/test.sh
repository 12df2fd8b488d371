#!/usr/bin/env bash
# The test command: install into .venv (created if missing) with the dev extras, then lint,
# type-check and run the tests. CI runs exactly this on a clean clone (.ci/run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
EXTRAS=dev source scripts/setup_env.sh
# Reference implementations used only by tests, installed without their CUDA dependencies.
python -m pip install -q --no-deps "torchvision==0.28.0"

echo "== ruff"; ruff check .
echo "== mypy"; mypy resnet_deploy
echo "== pytest"; python -m pytest -q "$@"
