"""TensorRT runner ("tensorrt"): a plan behind the common Runner interface, with device timing hooks.

It wraps resnet_deploy.tensorrt.Engine with one execution context (the benchmark harness
opens one runner per concurrent stream), so the checks that run before deserializing (plan
sidecar vs installed TensorRT and present GPU) and the buffer management are shared with
the embedding API. TensorRT and cuda-python are imported in activate(), never at import.

Threads: `infer` is safe to call from many threads. The calls are serialized on the runner's
one execution context, because a TensorRT IExecutionContext (and the slot's buffers and
stream) must never be used by two threads at once. For batches that really run concurrently,
use `Engine.load(plan, contexts=N)`, whose calls each check out their own context.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from resnet_deploy.backends.base import Runner, TensorInfo
from resnet_deploy.jsontypes import JsonObject

if TYPE_CHECKING:
    from resnet_deploy.runtime.engine import Engine, ExecutionSlot


class TensorRTRunner(Runner):
    """Runs a TensorRT plan on GPU `device`; `cuda_graphs` replays one captured graph per batch size.

    With `cuda_graphs` the runner replays its own graphs, so the harness does not capture
    `enqueue_compute` again (`own_cuda_graph`): a graph launch inside another capture would nest.
    """

    name = "tensorrt"
    device = "cuda"

    def __init__(self, plan_path: str | os.PathLike[str], *, cuda_graphs: bool = False, gpu: int = 0) -> None:
        super().__init__()
        self.plan_path = Path(plan_path)
        self.cuda_graphs = cuda_graphs
        self.gpu = gpu
        self.engine: Engine | None = None
        self._slot: ExecutionSlot | None = None
        self._checkout = contextlib.ExitStack()
        self._lock = threading.Lock()

    @property
    def own_cuda_graph(self) -> bool:
        return self.cuda_graphs

    def _activate(self) -> None:
        from resnet_deploy.runtime.engine import Engine

        self.engine = Engine.load(self.plan_path, contexts=1, cuda_graphs=self.cuda_graphs, device=self.gpu)
        try:
            self._slot = self._checkout.enter_context(self.engine.checkout())  # held until deactivate
        except BaseException:
            self._deactivate()
            raise

    def _deactivate(self) -> None:
        engine, self.engine, self._slot = self.engine, None, None
        try:
            self._checkout.close()  # give the slot back before closing the engine
        finally:
            if engine is not None:
                engine.close()

    def _require(self) -> tuple[Engine, ExecutionSlot]:
        if self.engine is None or self._slot is None:
            raise RuntimeError("tensorrt: activate the runner first (use it as a context manager)")
        return self.engine, self._slot

    @property
    def execution_slot(self) -> ExecutionSlot:
        """The runner's one execution context and buffers (the per-layer profiler attaches to it)."""
        return self._require()[1]

    def inputs(self) -> list[TensorInfo]:
        return list(self._require()[0].inputs)

    def outputs(self) -> list[TensorInfo]:
        return list(self._require()[0].outputs)

    def batch_limits(self) -> tuple[int, int | None]:
        return self._require()[0].batch_limits()

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One batch, synchronously; safe from many threads (serialized on the one context)."""
        self.check_feeds(feeds)
        with self._lock:
            return self._require()[1].run(feeds)

    def describe(self) -> JsonObject:
        info = super().describe()
        if self.engine is not None:
            info.update(self.engine.describe())
        return info

    # -- DeviceTimingHooks (one thread: the harness; each call holds the lock) --------------
    @property
    def stream(self) -> int:
        if self._slot is None:  # AttributeError keeps isinstance(runner, DeviceTimingHooks) from raising
            raise AttributeError("tensorrt: no CUDA stream before activate()")
        return self._slot.stream.handle

    def stage(self, feeds: Mapping[str, np.ndarray], *, device_resident: bool = False) -> None:
        self.check_feeds(feeds)
        with self._lock:
            slot = self._require()[1]
            slot.stage(feeds)
            slot.warm_up()  # shape-dependent setup now, not inside the timed loop or a graph capture
            if device_resident:
                slot.enqueue_h2d()
                slot.stream.synchronize()

    def enqueue_h2d(self, stream: int | None = None) -> None:
        with self._lock:
            self._require()[1].enqueue_h2d(stream)

    def enqueue_compute(self) -> None:
        with self._lock:
            self._require()[1].enqueue_compute()

    def enqueue_d2h(self, stream: int | None = None) -> None:
        with self._lock:
            self._require()[1].enqueue_d2h(stream)

    def synchronize(self) -> None:
        with self._lock:
            self._require()[1].stream.synchronize()

    def fetch_outputs(self) -> dict[str, np.ndarray]:
        with self._lock:
            return self._require()[1].fetch()
