"""The latency/throughput harness: timers, sweeps, statistics, reports, environment capture.

    from resnet_deploy.bench import BackendSpec, BenchConfig, run_benchmark
    report = run_benchmark(BenchConfig([BackendSpec("ort-cpu", Path("model.onnx"))], batch_sizes=[1, 8]))
    data = report.to_dict()          # JSON-ready; render with resnet_deploy.bench.report
"""

from resnet_deploy.bench.config import (
    BackendSpec,
    BenchConfig,
    Warmup,
    default_batch_sizes,
    parse_batch_sizes,
)
from resnet_deploy.bench.harness import BackendResult, BenchReport, run_benchmark
from resnet_deploy.bench.stats import LatencySummary, parse_percentiles, percentile, summarize

__all__ = [
    "BackendResult",
    "BackendSpec",
    "BenchConfig",
    "BenchReport",
    "LatencySummary",
    "Warmup",
    "default_batch_sizes",
    "parse_batch_sizes",
    "parse_percentiles",
    "percentile",
    "run_benchmark",
    "summarize",
]
