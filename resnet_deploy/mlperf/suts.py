"""Systems under test that hold LoadGen's load, for every scenario, and never hang.

Front-ends (how LoadGen's queries become batches), after the reference harness
(mlcommons/inference vision/classification_and_detection/python/main.py) and NVIDIA's:
- SingleStream: each one-sample query runs inline, in LoadGen's issuing thread.
- MultiStream: each query (8 samples under the ResNet-50 rules) runs as one batch, inline.
- Offline: the one big query is split into batches that worker threads run.
- Server: samples arriving at random go into a queue; a batcher waits up to a timeout for a
  fuller batch, then hands it to the workers.
Back-ends (executors) run a batch and answer LoadGen: `HostExecutor` calls a predictor
(gpu_sut.py has NVIDIA's per-stream design for TensorRT plans).

Failure handling (docs/mlperf.md, pitfalls 2-4): a response's buffer stays alive until
QuerySamplesComplete returns; nothing ever raises into LoadGen (an exception inside
issue_queries crashes the process with empty logs): every callback catches and reports to
the run's `Fault`, which ends the process with one line and an exit code; a predictor that
returns fewer results than samples is caught at once; a `LostSampleMonitor` ends the run
when samples are outstanding that no queue or batch holds any more (LoadGen would wait for
them forever).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from resnet_deploy.mlperf.predictors import Predictor
from resnet_deploy.mlperf.samples import SampleStore

log = logging.getLogger(__name__)


class QuerySample(Protocol):
    """What LoadGen hands the SUT per sample: a response id and the QSL index."""

    id: int
    index: int


class Fault:
    """The first failure of a run. `on_fault(message, exit_code)` ends it (in a scenario's
    process: write the status file and exit); later failures are only logged."""

    def __init__(self, on_fault: Callable[[str, int], None]) -> None:
        self._on_fault = on_fault
        self._lock = threading.Lock()
        self.message: str | None = None

    def report(self, message: str, exit_code: int = 1) -> None:
        with self._lock:
            first = self.message is None
            if first:
                self.message = message
        if first:
            log.error("%s", message)
            self._on_fault(message, exit_code)
        else:
            log.error("(after the first failure) %s", message)

    def guard(self, what: str, call: Callable[[], None]) -> None:
        """Run `call`; any exception becomes this run's fault instead of reaching LoadGen."""
        try:
            call()
        except BaseException as exc:
            self.report(f"{what}: {type(exc).__name__}: {_one_line(exc)}", getattr(exc, "exit_code", 1))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class Ledger:
    """Samples issued and not yet answered, and the samples some queue or batch holds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outstanding: dict[int, float] = {}
        self._held = 0

    def issued(self, samples: Sequence[QuerySample]) -> None:
        now = time.monotonic()
        with self._lock:
            for sample in samples:
                self._outstanding[sample.id] = now
            self._held += len(samples)

    def answered(self, samples: Sequence[QuerySample]) -> None:
        with self._lock:
            for sample in samples:
                self._outstanding.pop(sample.id, None)

    def released(self, count: int) -> None:
        """A batch is over (answered or failed): its samples are no longer held."""
        with self._lock:
            self._held -= count

    def unheld(self) -> tuple[int, float]:
        """(samples outstanding that nothing holds, age in s of the oldest outstanding)."""
        with self._lock:
            lost = len(self._outstanding) - self._held
            oldest = min(self._outstanding.values(), default=time.monotonic())
        return max(0, lost), time.monotonic() - oldest


class Responder:
    """Answers LoadGen from an array that stays alive until QuerySamplesComplete has returned
    (pitfall 2): a predictor's batch as the top-1 class of each sample, int32 (what MLPerf's
    ResNet-50 accuracy script reads with --dtype int32); a plan's output rows as they are."""

    def __init__(self, lg: Any, ledger: Ledger) -> None:
        self._lg = lg
        self.ledger = ledger

    def answer_batch(self, samples: Sequence[QuerySample], run: Callable[[], np.ndarray], *,
                     source: str = "the predictor", top1: bool = True) -> None:
        """The one way a batch ends, for every executor: `run()` computes the batch and gives its
        output, which answers it (`answer`); the batch's samples are released from the ledger
        whether that worked or not."""
        try:
            self.answer(samples, run(), source=source, top1=top1)
        finally:
            self.ledger.released(len(samples))

    def answer(self, samples: Sequence[QuerySample], output: np.ndarray, *, source: str = "the predictor",
               top1: bool = True) -> None:
        """Answer `samples` from `output`, one row per sample (else a LostSampleError naming
        `source`): each row's top-1 class as int32 with `top1`, else the row as it is (the
        memory, e.g. an execution slot's pinned output buffer, is read in place)."""
        output = np.asarray(output)
        if output.ndim != 2 or output.shape[0] != len(samples):
            missing = max(0, len(samples) - (output.shape[0] if output.ndim else 0))
            raise LostSampleError(f"{source} returned output of shape {tuple(output.shape)} for a batch of "
                                  f"{len(samples)} samples, so {missing} sample(s) would never be answered")
        rows = np.ascontiguousarray(output.argmax(axis=1).astype(np.int32) if top1 else output)
        self.answer_buffer(samples, rows.ctypes.data, rows.itemsize * (rows.size // max(1, len(samples))), keep=rows)

    def answer_buffer(self, samples: Sequence[QuerySample], pointer: int, row_bytes: int, keep: Any = None) -> None:
        """Answer from memory at `pointer` (one row of `row_bytes` per sample), which the caller
        keeps alive until this returns (`keep` is held here for that too)."""
        responses = [self._lg.QuerySampleResponse(s.id, pointer + i * row_bytes, row_bytes)
                     for i, s in enumerate(samples)]
        self._lg.QuerySamplesComplete(responses)
        del keep
        self.ledger.answered(samples)


class LostSampleError(RuntimeError):
    """A predictor answered fewer samples than it was given."""

    exit_code = 1


class HostExecutor:
    """Runs batches on a predictor: inline (`run`) or on `workers` threads (`submit`)."""

    def __init__(self, predictor: Predictor, store: SampleStore, responder: Responder, fault: Fault,
                 workers: int = 1) -> None:
        self.predictor, self.store, self.responder, self.fault = predictor, store, responder, fault
        self.workers = max(1, workers)
        self._queue: queue.Queue[list[QuerySample] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"mlperf-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def run(self, samples: list[QuerySample]) -> None:
        self.responder.answer_batch(samples, lambda: self.predictor.predict(self.store.gather([s.index for s in samples])))

    def submit(self, samples: list[QuerySample]) -> None:
        self._queue.put(samples)

    def _work(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            self.fault.guard(f"a batch of {len(batch)} failed", lambda b=batch: self.run(b))  # type: ignore[misc]

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []


class Executor(Protocol):
    def start(self) -> None: ...

    def run(self, samples: list[QuerySample]) -> None: ...

    def submit(self, samples: list[QuerySample]) -> None: ...

    def stop(self) -> None: ...


class ScenarioSUT:
    """LoadGen's issue_queries / flush_queries for one scenario, over an executor."""

    def __init__(self, scenario: str, executor: Executor, ledger: Ledger, fault: Fault, *, batch_size: int,
                 batch_timeout_s: float = 0.002) -> None:
        self.scenario, self.executor, self.ledger, self.fault = scenario, executor, ledger, fault
        self.batch_size = max(1, batch_size)
        self.batch_timeout_s = batch_timeout_s
        self._arrivals: queue.Queue[QuerySample | None] = queue.Queue()
        self._batcher: threading.Thread | None = None

    def start(self) -> None:
        if self.scenario in ("SingleStream", "MultiStream"):
            return  # inline: LoadGen's issuing thread runs each query
        self.executor.start()
        if self.scenario == "Server":
            self._batcher = threading.Thread(target=self._batch_loop, name="mlperf-batcher", daemon=True)
            self._batcher.start()

    def issue_queries(self, samples: Sequence[QuerySample]) -> None:
        """LoadGen's callback: never raises (an exception here crashes LoadGen's process)."""
        self.fault.guard(f"{self.scenario}: issuing {len(samples)} sample(s) failed",
                         lambda: self._issue(list(samples)))

    def flush_queries(self) -> None:
        """Nothing is held back for long: the Server batcher's timeout bounds every wait."""

    def _issue(self, samples: list[QuerySample]) -> None:
        self.ledger.issued(samples)
        if self.scenario in ("SingleStream", "MultiStream"):
            self.executor.run(samples)
        elif self.scenario == "Offline":
            for start in range(0, len(samples), self.batch_size):
                self.executor.submit(samples[start:start + self.batch_size])
        else:
            for sample in samples:
                self._arrivals.put(sample)

    def _batch_loop(self) -> None:
        """The Server batcher: the first sample opens a batch, which closes when full or when
        `batch_timeout_s` has passed since it opened."""
        while True:
            first = self._arrivals.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self.batch_timeout_s
            while len(batch) < self.batch_size:
                remaining = deadline - time.monotonic()
                try:
                    item = self._arrivals.get(timeout=remaining) if remaining > 0 else self._arrivals.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._arrivals.put(None)
                    break
                batch.append(item)
            self.executor.submit(batch)

    def stop(self) -> None:
        if self._batcher is not None:
            self._arrivals.put(None)
            self._batcher.join(timeout=10)
        self.executor.stop()


class LostSampleMonitor:
    """Ends the run when samples stay outstanding that no queue or batch holds (LoadGen waits
    for every sample forever, whatever max_duration says: pitfall 3)."""

    def __init__(self, ledger: Ledger, fault: Fault, grace_s: float = 2.0, interval_s: float = 0.2) -> None:
        self.ledger, self.fault, self.grace_s, self.interval_s = ledger, fault, grace_s, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="mlperf-lost-samples", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _watch(self) -> None:
        since: float | None = None
        while not self._stop.wait(self.interval_s):
            lost, age = self.ledger.unheld()
            if not lost:
                since = None
                continue
            since = since or time.monotonic()
            if time.monotonic() - since >= self.grace_s:
                self.fault.report(f"{lost} sample(s) were never answered (the oldest waited {age:.1f} s) and no "
                                  "queue or batch holds them any more: the SUT lost them")
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
