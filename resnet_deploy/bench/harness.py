"""`run_benchmark(config)`: check everything, then open each backend's runner, sweep the
batch sizes, keep the statistics.

Nothing is timed until every backend, artifact and requested batch size has been checked
(resnet_deploy.bench.preflight). The result is a typed `BenchResult` (resnet_deploy.bench.result);
`to_dict()` gives the JSON that reports, plots, bench-compare and the benchmarks/README
generator read back into the same type.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from resnet_deploy import __version__
from resnet_deploy.backends.base import DeviceTimingHooks, Runner
from resnet_deploy.backends.registry import get_backend
from resnet_deploy.bench import preflight
from resnet_deploy.bench.config import BackendSpec, BenchConfig, default_batch_sizes
from resnet_deploy.bench.result import (
    ArtifactRecord,
    BackendRun,
    BenchResult,
    BenchRow,
    ConfigRecord,
    EnvironmentRecord,
    InputRecord,
    LatencyStats,
    SkippedBatch,
    SpecRecord,
)
from resnet_deploy.bench.runners import open_runner
from resnet_deploy.bench.stats import summarize, trust_warnings
from resnet_deploy.bench.telemetry import artifact_record, capture_environment, gpu_telemetry
from resnet_deploy.bench.timing import (
    Measurement,
    measure_cpu_concurrent,
    measure_gpu,
    outer_cuda_graph_refusal,
    refuse_outer_cuda_graph,
)
from resnet_deploy.errors import InvalidInputError, MissingDependencyError
from resnet_deploy.export.artifact import Artifact, ImageInput, select_image_input
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.memory import allocation_failures_are_bad_input

log = logging.getLogger(__name__)

RunnerFactory = Callable[[BackendSpec, BenchConfig], Runner]


@dataclass(frozen=True)
class Point:
    """One timing point as the progress display sees it."""

    label: str
    batch: int
    backend_index: int  # 1-based
    backends: int
    batch_index: int  # 1-based, within this backend's sweep
    batches: int
    default_sweep: bool
    expected_s: float | None  # measured-loop time predicted from the previous point, if any


class BenchObserver:
    """What a progress display is told; every method may be left as it is (no-ops).

    `iteration` is called after each measured iteration, outside its timed region: keep it
    cheap (store the numbers; draw from another thread or at most a few times a second)."""

    def planned(self, specs: list[BackendSpec], config: BenchConfig) -> None:
        """Everything has been checked; timing starts now."""

    def point_started(self, point: Point) -> None:
        """Warm-up of `point` starts (the measured loop follows)."""

    def iteration(self, count: int, elapsed_s: float, remaining_s: float | None) -> None:
        """`count` measured iterations after `elapsed_s`; `remaining_s` is the estimate left."""

    def point_done(self, point: Point, row: BenchRow) -> None:
        """The point's statistics are in."""

    def finished(self) -> None:
        """The run ended (also on failure)."""


class _MessageObserver(BenchObserver):
    """The older interface: a callable told "label: batch N" as each point starts."""

    def __init__(self, message: Callable[[str], None]) -> None:
        self.message = message

    def point_started(self, point: Point) -> None:
        self.message(f"{point.label}: batch {point.batch}")


Progress = Callable[[str], None] | BenchObserver


def _observer(progress: Progress | None) -> BenchObserver:
    if progress is None:
        return BenchObserver()
    if isinstance(progress, BenchObserver):
        return progress
    return _MessageObserver(progress)


def image_input(runner: Runner, input_size: tuple[int, int] | None,
                artifact: Artifact | None = None) -> ImageInput:
    """The runner's one image input (NCHW or NHWC, 1 or 3 channels) and its (C, H, W) at the
    size the run uses (`input_size`, else the size `artifact` records); exit 2 for anything
    else (export.artifact.select_image_input)."""
    recorded = None
    if artifact is not None and artifact.input_spec is not None and artifact.spec_source != "graph":
        recorded = (artifact.input_spec.height, artifact.input_spec.width)
    return select_image_input(runner.inputs(), input_size, recorded=recorded, who=runner.name)


def make_feeds(image: ImageInput, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random normalised-image-like inputs in the model's layout (the values don't change the
    timing of these models)."""
    rng = np.random.default_rng(seed)
    array = rng.standard_normal(image.shape(batch), dtype=np.float32)
    return {image.tensor.name: np.ascontiguousarray(array.astype(image.tensor.dtype, copy=False))}


def _stats(values: list[float], config: BenchConfig) -> LatencyStats:
    return LatencyStats.model_validate(summarize(values, config.percentiles).to_dict())


def summarize_measurement(measurement: Measurement, batch: int, config: BenchConfig) -> BenchRow:
    """The per-batch record: latency stats, throughput, split times, warnings."""
    latency = summarize(measurement.latency_ms, config.percentiles)
    images = batch * measurement.iterations
    warnings = trust_warnings(latency, measurement.wall_s, cv_threshold=config.cv_threshold)
    if measurement.enqueue_ms and measurement.compute_ms:
        warnings += gpu_bound_warnings(measurement)
    split = {name: _stats(getattr(measurement, name), config)
             for name in ("enqueue_ms", "h2d_ms", "compute_ms", "d2h_ms") if getattr(measurement, name)}
    return BenchRow(
        batch=batch, timer=measurement.timer, streams=measurement.streams, concurrency=measurement.concurrency,
        iterations=measurement.iterations,
        measured_s=measurement.wall_s, latency_ms=LatencyStats.model_validate(latency.to_dict()),
        throughput_ips=images / measurement.wall_s if measurement.wall_s > 0 else 0.0, warnings=warnings,
        # per-iteration latencies, in order, for re-analysis later
        samples_ms=[round(v, 6) for v in measurement.latency_ms] if config.keep_samples else None,
        **split)


def gpu_bound_warnings(measurement: Measurement) -> list[str]:
    """trtexec's checks, on medians: enqueue time over 0.8x the compute time (launch-bound),
    H2D or D2H at least the compute time (transfer-bound), and iterations that never overlapped."""
    compute = float(np.median(measurement.compute_ms))
    enqueue = float(np.median(measurement.enqueue_ms))
    warnings = []
    if enqueue > 0.8 * compute:
        warnings.append(f"throughput may be bound by enqueue time (median {enqueue:.3f} ms enqueue vs {compute:.3f} ms "
                        "compute): try cuda_graph or a larger batch")
    for name, values in (("host-to-device", measurement.h2d_ms), ("device-to-host", measurement.d2h_ms)):
        if values and float(np.median(values)) >= compute:
            warnings.append(f"throughput may be bound by {name} copies (median {float(np.median(values)):.3f} ms vs "
                            f"{compute:.3f} ms compute): try no_data_transfers to see the compute alone")
    if measurement.iterations and measurement.idle_after_enqueue >= 0.9 * measurement.iterations:
        warnings.append(f"ran serialized: the compute stream was already idle when the enqueue returned in "
                        f"{measurement.idle_after_enqueue} of {measurement.iterations} iterations (the runtime waits "
                        "for the GPU inside its call, or launching took longer than the GPU work), so two "
                        "iterations were not in flight")
    return warnings


def _plan_batches(spec: BackendSpec, runner: Runner, config: BenchConfig, sample_bytes: int,
                  result: BackendRun, shape: preflight.InputShape) -> tuple[list[int], bool]:
    low, high = runner.batch_limits()
    result.input.batch_limits = [low, high]
    if config.batch_sizes is None:
        sizes = default_batch_sizes((low, high), gpu=spec.is_gpu, sample_bytes=sample_bytes,
                                    cap=config.max_default_batch, memory_budget_bytes=config.memory_budget_bytes)
        fitting = preflight.largest_fitting(sizes, shape)
        if len(fitting) < len(sizes):
            result.notes.append(f"default sweep stops at batch {fitting[-1]}: larger batches would not fit in the memory "
                                "available now")
        return fitting, True
    sizes = []
    for batch in config.batch_sizes:
        if batch < low or (high is not None and batch > high):
            reason = (f"batch {batch} is outside the artifact's profile {low}..{high if high is not None else 'unbounded'}")
            result.skipped.append(SkippedBatch(batch=batch, reason=reason))
            log.warning("%s: %s; skipped", spec.name, reason)
        else:
            sizes.append(batch)
    return sizes, False


def _sweep_cut(config: BenchConfig, row: BenchRow, rest: list[int]) -> str | None:
    """Why a default sweep stops after `row` (None: it goes on). The next batch's iteration
    time is predicted from this one's, scaled by the batch size."""
    if not rest:
        return None
    mean_s = row.latency_ms.mean / 1000.0
    left_out = ", ".join(map(str, rest))
    if mean_s > config.max_iteration_seconds:
        return (f"stopped the default sweep after batch {row.batch}: one iteration took over "
                f"{config.max_iteration_seconds:g} s (left out {left_out}; name them in the batch sizes to time them)")
    predicted = preflight.expected_point_seconds(mean_s * rest[0] / row.batch, iterations=config.iterations,
                                                 duration_s=config.duration_s, min_iterations=config.min_iterations)
    if predicted > config.max_point_seconds:
        return (f"stopped the default sweep after batch {row.batch}: batch {rest[0]} would take about {predicted:.0f} s "
                f"to time (over {config.max_point_seconds:g} s per point; left out {left_out}; name them in the "
                "batch sizes to time them)")
    return None


def _name_precision(spec: BackendSpec, result: BackendRun) -> None:
    """When a run precision was asked for and the runtime runs another (OpenVINO without BF16
    falls back to FP32), the label and a note say what really ran."""
    asked, ran = spec.options.precision, result.runner.get("precision")
    if asked and ran and ran != asked:
        result.notes.append(f"asked for {asked}, the runtime runs {ran}")
        if not spec.label:
            result.label = spec.label_for(str(ran))


def _measure_backend(spec: BackendSpec, runners: list[Runner], config: BenchConfig, observer: BenchObserver,
                     index: int, count: int, shape: preflight.InputShape) -> BackendRun:
    record = artifact_record(spec.artifact)
    result = BackendRun(label=spec.name, backend=spec.backend, spec=SpecRecord.model_validate(spec.to_dict()),
                        artifact=ArtifactRecord.model_validate(record) if record is not None else None)
    for runner in runners:  # a runner that builds per-shape state (ort-trt's profile) learns the sweep first
        expect = getattr(runner, "expect_batch_sizes", None)
        if callable(expect) and config.batch_sizes:
            expect(list(config.batch_sizes))
    if config.streams > 1 and not spec.is_gpu:
        result.notes.append("streams apply to GPU backends only; ran one context")
    try:
        for runner in runners:
            runner.activate()
        main = runners[0]
        result.runner = main.describe()
        _name_precision(spec, result)
        image = image_input(main, config.input_size, shape.artifact)
        info, chw = image.tensor, image.chw
        result.input = InputRecord(name=info.name, dtype=str(info.dtype), shape_chw=list(chw),
                                   layout="NHWC" if image.layout == "NHWC" else None)
        if shape.chw is None:  # the artifact did not say: now the runner has
            shape = preflight.InputShape(chw, shape.artifact)
            if config.batch_sizes is not None:
                preflight.check_memory(spec, shape, config.batch_sizes, gpu=spec.is_gpu)
        sample_bytes = int(np.prod(chw)) * np.dtype(info.dtype).itemsize
        batches, is_default = _plan_batches(spec, main, config, sample_bytes, result, shape)
        # Only look for hooks on CUDA runners: checking the protocol reads `stream`, which a
        # CPU runner may refuse.
        on_cuda = spec.is_gpu and str(main.device).startswith("cuda")
        hooks = [r for r in runners if on_cuda and isinstance(r, DeviceTimingHooks)]
        use_events = on_cuda and len(hooks) == len(runners)
        if spec.is_gpu and not use_events:
            result.notes.append("runner has no device timing hooks: timed with the wall clock around infer()")
        if not use_events and (config.cuda_graph or config.no_data_transfers):
            result.notes.append("cuda_graph and no_data_transfers apply to GPU runners with timing hooks only")
        concurrencies = list(config.concurrency)
        if use_events and concurrencies != [1]:
            result.notes.append("concurrency applies to CPU backends; GPU backends overlap work with streams")
            concurrencies = [1]
        expected: float | None = None
        for position, batch in enumerate(batches):
            # A runtime that fails to allocate (the estimate was too low) is bad input, not a crash.
            with allocation_failures_are_bad_input(f"{spec.name} at batch {batch}", param="batch_sizes"):
                feeds = make_feeds(image, batch, config.seed)
                main.check_feeds(feeds)
                point = Point(spec.name, batch, index, count, position + 1, len(batches), is_default, expected)
                observer.point_started(point)

                def tick(done: int, elapsed: float) -> None:
                    observer.iteration(done, elapsed, preflight.remaining_seconds(
                        done, elapsed, iterations=config.iterations, duration_s=config.duration_s,
                        min_iterations=config.min_iterations))

                if use_events:
                    # torch runners enqueue through torch's caching allocator: time (and capture
                    # graphs) with torch's own events so a capture goes through torch.cuda.graph.
                    from resnet_deploy.runtime.cuda_events import cuda_event_api

                    events = cuda_event_api(prefer=get_backend(spec.backend).event_api)
                    measurement = measure_gpu(hooks, feeds, events=events, warmup=config.warmup, iterations=config.iterations,
                                              duration_s=config.duration_s, min_iterations=config.min_iterations,
                                              no_data_transfers=config.no_data_transfers, cuda_graph=config.cuda_graph,
                                              on_iteration=tick)
                else:
                    measurement = measure_cpu_concurrent(main, feeds, concurrencies[0], warmup=config.warmup,
                                                         iterations=config.iterations, duration_s=config.duration_s,
                                                         min_iterations=config.min_iterations, on_iteration=tick)
            row = summarize_measurement(measurement, batch, config)
            result.results.append(row)
            result.notes += [note for note in measurement.notes if note not in result.notes]
            for concurrency in concurrencies[1:]:  # more callers in flight at the same batch size
                more = measure_cpu_concurrent(main, feeds, concurrency, warmup=config.warmup,
                                              iterations=config.iterations, duration_s=config.duration_s,
                                              min_iterations=config.min_iterations, on_iteration=tick)
                result.results.append(summarize_measurement(more, batch, config))
            observer.point_done(point, row)
            log.info("%s batch %d: median %.3f ms, %.1f img/s", spec.name, batch, row.latency_ms.median,
                     row.throughput_ips)
            rest = batches[position + 1:]
            if rest:
                expected = preflight.expected_point_seconds(
                    row.latency_ms.mean / 1000.0 * rest[0] / batch, iterations=config.iterations,
                    duration_s=config.duration_s, min_iterations=config.min_iterations)
            cut = _sweep_cut(config, row, rest) if is_default else None
            if cut:
                result.notes.append(cut)
                break
    finally:
        for runner in runners:
            runner.deactivate()
    return result


def run_benchmark(config: BenchConfig, *, progress: Progress | None = None,
                  runner_factory: RunnerFactory | None = None, skip_unavailable: bool = False) -> BenchResult:
    """Benchmark every backend in `config` over its batch sizes, one after the other.

    Before anything is timed: a backend that is not installed raises MissingDependencyError
    (exit 3) naming every missing one, or with `skip_unavailable` is recorded as that
    backend's error; a missing or wrong artifact, an option a backend does not take, or a
    requested batch size whose memory estimate exceeds the free memory is InvalidInputError
    or ArtifactError (exit 2). Requested batch sizes outside an artifact's profile are
    skipped with a note; when nothing is left to run at all, InvalidInputError (exit 2).

    `progress` is a BenchObserver (a live display) or a callable told "label: batch N" as
    each point starts.
    """
    if config.cuda_graph:  # before anything runs: one line, exit 2
        refuse_outer_cuda_graph([(spec.name, outer_cuda_graph_refusal(spec.backend)) for spec in config.backends])
    observer = _observer(progress)
    errors: dict[int, str] = {}
    if runner_factory is None:
        missing = preflight.unavailable(config.backends)
        if not skip_unavailable:
            preflight.refuse_unavailable(missing)
        errors = {i: missing[spec.backend] for i, spec in enumerate(config.backends) if spec.backend in missing}
    factory = runner_factory or (lambda spec, cfg: open_runner(spec, threads=cfg.threads, input_size=cfg.input_size))
    prepared: dict[int, tuple[list[Runner], preflight.InputShape]] = {}
    for i, spec in enumerate(config.backends):
        if i in errors:
            continue
        try:  # building a runner checks the backend, the artifact and the options; nothing is loaded yet
            runners = [factory(spec, config) for _ in range(config.streams if spec.is_gpu else 1)]
        except MissingDependencyError as exc:
            if not skip_unavailable:
                raise
            errors[i] = str(exc)
            continue
        shape = preflight.input_shape(spec, config.input_size) if runner_factory is None else preflight.InputShape()
        if config.batch_sizes is not None:
            preflight.check_memory(spec, shape, config.batch_sizes, gpu=spec.is_gpu)
        prepared[i] = (runners, shape)

    telemetry: JsonObject = {"before": gpu_telemetry()}
    environment = capture_environment()
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    results: list[BackendRun] = []
    observer.planned([config.backends[i] for i in prepared], config)
    try:
        for i, spec in enumerate(config.backends):
            if i in errors:
                results.append(BackendRun(label=spec.name, backend=spec.backend,
                                          spec=SpecRecord.model_validate(spec.to_dict()), error=errors[i]))
                continue
            runners, shape = prepared[i]
            index = sum(1 for j in prepared if j <= i)
            results.append(_measure_backend(spec, runners, config, observer, index, len(prepared), shape))
    finally:
        observer.finished()
    telemetry["after"] = gpu_telemetry()
    if not any(r.results for r in results) and any(r.skipped for r in results):
        reasons = "; ".join(s.reason for r in results for s in r.skipped)
        raise InvalidInputError(f"no batch size left to run: {reasons}")
    return BenchResult(kind="bench", toolkit_version=__version__, created=created,
                       config=ConfigRecord.model_validate(config.to_dict()),
                       environment=EnvironmentRecord.model_validate(environment.to_dict()), gpu_telemetry=telemetry,
                       backends=results)

