#!/usr/bin/env bash
# Create (or reuse) a virtual environment and install resnet-deploy into it.
#
#   VENV=path            where the environment lives (default: .venv in the repository)
#   TORCH_SPEC=...       the torch requirement installed first (default: torch==2.13.0, the
#                        CPU wheel this workplace provides). A GPU user installs a CUDA build
#                        instead, e.g. TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu128"
#   EXTRAS=cpu|dev|...   the pip extras to install (default: cpu)
#
# torch is installed first and on its own: the package's own `torch>=2.4` line is then already
# satisfied, so pip never pulls a second, multi-GB CUDA build behind your back.
# Source this file (it activates the environment) or run it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
EXTRAS="${EXTRAS:-cpu}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"

# Fashion-MNIST (Debian's dataset-fashion-mnist, 30 MB): installed where apt is available and
# we are root (CI); skipped quietly elsewhere, where its tests skip with the install command.
FASHION=/usr/share/datasets/fashion-mnist
if [ ! -d "$FASHION" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
        || echo "note: apt-get install dataset-fashion-mnist failed; the Fashion-MNIST tests will skip" >&2
fi

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
export PIP_DISABLE_PIP_VERSION_CHECK=1
python -m pip install -q --upgrade pip >/dev/null
# shellcheck disable=SC2086
python -m pip install -q $TORCH_SPEC
python -m pip install -q -e "$ROOT[$EXTRAS]"
