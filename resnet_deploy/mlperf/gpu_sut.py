"""NVIDIA's harness design for TensorRT plans, on the project's Engine (runtime/engine.py).

Each stream worker checks one execution slot out of the engine for the whole run: its own
CUDA stream, pinned host buffers and device buffers sized for the profile's largest batch,
and (with `cuda_graphs`) one captured CUDA graph per batch size. A batch is gathered from the
loaded samples straight into the slot's pinned input buffer, copied to the device, run (the
graph for that batch size is replayed), and copied back into the slot's pinned output buffer;
LoadGen is answered from that host buffer, row by row, before the slot takes its next batch
(so the memory stays valid until QuerySamplesComplete returns: pitfall 2). Several workers
keep several batches in flight on several streams.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

import numpy as np

from resnet_deploy.mlperf.samples import SampleStore
from resnet_deploy.mlperf.suts import Fault, QuerySample, Responder

log = logging.getLogger(__name__)


class EngineExecutor:
    """Batches on a TensorRT `Engine` with `streams` slots (load it with contexts >= streams)."""

    def __init__(self, engine: Any, store: SampleStore, responder: Responder, fault: Fault, streams: int = 2) -> None:
        self.engine, self.store, self.responder, self.fault = engine, store, responder, fault
        self.streams = max(1, streams)
        if len(engine.inputs) != 1:
            raise ValueError(f"the plan takes {len(engine.inputs)} inputs; MLPerf's image classification needs one")
        self.input = engine.inputs[0]
        self.output = next((o for o in engine.outputs if o.name == "logits"), engine.outputs[0])
        self._queue: queue.Queue[list[QuerySample] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._ready = threading.Barrier(self.streams + 1)

    def batch_limits(self) -> tuple[int, int]:
        limits: tuple[int, int] = self.engine.batch_limits()
        return limits

    def start(self) -> None:
        for i in range(self.streams):
            thread = threading.Thread(target=self._stream_worker, name=f"mlperf-stream-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._ready.wait(timeout=60)  # every worker holds its slot before LoadGen starts

    def run_on(self, slot: Any, samples: list[QuerySample]) -> None:
        """One batch on `slot`, answered from its pinned output rows (suts.Responder.answer_batch)."""
        self.responder.answer_batch(samples, lambda: self._compute(slot, samples),
                                    source=f"the plan ('{self.output.name}')", top1=False)

    def _compute(self, slot: Any, samples: list[QuerySample]) -> np.ndarray:
        """Gather into the slot's pinned input, H2D, compute (graph), D2H: the output rows, a
        view of the slot's pinned output buffer (valid until the slot takes its next batch)."""
        staged = slot.input_views({self.input.name: (len(samples), *self.store.sample_shape)})[self.input.name]
        self.store.gather([s.index for s in samples], out=staged)
        slot.enqueue_h2d()
        slot.enqueue_compute()
        slot.enqueue_d2h()
        slot.stream.synchronize()
        view: np.ndarray = slot.host[self.output.name].view(self.output.dtype, slot.output_shapes[self.output.name])
        return view

    def run(self, samples: list[QuerySample]) -> None:
        """Inline (SingleStream, MultiStream): on any free slot."""
        with self.engine.checkout() as slot:
            self.run_on(slot, samples)

    def submit(self, samples: list[QuerySample]) -> None:
        self._queue.put(samples)

    def _stream_worker(self) -> None:
        def serve() -> None:
            with self.engine.checkout() as slot:
                self._ready.wait(timeout=60)
                while True:
                    batch = self._queue.get()
                    if batch is None:
                        return
                    self.fault.guard(f"a batch of {len(batch)} failed on stream {slot.index}",
                                     lambda b=batch: self.run_on(slot, b))  # type: ignore[misc]

        self.fault.guard("a stream worker failed", serve)

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []
