"""Dynamic-batching settings chosen from a measured bench result instead of guessed.

Triton's dynamic batcher holds the first request of a batch for at most
`max_queue_delay_microseconds` while it waits for more, then runs the batch. A request's
worst case is therefore about that delay plus the batch's own latency. Given a latency
budget, the preferred batch is the largest measured batch whose p99 fits the budget, and
the queue delay is what the budget leaves after that p99.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

from resnet_deploy.bench.result import BackendRun, BenchResult, load_result
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.sidecar import sha256_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchingChoice:
    """The preferred batch and queue delay for one model, and the measurement behind them."""

    preferred_batch_size: int
    max_queue_delay_us: int
    p99_ms: float
    budget_ms: float
    backend: str  # the bench label the numbers come from
    source: str  # the bench file

    def describe(self) -> str:
        return (f"batch {self.preferred_batch_size} (p99 {self.p99_ms:.2f} ms of a {self.budget_ms:g} ms budget, "
                f"queue delay {self.max_queue_delay_us} us; from '{self.backend}' in {self.source})")


def _matching_backend(result: BenchResult, artifact: Path, source: Path, only_exact_match: bool) -> BackendRun:
    """The bench entry that measured `artifact`: by sha256, else (unless `only_exact_match`)
    the only entry with results."""
    measured = [b for b in result.backends if b.results and not b.error]
    if not measured:
        raise InvalidInputError(f"bench result '{source}' has no measured batch sizes", param="bench")
    digest = sha256_file(artifact)
    same = [b for b in measured if b.artifact is not None and b.artifact.sha256 == digest]
    if same:
        return same[0]
    if len(measured) == 1 and not only_exact_match:
        log.warning("bench result '%s' did not record '%s' (no matching sha256); using its only backend '%s'",
                    source, artifact, measured[0].label)
        return measured[0]
    raise InvalidInputError(f"bench result '{source}' has no measurement of '{artifact}' (no backend with its sha256 "
                            f"among {len(measured)}); bench this artifact, or give one bench result per artifact",
                            param="bench")


def choose_batching(bench: str | os.PathLike[str], artifact: str | os.PathLike[str], *, latency_budget_ms: float,
                    max_batch: int | None, only_exact_match: bool = False) -> BatchingChoice:
    """The largest measured batch (<= `max_batch`) whose p99 fits `latency_budget_ms`, and the
    queue delay the budget leaves. The bench entry is the one that measured `artifact` (same
    sha256), or the file's only entry unless `only_exact_match`. Refuses (exit 2) a budget no
    measured batch meets."""
    if not (latency_budget_ms > 0 and math.isfinite(latency_budget_ms)):
        raise InvalidInputError(f"latency_budget_ms must be a positive number, got {latency_budget_ms}",
                                param="latency_budget_ms")
    source = Path(bench)
    result = load_result(source)
    backend = _matching_backend(result, Path(artifact), source, only_exact_match)
    rows = sorted(backend.results, key=lambda r: r.batch)
    missing = [r.batch for r in rows if r.latency_ms.get("p99") is None]
    if missing:
        raise InvalidInputError(f"bench result '{source}' has no p99 latency for batch {missing[0]}; re-run bench "
                                "with 99 among its percentiles", param="bench")
    allowed = [r for r in rows if max_batch is None or r.batch <= max_batch]
    if not allowed:
        raise InvalidInputError(f"bench result '{source}' measured no batch size within the model's max batch "
                                f"{max_batch} (measured: {', '.join(str(r.batch) for r in rows)})", param="bench")
    fitting = [r for r in allowed if (r.latency_ms.get("p99") or 0.0) <= latency_budget_ms]
    if not fitting:
        smallest = allowed[0]
        smallest_p99 = smallest.latency_ms.get("p99") or 0.0
        raise InvalidInputError(f"no measured batch size has a p99 within {latency_budget_ms:g} ms (batch "
                                f"{smallest.batch}: p99 {smallest_p99:.2f} ms in '{source}'); raise the "
                                "latency budget or serve on faster hardware", param="latency_budget_ms")
    best = fitting[-1]
    p99 = float(best.latency_ms.get("p99") or 0.0)
    delay_us = math.floor((latency_budget_ms - p99) * 1000.0)
    return BatchingChoice(preferred_batch_size=best.batch, max_queue_delay_us=max(0, delay_us), p99_ms=p99,
                          budget_ms=float(latency_budget_ms), backend=backend.label, source=str(source))


def choose_batching_from_mlperf(path: str | os.PathLike[str], *, max_batch: int | None) -> BatchingChoice:
    """The batching that held the peak Server load of `mlperf --scenario Server --find-peak`
    (its mlperf.json): in-process, the SUT's largest batch and its batcher's timeout; through
    Triton, the dynamic batching of the model that was measured. Refuses (exit 2) a result
    without a VALID peak."""
    from resnet_deploy.jsonfile import read_json_model
    from resnet_deploy.mlperf.result import MlperfResult

    source = Path(path)
    result = read_json_model(source, MlperfResult, what="mlperf result")
    peak = result.peak
    if peak is None:
        raise InvalidInputError(f"'{source}' is not a peak search (run mlperf --scenario Server --find-peak)",
                                param="mlperf")
    if peak.peak_qps is None:
        raise InvalidInputError(f"the peak search in '{source}' found no VALID Server load within "
                                f"{peak.latency_bound_ms:g} ms", param="mlperf")
    batch, delay_us = peak.batch_size, round(peak.batch_timeout_ms * 1000)
    dynamic = (result.sut.get("runner") or {}).get("dynamic_batching")
    if result.server and isinstance(dynamic, dict):  # Triton batched: keep what it was measured with
        preferred = [int(b) for b in dynamic.get("preferred_batch_size", [])]
        batch = max(preferred) if preferred else int((result.sut.get("runner") or {}).get("max_batch_size") or batch)
        delay_us = int(dynamic.get("max_queue_delay_microseconds", 0) or 0)
    if max_batch is not None:
        batch = min(batch, max_batch)
    run = next((r for r in result.runs if r.scenario == "Server" and r.result == "VALID"), None)
    p99 = float(run.latency_ms.get("p99", 0.0)) if run is not None else 0.0
    return BatchingChoice(preferred_batch_size=max(1, batch), max_queue_delay_us=max(0, delay_us), p99_ms=p99,
                          budget_ms=peak.latency_bound_ms, backend=f"{result.backend or result.server} at "
                          f"{peak.peak_qps:,.1f} QPS (MLPerf Server peak)", source=str(source))
