"""What kind of artifact a name is, from its suffix alone: an ONNX model, a TensorRT plan, or
something PyTorch runs (a checkpoint, bare weights, a registry model name).

Light (no imports), so the backend registry and the CLI's choices can use it without loading
the readers in export.artifact.
"""

from __future__ import annotations

import os
from pathlib import Path

ONNX_SUFFIXES = (".onnx",)
PLAN_SUFFIXES = (".plan", ".engine", ".trt")
CHECKPOINT_SUFFIXES = (".safetensors",)
WEIGHTS_SUFFIXES = (".pth", ".pt")
KIND_TEXT = {"onnx": "an ONNX model", "plan": "a TensorRT plan", "checkpoint": "a checkpoint or model name"}


def artifact_kind(source: str | os.PathLike[str]) -> str:
    """What a backend runs: onnx, plan, or checkpoint (a checkpoint file, bare weights or a
    registry model name), from the name alone."""
    suffix = Path(os.fspath(source)).suffix.lower()
    if suffix in ONNX_SUFFIXES:
        return "onnx"
    if suffix in PLAN_SUFFIXES:
        return "plan"
    return "checkpoint"
