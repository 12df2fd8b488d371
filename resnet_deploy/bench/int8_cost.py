"""What keeping layers out of INT8 costs in speed: the INT8 model before and after a fallback,
timed by the bench harness in one run (same machine, same load, alternating nothing else).

`quantize --max-drop` hands `speed_probe()` to the precision search (precision sits below
bench, so the search takes the probe as an argument instead of importing the harness).
"""

from __future__ import annotations

from pathlib import Path

from resnet_deploy.backends.registry import default_backend
from resnet_deploy.bench.config import BackendSpec, BenchConfig, Warmup
from resnet_deploy.bench.harness import run_benchmark
from resnet_deploy.precision.sensitivity import SpeedCost, SpeedProbe

BACKEND = default_backend("onnx")  # the CPU runtime the search itself judges on


def int8_speed_cost(before: Path, after: Path, *, batch: int = 32, duration_s: float = 2.0,
                    threads: int | None = None) -> SpeedCost:
    """Median latency of both models at one batch size on onnxruntime's CPU provider."""
    specs = [BackendSpec(BACKEND, before, label="INT8 before fallback"),
             BackendSpec(BACKEND, after, label="INT8 after fallback")]
    config = BenchConfig(specs, batch_sizes=[batch], warmup=Warmup(seconds=0.3), duration_s=duration_s,
                         threads=threads, keep_samples=False)
    result = run_benchmark(config)
    medians = []
    for run in result.backends:
        if run.error or not run.results:
            raise RuntimeError(f"timing {run.label} failed: {run.error or 'no result'}")
        medians.append(run.results[0].latency_ms.median)
    return SpeedCost(BACKEND, batch, medians[0], medians[1])


def speed_probe(*, batch: int = 32, duration_s: float = 2.0, threads: int | None = None,
                note: str = "") -> SpeedProbe:
    """A probe for `quantize_int8(speed_probe=...)` with these settings."""

    def probe(before: Path, after: Path) -> SpeedCost:
        cost = int8_speed_cost(before, after, batch=batch, duration_s=duration_s, threads=threads)
        return SpeedCost(cost.backend, cost.batch, cost.before_ms, cost.after_ms, note or cost.note)

    return probe
