"""Every layer output of a TensorRT engine, for per-layer comparison (`validate --per-layer`).

TensorRT keeps no intermediate tensor of a built engine, so the per-layer runner builds a
debug engine: the ONNX model with every Conv/Gemm output added as a graph output (which the
ONNX parser marks as a network output), for exactly the batch being compared, and runs it
once. What that changes: a marked tensor must be written to memory, so TensorRT cannot fuse
its layer with the next one (a Conv+Add+Relu chain becomes separate kernels, and some
tactics change); the debug engine's numbers are those of a less fused engine. A divergence
it shows is real; one caused only by a fusion of the shipped plan can hide from it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from resnet_deploy.compare.per_layer import LayerTap

log = logging.getLogger(__name__)


def marked_outputs_tap(*, device: int = 0, workspace: str | None = None) -> LayerTap:
    """A LayerTap (compare/per_layer.py) that builds and runs the debug engine on GPU `device`."""

    def tap(model: Path, x: np.ndarray) -> dict[str, np.ndarray]:
        from resnet_deploy.tensorrt.builder import build_engine
        from resnet_deploy.tensorrt.engine import Engine

        batch = len(x)
        plan = model.with_suffix(".debug.plan")
        log.info("building a TensorRT debug engine with every layer output marked (batch %d)", batch)
        build_engine(model, plan, min_batch=batch, opt_batch=batch, max_batch=batch, workspace=workspace,
                     check_precision=False, device=device)
        with Engine.load(plan, device=device) as engine:
            name = engine.inputs[0].name
            outputs = engine.infer({name: np.ascontiguousarray(x.astype(engine.inputs[0].dtype, copy=False))})
        return {key: np.asarray(value) for key, value in outputs.items()}

    return tap
