"""The latency/throughput harness: timers, sweeps, statistics, reports, environment capture.

    from resnet_deploy.bench import BackendSpec, BenchConfig, run_benchmark
    result = run_benchmark(BenchConfig([BackendSpec("openvino", Path("model.onnx"))], batch_sizes=[1, 8]))
    result.backends[0].results[0].latency_ms.median   # typed (resnet_deploy.bench.result)
    data = result.to_dict()                            # JSON-ready; render with resnet_deploy.bench.report
"""

from resnet_deploy.bench.config import (
    BackendSpec,
    BenchConfig,
    Warmup,
    default_batch_sizes,
    parse_batch_sizes,
    parse_concurrency,
)
from resnet_deploy.bench.harness import (
    BenchObserver,
    Point,
    run_benchmark,
)
from resnet_deploy.bench.result import (
    BackendRun,
    BenchResult,
    BenchRow,
    LatencyStats,
    as_result,
    load_result,
)
from resnet_deploy.bench.stats import LatencySummary, parse_percentiles, percentile, summarize

__all__ = [
    "BackendRun",
    "BackendSpec",
    "BenchConfig",
    "BenchObserver",
    "BenchResult",
    "BenchRow",
    "LatencyStats",
    "LatencySummary",
    "Point",
    "Warmup",
    "as_result",
    "default_batch_sizes",
    "load_result",
    "parse_batch_sizes",
    "parse_concurrency",
    "parse_percentiles",
    "percentile",
    "run_benchmark",
    "summarize",
]
