"""Small models and fake runners for the harness tests."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from resnet_deploy.backends.base import Runner, TensorInfo


def tiny_onnx(path: Path, *, channels: int = 3, size: int = 32, width: int = 8,
              shape: list[Any] | None = None) -> Path:
    """Conv -> Relu -> Conv -> GlobalAveragePool -> Flatten -> Gemm, dynamic batch, built by hand
    (faster than a torch export)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((width, channels, 3, 3)).astype(np.float32) * 0.1, "w1"),
        numpy_helper.from_array(rng.standard_normal((width, width, 3, 3)).astype(np.float32) * 0.1, "w2"),
        numpy_helper.from_array(rng.standard_normal((10, width)).astype(np.float32) * 0.1, "fc"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["c2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fc"], ["logits"], transB=1),
    ]
    in_shape = shape if shape is not None else ["N", channels, size, size]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


class FakeRunner(Runner):
    """A runner with fixed batch limits and a fixed (or zero) sleep per infer."""

    name = "fake"

    def __init__(self, limits: tuple[int, int | None] = (1, 8), shape: tuple[Any, ...] = (None, 3, 16, 16),
                 sleep_s: float = 0.0) -> None:
        super().__init__()
        self.limits, self.shape, self.sleep_s = limits, shape, sleep_s
        self.batches_seen: list[int] = []

    def _activate(self) -> None:
        pass

    def _deactivate(self) -> None:
        pass

    def inputs(self) -> list[TensorInfo]:
        return [TensorInfo("input", self.shape, np.dtype(np.float32))]

    def outputs(self) -> list[TensorInfo]:
        return [TensorInfo("logits", (None, 10), np.dtype(np.float32))]

    def batch_limits(self) -> tuple[int, int | None]:
        return self.limits

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = self.check_feeds(feeds)
        self.batches_seen.append(batch)
        if self.sleep_s:
            time.sleep(self.sleep_s)
        return {"logits": np.zeros((batch, 10), np.float32)}
