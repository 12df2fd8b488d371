"""Per-layer times of a TensorRT plan, from an IProfiler attached in a separate run.

As trtexec does (`--dumpProfile --separateProfileRun`): the end-to-end time is measured first
with no profiler attached (a profiler makes TensorRT synchronise after every layer, which
slows the whole run), then the profiler is attached and the same number of iterations run
again, each one reported by `IExecutionContext.report_to_profiler()` (with
`enqueue_emits_profile` off, so each report holds exactly one iteration). The precision of
each layer and the ONNX nodes it came from are the engine inspector's (its JSON
`Metadata`: `[ONNX Layer: /conv1/Conv]`; detailed only in plans built with detailed
profiling verbosity, which `build` asks for).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resnet_deploy.backends.registry import get_backend, open_runner
from resnet_deploy.profile.onnx_graph import OnnxGraph
from resnet_deploy.profile.record import LayerTime, ProfileResult, per_iteration, precision_name
from resnet_deploy.profile.settings import ProfileSettings, median_ms, random_feeds, timed_runs
from resnet_deploy.sidecar import resolve_recorded

if TYPE_CHECKING:
    from resnet_deploy.runtime.inspector import LayerReport

_ONNX_LAYER = re.compile(r"\[ONNX Layer: ([^\]]+)\]")


def onnx_layers(layer_name: str, origin: str | None) -> tuple[str, ...]:
    """The ONNX node names a TensorRT layer lists in its metadata and those its name joins with
    ' + ' (TensorRT names a fused layer after its parts); none for a reformat TensorRT inserted
    ("Reformatting CopyNode for Input Tensor 0 to /conv1/Conv" is no node of the model)."""
    listed = _ONNX_LAYER.findall(origin or "")
    inserted = layer_name.startswith(("Reformatting", "reformatted")) or "CopyNode" in layer_name
    parts = [] if inserted else [part.strip() for part in layer_name.split(" + ") if part.strip()]
    return tuple(dict.fromkeys([*listed, *parts]))


def make_layer_timer(trt: Any) -> Any:
    """An IProfiler that keeps each reported iteration's (layer, ms) list."""

    class LayerTimer(trt.IProfiler):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            trt.IProfiler.__init__(self)
            self.current: list[tuple[str, float]] = []

        def report_layer_time(self, layer_name: str, ms: float) -> None:
            self.current.append((str(layer_name), float(ms)))

        def take(self) -> list[tuple[str, float]]:
            taken, self.current = self.current, []
            return taken

    return LayerTimer()


def _source_graph(plan: Path, meta: Any) -> OnnxGraph | None:
    """The ONNX model the plan was built from, when its sidecar records one that is still there."""
    recorded = (meta.source_onnx or {}).get("path") if meta is not None else None
    if not recorded:
        return None
    path = resolve_recorded(str(recorded), plan)
    return OnnxGraph.load(path) if path.is_file() else None


def layers_from_reports(samples: list[list[tuple[str, float]]], inspector: dict[str, LayerReport],
                        graph: OnnxGraph | None) -> list[LayerTime]:
    layers = []
    for order, (name, values) in enumerate(per_iteration(samples).items()):
        report = inspector.get(name)
        nodes = onnx_layers(name, report.origin if report else None)
        if graph is not None:
            nodes = graph.known(nodes)
        op_type = (graph.op_type(nodes) if graph is not None else None) or (report.layer_type if report else "")
        precision = precision_name(report.precision) if report else None
        layers.append(LayerTime(name, nodes, op_type or "", precision, values, order))
    return layers


def profile_tensorrt(plan: str | Path, backend: str, settings: ProfileSettings) -> ProfileResult:
    from resnet_deploy.runtime.inspector import parse_engine_information
    from resnet_deploy.runtime.trt import trt

    runner = open_runner(backend, plan, settings.run_options(get_backend(backend)))
    notes = ["end-to-end: GPU compute of one batch (enqueue to stream synchronised), measured before the "
             "profiler was attached; copies to and from the device are not in it"]
    with runner:
        slot = getattr(runner, "execution_slot")  # noqa: B009 - the TensorRT runner's execution context
        engine = getattr(runner, "engine")  # noqa: B009
        feeds = random_feeds(runner, settings)
        slot.stage(feeds)
        slot.warm_up()
        slot.enqueue_h2d()
        slot.stream.synchronize()

        def compute() -> None:
            slot.enqueue_compute()
            slot.stream.synchronize()

        times = timed_runs(compute, settings)  # no profiler attached: the real end-to-end time
        context = slot.context
        timer = make_layer_timer(trt)
        context.profiler = timer
        context.enqueue_emits_profile = False
        samples = []
        for _ in range(settings.iterations):
            compute()
            context.report_to_profiler()
            samples.append(timer.take())
        inspector = engine.trt_engine.create_engine_inspector()
        inspector.execution_context = context
        report = parse_engine_information(inspector.get_engine_information(trt.LayerInformationFormat.JSON))
        if not report.detailed:
            notes.append("the plan was built without detailed profiling verbosity: no precision or ONNX node per layer")
        description = runner.describe()
        meta = engine.meta
    by_name = {layer.name: layer for layer in report.layers}
    return ProfileResult(os.fspath(plan), backend, int(next(iter(feeds.values())).shape[0]), settings.iterations,
                         settings.warmup, layers_from_reports(samples, by_name, _source_graph(Path(plan), meta)),
                         median_ms(times), model_precision=meta.precision,
                         method="TensorRT IProfiler in a separate run (report_to_profiler per iteration)", notes=notes,
                         runner=description)
