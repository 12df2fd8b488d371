#!/usr/bin/env bash
# The main job on a fresh machine: install into .venv, then run it on the bundled default.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/setup_env.sh
resnet-deploy info
resnet-deploy models
