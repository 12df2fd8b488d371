"""Per-layer times of an ONNX model on OpenVINO, from its performance counters.

With PERF_COUNT on, an infer request reports every layer of the compiled model after each
run (`get_profiling_info`): its name, type, the kernel it ran (`exec_type`, whose suffix is
the precision really used: `brgconv_avx512_f32`, `jit_avx512_amx_I8`) and its real time.
The ONNX nodes a layer was made from are in the runtime model's runtime info
(`originalLayersNames`): a Convolution that absorbed its Relu and Add lists all three. The
request's own `latency` is kept as the runtime's time (`runtime_ms`): what lies between it and
the layer sum is OpenVINO's executor between primitives, not the Python call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from resnet_deploy.backends.registry import get_backend, open_runner
from resnet_deploy.profile.onnx_graph import OnnxGraph
from resnet_deploy.profile.record import LayerTime, ProfileResult, per_iteration, precision_name
from resnet_deploy.profile.settings import ProfileSettings, median_ms, random_feeds, timed_runs


def exec_precision(exec_type: str, runtime_precision: str | None = None) -> str | None:
    """`brgconv_avx512_f32` -> fp32, `jit_avx512_amx_I8` -> int8; else the runtime precision."""
    suffix = exec_type.rsplit("_", 1)[-1] if "_" in exec_type else ""
    named = precision_name(suffix)
    if named in ("fp32", "fp16", "bf16", "int8"):
        return named
    return precision_name(runtime_precision)


def original_names(runtime_model: Any) -> dict[str, tuple[str, str | None]]:
    """Runtime layer name -> (its original layer names, comma-separated; its runtime precision)."""
    result = {}
    for op in runtime_model.get_ordered_ops():
        info = op.get_rt_info()

        def text(key: str, info: Any = info) -> str | None:
            return str(info[key].astype(str)) if key in info else None
        result[op.get_friendly_name()] = (text("originalLayersNames") or "", text("runtimePrecision"))
    return result


def layers_from_counters(samples: list[list[Any]], names: Mapping[str, tuple[str, str | None]],
                         graph: OnnxGraph) -> list[LayerTime]:
    """LayerTimes from each iteration's profiling info (only layers that ran)."""
    executed: list[list[tuple[str, float]]] = []
    kinds: dict[str, tuple[str, str]] = {}
    for sample in samples:
        rows = []
        for item in sample:
            if str(item.status).rsplit(".", 1)[-1] != "EXECUTED":
                continue
            rows.append((item.node_name, item.real_time.total_seconds() * 1000.0))
            kinds.setdefault(item.node_name, (item.node_type, item.exec_type))
        executed.append(rows)
    layers = []
    for order, (name, values) in enumerate(per_iteration(executed).items()):
        originals, runtime_precision = names.get(name, ("", None))
        nodes = graph.known(_split(originals)) or graph.nodes_for(name)
        node_type, exec_type = kinds[name]
        layers.append(LayerTime(name, nodes, node_type, exec_precision(exec_type, runtime_precision), values, order))
    return layers


def _split(text: str) -> Iterable[str]:
    return (part.strip() for part in text.split(",") if part.strip())


def profile_openvino(model: str | Path, backend: str, settings: ProfileSettings) -> ProfileResult:
    graph = OnnxGraph.load(model)
    runner = open_runner(backend, model, settings.run_options(get_backend(backend), perf_counters=True))
    with runner:
        compiled = getattr(runner, "compiled_model")  # noqa: B009 - the OpenVINO runner's compiled model
        request = compiled.create_infer_request()
        feeds = random_feeds(runner, settings)
        samples: list[list[Any]] = []

        def run() -> None:
            request.infer(feeds)

        for _ in range(settings.warmup):
            run()
        times, latencies = [], []
        for _ in range(settings.iterations):
            times.extend(timed_runs(run, ProfileSettings(iterations=1, warmup=0)))
            latencies.append(float(request.latency))  # OpenVINO's own time for the request, in ms
            samples.append(list(request.get_profiling_info()))
        names = original_names(compiled.get_runtime_model())
        description = runner.describe()
    batch = int(next(iter(feeds.values())).shape[0])
    return ProfileResult(str(model), backend, batch, settings.iterations, settings.warmup,
                         layers_from_counters(samples, names, graph), median_ms(times),
                         runtime_ms=median_ms(latencies), method="OpenVINO performance counters (PERF_COUNT, get_profiling_info)", runner=description)
