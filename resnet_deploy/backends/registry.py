"""The backend registry: one table says, for every `--backend`, which artifact it runs, on
which device, what to install for it, which precisions and INT8 layouts it runs, what it can
do under the benchmark harness, which Triton backend serves its artifacts, and how to build
its runner. Every other module asks a row (`get_backend(name).provider`, `default_backend
("onnx")`, ...) instead of comparing names: onnxruntime's quantizer registry is the model,
adding a runtime is one entry.

Nothing heavy is imported here: runner modules are imported by the factories, when a runner
is actually built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from resnet_deploy.artifact_kinds import (
    CHECKPOINT_SUFFIXES,
    KIND_TEXT,
    WEIGHTS_SUFFIXES,
    artifact_kind,
)
from resnet_deploy.backends.base import Runner
from resnet_deploy.errors import InvalidInputError, MissingDependencyError
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.optional import install_hint, is_installed, tensorrt_module

__all__ = [
    "BACKENDS",
    "RUN_PRECISIONS",
    "BackendInfo",
    "RunOptions",
    "Unavailable",
    "artifact_kind",
    "available_backends",
    "backend_for_provider",
    "backend_names",
    "check_run_precision",
    "default_backend",
    "get_backend",
    "open_runner",
    "precision_backends",
    "require_available",
    "unavailable",
    "unavailable_reason",
]


@dataclass(frozen=True)
class RunOptions:
    """Settings a caller may give a backend, from the command line to the runner; each
    backend says which it honours (`BackendInfo.options`) and refuses the others rather than
    ignoring them."""

    threads: int | None = None
    input_size: tuple[int, int] | None = None
    device: str | None = None        # torch: cpu / cuda[:N]; openvino: CPU / GPU / AUTO
    precision: str | None = None     # run precision from an FP32 model (BackendInfo.run_precisions)
    channels_last: bool = False      # torch: channels_last memory format
    features: bool = False           # torch: the backbone (stage outputs), as a features export
    num_classes: int | None = None   # torch, for a model name: constructor arguments
    in_channels: int | None = None
    # Runner-specific keyword arguments given in-process (profile: onnxruntime session
    # options, OpenVINO perf counters); not JSON, so neither recorded nor sent to a child.
    extra: Mapping[str, Any] = field(default_factory=dict)

    def _fields_given(self) -> set[str]:
        return {f.name for f in fields(self) if f.name != "extra" and getattr(self, f.name) != f.default}

    def given(self) -> set[str]:
        """Names of the options set to something other than their default (with `extra`'s keys)."""
        return self._fields_given() | set(self.extra)

    def to_dict(self) -> JsonObject:
        """The options given, as JSON (results record them; a child process gets them so)."""
        return {name: list(value) if isinstance(value, tuple) else value
                for name in sorted(self._fields_given()) for value in (getattr(self, name),)}

    @classmethod
    def from_dict(cls, data: JsonObject) -> RunOptions:
        """The options `to_dict` wrote."""
        known = {f.name for f in fields(cls)} - {"extra"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInputError(f"unknown run options {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
        values = dict(data)
        if values.get("input_size") is not None:
            values["input_size"] = tuple(values["input_size"])
        return cls(**values)


Factory = Callable[[Path | str, RunOptions], Runner]
# Every run precision a backend may compute from an FP32 model (the choices of `--precision`).
RUN_PRECISIONS = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class BackendInfo:
    """One runtime: one row of the table, every question about it answered here.

    `artifact`: what it runs (onnx, plan, checkpoint: a checkpoint or a model name);
    `default`: the backend for its kind of artifact when none is named. `precisions`: the
    model (graph) precisions it runs; `int8_layouts`: the Q/DQ layouts (precision.int8
    targets) it runs well; `run_precisions`: the precisions it can compute an FP32 model in
    when asked (`RunOptions.precision`: torch autocast, OpenVINO's inference precision), the
    others run the precision their graph holds, and only that. `provider`: its onnxruntime execution provider. Under the benchmark harness:
    `graph_capture` (the harness may capture its compute into a CUDA graph),
    `outer_graph_refusal` (why the harness must not), `serialized` (why its compute call waits
    for the GPU, so iterations never overlap), `event_api` (the CUDA events to time it with:
    torch's for runners that enqueue through torch's allocator). `triton_backend`: the
    Triton backend that serves its artifacts (None: not served). `per_layer`: how per-layer
    times and tensors are reached (torch: module hooks and torch.profiler; onnxruntime: its
    profiler and extra graph outputs; openvino: performance counters; tensorrt: IProfiler and
    marked outputs); `no_per_layer`: why a backend has none."""

    name: str
    artifact: str
    device: str
    extra: str
    module: str
    summary: str
    factory: Factory
    options: frozenset[str] = frozenset()
    default: bool = False
    precisions: frozenset[str] = frozenset({"fp32", "fp16", "int8"})
    int8_layouts: frozenset[str] = frozenset()
    run_precisions: frozenset[str] = frozenset()
    provider: str | None = None
    graph_capture: bool = False
    outer_graph_refusal: str | None = None
    serialized: str | None = None
    event_api: str | None = None
    triton_backend: str | None = None
    per_layer: str | None = None
    no_per_layer: str = "it has no per-layer profiler"

    @property
    def eager_modules(self) -> bool:
        """It runs the PyTorch modules one by one, so hooks see each layer's output."""
        return self.per_layer == "torch"

    @property
    def needs_gpu(self) -> bool:
        return self.device == "cuda"

    def runs(self, precision: str, int8_layout: str | None = None) -> bool:
        """Whether it runs a model of `precision` (for INT8: in `int8_layout`)."""
        if precision not in self.precisions:
            return False
        return precision != "int8" or int8_layout is None or int8_layout in self.int8_layouts


def _torch(mode: str) -> Factory:
    def build(source: Path | str, options: RunOptions) -> Runner:
        from resnet_deploy.backends.torch_runner import TorchRunner

        device = options.device or ("cuda" if mode == "cudagraph" else "cpu")
        threads = options.threads if not device.startswith("cuda") else None
        runner: Runner = TorchRunner(source, mode=mode, device=device, precision=options.precision or "fp32",
                                     channels_last=options.channels_last, threads=threads,
                                     input_size=options.input_size, features=options.features,
                                     num_classes=options.num_classes, in_channels=options.in_channels,
                                     **options.extra)
        return runner
    return build


def _ort_cpu(source: Path | str, options: RunOptions) -> Runner:
    from resnet_deploy.backends.onnxruntime_runner import OnnxRuntimeRunner

    runner: Runner = OnnxRuntimeRunner(source, provider="cpu", threads=options.threads, **options.extra)
    return runner


def _ort_gpu(provider: str) -> Factory:
    def build(source: Path | str, options: RunOptions) -> Runner:
        from resnet_deploy.backends.onnxruntime_gpu import OnnxRuntimeGpuRunner

        runner: Runner = OnnxRuntimeGpuRunner(source, provider=provider, **options.extra)
        return runner
    return build


def _openvino(source: Path | str, options: RunOptions) -> Runner:
    from resnet_deploy.backends.openvino_runner import OpenVinoRunner

    runner: Runner = OpenVinoRunner(source, device=options.device or "CPU", threads=options.threads,
                                    precision=options.precision, **options.extra)
    return runner


def _tensorrt(source: Path | str, options: RunOptions) -> Runner:
    from resnet_deploy.backends.tensorrt_runner import TensorRTRunner

    runner: Runner = TensorRTRunner(source, **options.extra)
    return runner


_TORCH_OPTIONS = frozenset({"threads", "input_size", "device", "precision", "channels_last", "features", "num_classes",
                            "in_channels"})
_TORCH_PRECISIONS = frozenset({"fp32", "fp16", "bf16"})  # autocast; fp16 on CUDA only (the runner refuses it on a CPU)
_FP32 = frozenset({"fp32"})  # a checkpoint is an FP32 network
_TORCH_EVENTS = "torch"  # enqueues through torch's caching allocator: torch's events, torch.cuda.graph captures
_ORT_TRT_SYNC = "onnxruntime's TensorRT EP synchronizes its stream inside every run (onnxruntime PR #19301)"

BACKENDS: dict[str, BackendInfo] = {info.name: info for info in (
    BackendInfo("torch", "checkpoint", "cpu", "", "torch", "PyTorch eager (the reference)", _torch("eager"),
                _TORCH_OPTIONS, default=True, precisions=_FP32, run_precisions=_TORCH_PRECISIONS, event_api=_TORCH_EVENTS,
                per_layer="torch"),
    BackendInfo("torch-compile", "checkpoint", "cpu", "", "torch", "torch.compile", _torch("compile"),
                _TORCH_OPTIONS, precisions=_FP32, run_precisions=_TORCH_PRECISIONS, event_api=_TORCH_EVENTS,
                no_per_layer=("torch.compile fuses modules into generated kernels, so there are no per-module times; "
                              "profile the eager model (--backend torch)")),
    BackendInfo("torch-cudagraph", "checkpoint", "cuda", "gpu", "torch", "PyTorch replaying a captured CUDA graph",
                _torch("cudagraph"), _TORCH_OPTIONS - {"threads"}, precisions=_FP32, run_precisions=_TORCH_PRECISIONS,
                event_api=_TORCH_EVENTS,
                no_per_layer=("a CUDA graph replays all kernels as one launch, so there are no per-module times; "
                              "profile the eager model (--backend torch, on CUDA)")),
    BackendInfo("ort-cpu", "onnx", "cpu", "cpu", "onnxruntime", "onnxruntime, CPU execution provider",
                _ort_cpu, frozenset({"threads"}), default=True,
                int8_layouts=frozenset({"cpu", "tensorrt"}), provider="cpu", triton_backend="onnxruntime",
                per_layer="onnxruntime"),
    BackendInfo("ort-cuda", "onnx", "cuda", "gpu", "onnxruntime", "onnxruntime, CUDA execution provider",
                _ort_gpu("cuda"), int8_layouts=frozenset({"tensorrt"}), provider="cuda",
                outer_graph_refusal=("onnxruntime's CUDA EP allocates from its memory arena and may synchronize inside "
                                     "a run, which a stream capture forbids; use the runner option cuda_graph=True "
                                     "(onnxruntime's enable_cuda_graph) instead"),
                triton_backend="onnxruntime", per_layer="onnxruntime"),
    BackendInfo("ort-trt", "onnx", "cuda", "gpu", "onnxruntime", "onnxruntime, TensorRT execution provider",
                _ort_gpu("tensorrt"), int8_layouts=frozenset({"tensorrt"}), provider="tensorrt",
                outer_graph_refusal=(f"{_ORT_TRT_SYNC}, which is illegal during a stream capture; use the runner "
                                     "option cuda_graph=True (onnxruntime's trt_cuda_graph_enable) instead"),
                serialized=("onnxruntime's TensorRT EP calls cudaStreamSynchronize inside each run (onnxruntime PR "
                            "#19301; disable_synchronize_execution_providers does not change it, issue #19094)"),
                triton_backend="onnxruntime",
                no_per_layer=("onnxruntime's TensorRT execution provider runs the model as one TensorRT engine node; "
                              "build a plan and profile it with --backend tensorrt")),
    BackendInfo("tensorrt", "plan", "cuda", "tensorrt", "tensorrt", "TensorRT plan", _tensorrt, default=True,
                int8_layouts=frozenset({"tensorrt"}), graph_capture=True, triton_backend="tensorrt", per_layer="tensorrt"),
    BackendInfo("openvino", "onnx", "cpu", "openvino", "openvino", "OpenVINO (CPU plugin by default)", _openvino,
                frozenset({"threads", "device", "precision"}), int8_layouts=frozenset({"cpu"}),
                run_precisions=frozenset({"fp32", "bf16"}), triton_backend="openvino", per_layer="openvino"),
)}


def backend_names(artifact: str | None = None, *, served: bool = False) -> tuple[str, ...]:
    """Every backend name (for CLI choices), or those that run one artifact kind; `served`:
    only those whose artifacts a server can serve (exported models, not PyTorch)."""
    return tuple(name for name, info in BACKENDS.items() if (artifact is None or info.artifact == artifact)
                 and (not served or info.triton_backend is not None))


def default_backend(kind: str) -> str:
    """The backend an artifact of `kind` (onnx, plan, checkpoint) runs on when none is named."""
    return next(name for name, info in BACKENDS.items() if info.artifact == kind and info.default)


def backend_for_provider(provider: str) -> BackendInfo | None:
    """The backend that runs onnxruntime with `provider` (cpu, cuda, tensorrt), if one does."""
    return next((info for info in BACKENDS.values() if info.provider == provider), None)


def precision_backends(precision: str) -> tuple[str, ...]:
    """The backends that can compute an FP32 model in `precision` (for messages and choices)."""
    return tuple(name for name, info in BACKENDS.items() if precision in info.run_precisions)


def check_run_precision(backend: str, precision: str | None) -> None:
    """Refuse (exit 2) a run precision the backend cannot compute, naming the ones that can
    and, for a graph precision, the way to make such a model."""
    if precision is None:
        return
    info = get_backend(backend)
    if precision in info.run_precisions:
        return
    others = ", ".join(precision_backends(precision)) or "none"
    raise InvalidInputError(f"backend '{backend}' runs the precision its model holds and cannot compute {precision} "
                            f"from it; backends that can: {others}; or make a {precision} model "
                            f"(`quantize --precision {precision}`)", param="precision")


def get_backend(name: str) -> BackendInfo:
    try:
        return BACKENDS[name]
    except KeyError:
        raise InvalidInputError(f"unknown backend {name!r}; valid: {', '.join(BACKENDS)}", param="backend") from None


@dataclass(frozen=True)
class Unavailable:
    """Why a backend cannot run here, in parts a report can group: `cause` (a short phrase that
    backends missing the same thing share), `package` (what provides it; None where pip cannot
    help) and the `extra` of resnet-deploy that installs it. `reason` is the one-line message."""

    backend: str
    cause: str  # "TensorRT is not installed", "onnxruntime-gpu is not installed", ...
    missing: str  # what the backend needs, for `reason`: "TensorRT, which is not installed"
    package: str | None = None
    extra: str | None = None

    @property
    def needs_gpu(self) -> bool:
        return get_backend(self.backend).needs_gpu

    @property
    def install(self) -> str | None:
        """How to install `package` (one line), or None."""
        return install_hint(self.extra) if self.extra is not None else None

    @property
    def reason(self) -> str:
        install = self.install
        return f"backend '{self.backend}' needs {self.missing}" + (f"; {install}" if install else "")


def unavailable(name: str) -> Unavailable | None:
    """Why `name` cannot run here (a missing package, provider or GPU), or None when it can."""
    info = get_backend(name)
    if info.module == "tensorrt":
        if tensorrt_module() is None:
            return Unavailable(name, "TensorRT is not installed", "TensorRT, which is not installed", "tensorrt",
                               info.extra)
        return None
    if not is_installed(info.module):
        return Unavailable(name, f"{info.module} is not installed", f"{info.module}, which is not installed",
                           info.module, info.extra)
    if info.provider is not None and info.provider != "cpu":
        import onnxruntime as ort

        from resnet_deploy.backends.onnxruntime_runner import PROVIDERS

        provider = PROVIDERS[info.provider]
        if provider not in ort.get_available_providers():
            gpu_build = _distribution_installed("onnxruntime-gpu")
            cause = f"this onnxruntime has no {provider}" if gpu_build else "onnxruntime-gpu is not installed"
            return Unavailable(name, cause, f"onnxruntime's {provider}, which this onnxruntime lacks",
                               "onnxruntime-gpu", info.extra)
    if info.module == "torch" and info.needs_gpu:
        import torch

        if not torch.cuda.is_available():
            return Unavailable(name, "torch sees no CUDA device",
                               "a CUDA device and a CUDA build of torch; none is usable here")
    return None


def _distribution_installed(distribution: str) -> bool:
    from importlib import metadata

    try:
        metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def unavailable_reason(name: str) -> str | None:
    """Why `name` cannot run here, in one line, or None when it can."""
    why = unavailable(name)
    return None if why is None else why.reason


def require_available(name: str) -> BackendInfo:
    """The backend's entry, or MissingDependencyError (exit 3) saying what to install."""
    info = get_backend(name)
    reason = unavailable_reason(name)
    if reason is not None:
        raise MissingDependencyError(reason)
    return info


def available_backends(names: tuple[str, ...] | None = None) -> dict[str, str | None]:
    """backend -> None when usable here, else the reason it is not (for reports and `info`)."""
    return {name: unavailable_reason(name) for name in (names or tuple(BACKENDS))}


def check_runs(backend: str, source: Path | str) -> BackendInfo:
    """The backend's row, after checking it runs this kind of source (exit 2 naming the
    backends that do)."""
    info = get_backend(backend)
    kind = artifact_kind(source)
    if kind != info.artifact:
        raise InvalidInputError(f"backend '{backend}' runs {KIND_TEXT[info.artifact]}, not {KIND_TEXT[kind]} "
                                f"('{source}'); backends for it: {', '.join(backend_names(kind))}", param="backend")
    return info


def open_runner(backend: str, source: Path | str, options: RunOptions | None = None) -> Runner:
    """A runner (not yet activated) for `source` on `backend`. Checks, before anything is
    loaded, that the backend is installed, that it runs this kind of source, that the file
    exists, and that every option given is one the backend honours."""
    from resnet_deploy.sidecar import require_file

    options = options or RunOptions()
    info = require_available(backend)
    check_run_precision(backend, options.precision)
    unsupported = sorted(options.given() - info.options - set(options.extra))
    if unsupported:
        raise InvalidInputError(f"backend '{backend}' does not take {', '.join(unsupported)}", param=unsupported[0])
    check_runs(backend, source)
    kind = info.artifact
    if kind != "checkpoint" or Path(source).suffix in (*CHECKPOINT_SUFFIXES, *WEIGHTS_SUFFIXES) or Path(source).exists():
        require_file(source, KIND_TEXT[kind])
    else:
        from resnet_deploy.models import get_entry

        get_entry(str(source))  # a model name: an unknown one lists the valid names
    return info.factory(source, options)
