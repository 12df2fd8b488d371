"""TensorRT runner ("tensorrt"): a plan behind the common Runner interface, with device timing hooks.

It wraps resnet_deploy.tensorrt.Engine with one execution context (the benchmark harness
opens one runner per --streams context), so the checks that run before deserializing (plan
sidecar vs installed TensorRT and present GPU) and the buffer management are shared with
the embedding API. TensorRT and cuda-python are imported in activate(), never at import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from resnet_deploy.backends.base import Runner, TensorInfo
from resnet_deploy.errors import InvalidInputError

if TYPE_CHECKING:
    from resnet_deploy.tensorrt.engine import Engine, _Slot


class TensorRTRunner(Runner):
    """Runs a TensorRT plan on GPU `device`; `cuda_graphs` replays one captured graph per batch size."""

    name = "tensorrt"
    device = "cuda"

    def __init__(self, plan_path: str | os.PathLike[str], *, cuda_graphs: bool = False, gpu: int = 0) -> None:
        super().__init__()
        self.plan_path = Path(plan_path)
        self.cuda_graphs = cuda_graphs
        self.gpu = gpu
        self.engine: Engine | None = None
        self._slot: _Slot | None = None

    def _activate(self) -> None:
        from resnet_deploy.tensorrt.engine import Engine

        self.engine = Engine.load(self.plan_path, contexts=1, cuda_graphs=self.cuda_graphs, device=self.gpu)
        self._slot = self.engine._acquire()  # this runner owns the engine's one context

    def _deactivate(self) -> None:
        engine, self.engine, self._slot = self.engine, None, None
        if engine is not None:
            engine.close()

    def _require(self) -> tuple[Engine, _Slot]:
        if self.engine is None or self._slot is None:
            raise InvalidInputError("tensorrt: activate the runner first (use it as a context manager)")
        return self.engine, self._slot

    def inputs(self) -> list[TensorInfo]:
        return list(self._require()[0].inputs)

    def outputs(self) -> list[TensorInfo]:
        return list(self._require()[0].outputs)

    def batch_limits(self) -> tuple[int, int | None]:
        return self._require()[0].batch_limits()

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.check_feeds(feeds)
        return self._require()[1].run(feeds)

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        if self.engine is not None:
            info.update(self.engine.describe())
        return info

    # -- DeviceTimingHooks -----------------------------------------------------------------
    @property
    def stream(self) -> int:
        if self._slot is None:  # AttributeError keeps isinstance(runner, DeviceTimingHooks) from raising
            raise AttributeError("tensorrt: no CUDA stream before activate()")
        return self._slot.stream.handle

    def stage(self, feeds: Mapping[str, np.ndarray], *, device_resident: bool = False) -> None:
        self.check_feeds(feeds)
        slot = self._require()[1]
        slot.stage(feeds)
        slot.warm_up()  # shape-dependent setup now, not inside the timed loop or a graph capture
        if device_resident:
            slot.enqueue_h2d()
            slot.stream.synchronize()

    def enqueue_h2d(self) -> None:
        self._require()[1].enqueue_h2d()

    def enqueue_compute(self) -> None:
        self._require()[1].enqueue_compute()

    def enqueue_d2h(self) -> None:
        self._require()[1].enqueue_d2h()

    def synchronize(self) -> None:
        self._require()[1].stream.synchronize()

    def fetch_outputs(self) -> dict[str, np.ndarray]:
        return self._require()[1].fetch()
