"""`run_benchmark(config)`: open each backend's runner, sweep the batch sizes, keep the stats.

Results are plain dicts (BenchReport.to_dict()) so that reports, plots, bench-compare and the
benchmarks/README generator read a saved JSON exactly as they read a fresh run.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from resnet_deploy import __version__
from resnet_deploy.backends.base import DeviceTimingHooks, Runner, TensorInfo
from resnet_deploy.bench.config import BackendSpec, BenchConfig, default_batch_sizes
from resnet_deploy.bench.runners import open_runner
from resnet_deploy.bench.stats import summarize, trust_warnings
from resnet_deploy.bench.telemetry import artifact_record, capture_environment, gpu_telemetry
from resnet_deploy.bench.timing import (
    Measurement,
    measure_cpu,
    measure_gpu,
    outer_cuda_graph_refusal,
    refuse_outer_cuda_graph,
)
from resnet_deploy.errors import InvalidInputError, MissingDependencyError

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
RunnerFactory = Callable[[BackendSpec, BenchConfig], Runner]


@dataclass
class BackendResult:
    spec: BackendSpec
    runner: dict[str, Any] = field(default_factory=dict)
    artifact: dict[str, Any] | None = None
    input: dict[str, Any] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.spec.name, "backend": self.spec.backend, "spec": self.spec.to_dict(),
                "runner": self.runner, "artifact": self.artifact, "input": self.input,
                "results": self.results, "skipped": self.skipped, "notes": self.notes, "error": self.error}


@dataclass
class BenchReport:
    config: BenchConfig
    backends: list[BackendResult]
    environment: dict[str, Any]
    telemetry: dict[str, Any]
    created: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "bench", "toolkit_version": __version__, "created": self.created,
                "config": self.config.to_dict(), "environment": self.environment,
                "gpu_telemetry": self.telemetry, "backends": [b.to_dict() for b in self.backends]}


def image_input(runner: Runner, input_size: tuple[int, int] | None) -> tuple[TensorInfo, tuple[int, int, int]]:
    """The one NCHW image input (1 or 3 channels) and its (C, H, W); exit 2 for anything else."""
    inputs = runner.inputs()
    if len(inputs) != 1:
        raise InvalidInputError(f"{runner.name}: not an image classifier: it has {len(inputs)} inputs "
                                f"({', '.join(t.name for t in inputs)}), expected one NCHW image input")
    info = inputs[0]
    if len(info.shape) != 4:
        raise InvalidInputError(f"{runner.name}: not an image model: input '{info.name}' has shape {info.shape}, "
                                "expected NCHW with 1 or 3 channels")
    _, c, h, w = info.shape
    if not isinstance(c, int) or c not in (1, 3):
        raise InvalidInputError(f"{runner.name}: not an image model: input '{info.name}' has shape {info.shape}; "
                                "expected NCHW with 1 or 3 channels (NHWC inputs are not supported)")
    if not np.issubdtype(info.dtype, np.floating) and not np.issubdtype(info.dtype, np.integer):
        raise InvalidInputError(f"{runner.name}: input '{info.name}' has dtype {info.dtype}, expected numbers")
    size = [h, w]
    for axis, value in enumerate((h, w)):
        if isinstance(value, int) and value > 0:
            if input_size is not None and input_size[axis] != value:
                raise InvalidInputError(f"{runner.name}: the model's input is fixed at {h}x{w}; "
                                        f"--input-size {input_size[0]}x{input_size[1]} does not match")
        elif input_size is not None:
            size[axis] = input_size[axis]
        else:
            raise InvalidInputError(f"{runner.name}: input '{info.name}' has a dynamic height/width {info.shape}; "
                                    "give --input-size HxW")
    return info, (c, int(size[0]), int(size[1]))  # type: ignore[arg-type]


def make_feeds(info: TensorInfo, chw: tuple[int, int, int], batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random normalised-image-like inputs (the values don't change the timing of these models)."""
    rng = np.random.default_rng(seed)
    array = rng.standard_normal((batch, *chw), dtype=np.float32)
    return {info.name: np.ascontiguousarray(array.astype(info.dtype, copy=False))}


def summarize_measurement(measurement: Measurement, batch: int, config: BenchConfig) -> dict[str, Any]:
    """The per-batch record: latency stats, throughput, split times, warnings."""
    latency = summarize(measurement.latency_ms, config.percentiles)
    images = batch * measurement.iterations
    row: dict[str, Any] = {
        "batch": batch,
        "timer": measurement.timer,
        "streams": measurement.streams,
        "iterations": measurement.iterations,
        "measured_s": measurement.wall_s,
        "latency_ms": latency.to_dict(),
        "throughput_ips": images / measurement.wall_s if measurement.wall_s > 0 else 0.0,
    }
    for name in ("enqueue_ms", "h2d_ms", "compute_ms", "d2h_ms"):
        values = getattr(measurement, name)
        if values:
            row[name] = summarize(values, config.percentiles).to_dict()
    warnings = trust_warnings(latency, measurement.wall_s, cv_threshold=config.cv_threshold)
    if measurement.enqueue_ms and measurement.compute_ms:
        warnings += gpu_bound_warnings(measurement)
    row["warnings"] = warnings
    if config.keep_samples:  # per-iteration latencies, in order, for re-analysis later
        row["samples_ms"] = [round(v, 6) for v in measurement.latency_ms]
    return row


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
                  result: BackendResult) -> tuple[list[int], bool]:
    low, high = runner.batch_limits()
    result.input["batch_limits"] = [low, high]
    if config.batch_sizes is None:
        sizes = default_batch_sizes((low, high), gpu=spec.is_gpu, sample_bytes=sample_bytes,
                                    cap=config.max_default_batch, memory_budget_bytes=config.memory_budget_bytes)
        return sizes, True
    sizes = []
    for batch in config.batch_sizes:
        if batch < low or (high is not None and batch > high):
            reason = (f"batch {batch} is outside the artifact's profile {low}..{high if high is not None else 'unbounded'}")
            result.skipped.append({"batch": batch, "reason": reason})
            log.warning("%s: %s; skipped", spec.name, reason)
        else:
            sizes.append(batch)
    return sizes, False


def _measure_backend(spec: BackendSpec, config: BenchConfig, factory: RunnerFactory,
                     progress: Progress | None) -> BackendResult:
    result = BackendResult(spec=spec, artifact=artifact_record(spec.artifact))
    runners = [factory(spec, config) for _ in range(config.streams if spec.is_gpu else 1)]
    for runner in runners:  # a runner that builds per-shape state (ort-trt's profile) learns the sweep first
        expect = getattr(runner, "expect_batch_sizes", None)
        if callable(expect) and config.batch_sizes:
            expect(list(config.batch_sizes))
    if config.streams > 1 and not spec.is_gpu:
        result.notes.append("--streams applies to GPU backends only; ran one context")
    try:
        for runner in runners:
            runner.activate()
        main = runners[0]
        result.runner = main.describe()
        info, chw = image_input(main, config.input_size)
        result.input.update({"name": info.name, "dtype": str(info.dtype), "shape_chw": list(chw)})
        sample_bytes = int(np.prod(chw)) * np.dtype(info.dtype).itemsize
        batches, is_default = _plan_batches(spec, main, config, sample_bytes, result)
        # Only look for hooks on CUDA runners: checking the protocol reads `stream`, which a
        # CPU runner may refuse.
        on_cuda = spec.is_gpu and str(main.device).startswith("cuda")
        hooks = [r for r in runners if on_cuda and isinstance(r, DeviceTimingHooks)]
        use_events = on_cuda and len(hooks) == len(runners)
        if spec.is_gpu and not use_events:
            result.notes.append("runner has no device timing hooks: timed with the wall clock around infer()")
        if not use_events and (config.cuda_graph or config.no_data_transfers):
            result.notes.append("--cuda-graph/--no-data-transfers apply to GPU runners with timing hooks only")
        for batch in batches:
            feeds = make_feeds(info, chw, batch, config.seed)
            main.check_feeds(feeds)
            if progress:
                progress(f"{spec.name}: batch {batch}")
            if use_events:
                # torch runners enqueue through torch's caching allocator: time (and capture
                # graphs) with torch's own events so a capture goes through torch.cuda.graph.
                from resnet_deploy.bench.cuda_events import cuda_event_api

                events = cuda_event_api(prefer="torch" if spec.backend.startswith("torch") else None)
                measurement = measure_gpu(hooks, feeds, events=events, warmup=config.warmup, iterations=config.iterations,
                                          duration_s=config.duration_s, min_iterations=config.min_iterations,
                                          no_data_transfers=config.no_data_transfers, cuda_graph=config.cuda_graph)
            else:
                measurement = measure_cpu(main, feeds, warmup=config.warmup, iterations=config.iterations,
                                          duration_s=config.duration_s, min_iterations=config.min_iterations)
            row = summarize_measurement(measurement, batch, config)
            result.results.append(row)
            result.notes += [note for note in measurement.notes if note not in result.notes]
            log.info("%s batch %d: median %.3f ms, %.1f img/s", spec.name, batch,
                     row["latency_ms"]["median"], row["throughput_ips"])
            if is_default and row["latency_ms"]["mean"] / 1000.0 > config.max_iteration_seconds:
                rest = [b for b in batches if b > batch]
                if rest:
                    result.notes.append(f"stopped the default sweep after batch {batch}: one iteration took over "
                                        f"{config.max_iteration_seconds:g} s (left out {', '.join(map(str, rest))})")
                break
    finally:
        for runner in runners:
            runner.deactivate()
    return result


def run_benchmark(config: BenchConfig, *, progress: Progress | None = None,
                  runner_factory: RunnerFactory | None = None, skip_unavailable: bool = False) -> BenchReport:
    """Benchmark every backend in `config` over its batch sizes, one after the other.

    A missing runtime raises MissingDependencyError (exit 3), or with `skip_unavailable` is
    recorded as that backend's error. Requested batch sizes outside an artifact's profile
    are skipped with a note; when nothing is left to run at all, InvalidInputError (exit 2).
    """
    if config.cuda_graph:  # before anything runs: one line, exit 2
        refuse_outer_cuda_graph([(spec.name, outer_cuda_graph_refusal(spec.backend)) for spec in config.backends])
    factory = runner_factory or (lambda spec, cfg: open_runner(spec, threads=cfg.threads, input_size=cfg.input_size))
    telemetry: dict[str, Any] = {"before": gpu_telemetry()}
    environment = capture_environment()
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    results = []
    for spec in config.backends:
        try:
            results.append(_measure_backend(spec, config, factory, progress))
        except MissingDependencyError as exc:
            if not skip_unavailable:
                raise
            results.append(BackendResult(spec=spec, error=str(exc)))
    telemetry["after"] = gpu_telemetry()
    if not any(r.results for r in results) and any(r.skipped for r in results):
        reasons = "; ".join(s["reason"] for r in results for s in r.skipped)
        raise InvalidInputError(f"no batch size left to run: {reasons}")
    return BenchReport(config=config, backends=results, environment=environment, telemetry=telemetry, created=created)
