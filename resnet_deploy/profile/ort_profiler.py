"""Per-layer times of an ONNX model on onnxruntime (CPU or CUDA execution provider), from
onnxruntime's own profiler; the end-to-end time is the same runs timed from the caller."""

from __future__ import annotations

import tempfile
from pathlib import Path

from resnet_deploy.backends.registry import get_backend, open_runner
from resnet_deploy.optional import import_optional
from resnet_deploy.profile.onnx_graph import OnnxGraph
from resnet_deploy.profile.onnxruntime_trace import TraceRun, node_precision, parse_runs, read_trace
from resnet_deploy.profile.record import LayerTime, ProfileResult, per_iteration
from resnet_deploy.profile.settings import ProfileSettings, median_ms, random_feeds, timed_runs


def layers_from_runs(runs: list[TraceRun], graph: OnnxGraph) -> list[LayerTime]:
    """One LayerTime per trace node name, over the given runs, in execution order."""
    samples = [[(node.name, node.duration_us / 1000.0) for node in run.nodes] for run in runs]
    times = per_iteration(samples)
    first = {node.name: node for run in runs for node in reversed(run.nodes)}
    layers = []
    for order, (name, values) in enumerate(times.items()):
        node = first[name]
        layers.append(LayerTime(name, graph.nodes_for(name), node.op_type, node_precision(node.op_type, node.input_types),
                                values, order))
    return layers


def profile_onnxruntime(model: str | Path, backend: str, settings: ProfileSettings) -> ProfileResult:
    ort = import_optional("onnxruntime", "profiling on onnxruntime")
    graph = OnnxGraph.load(model)
    with tempfile.TemporaryDirectory(prefix="rd-profile-") as folder:
        options = ort.SessionOptions()
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "ort")
        runner = open_runner(backend, model, settings.run_options(get_backend(backend), session_options=options))
        with runner:
            feeds = random_feeds(runner, settings)
            times = timed_runs(lambda: runner.infer(feeds), settings)
            session = getattr(runner, "session")  # noqa: B009 - the onnxruntime runners' session
            trace = session.end_profiling()
            description = runner.describe()
        events = read_trace(trace)
    runs = parse_runs(events)[-settings.iterations:]
    notes = []
    if get_backend(backend).device == "cuda":
        notes.append("CUDA execution provider: a node's time is what the provider spent on it on the host "
                     "(launching its kernels); GPU time per kernel needs CUPTI (nsys)")
    batch = int(next(iter(feeds.values())).shape[0])
    return ProfileResult(str(model), backend, batch, settings.iterations, settings.warmup,
                         layers_from_runs(runs, graph), median_ms(times),
                         runtime_ms=median_ms([run.duration_us / 1000.0 for run in runs]) if runs else None,
                         method="onnxruntime profiler (SessionOptions.enable_profiling)", notes=notes,
                         runner=description)
