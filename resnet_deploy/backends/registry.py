"""The backend registry: one table says, for every `--backend`, which artifact it runs, on
which device, what to install for it, what it can do and how to build its runner. The CLI's
choices, `bench`, `validate`, `accuracy` and the install hints all read this table
(onnxruntime's quantizer registry is the model: adding a runtime is one entry).

Nothing heavy is imported here: runner modules are imported by the factories, when a runner
is actually built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resnet_deploy.backends.base import Runner
from resnet_deploy.errors import InvalidInputError, MissingDependencyError
from resnet_deploy.optional import install_hint, is_installed, tensorrt_module


@dataclass(frozen=True)
class RunOptions:
    """Settings a caller may give any backend; each backend says which it honours
    (`BackendInfo.options`) and refuses the others rather than ignoring them."""

    threads: int | None = None
    input_size: tuple[int, int] | None = None
    device: str | None = None        # torch: cpu / cuda[:N]; openvino: CPU / GPU / AUTO
    precision: str | None = None     # run precision from an FP32 model (BackendInfo.run_precisions)
    channels_last: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)  # runner-specific keyword arguments

    def given(self) -> set[str]:
        """Names of the options set to something other than their default."""
        names = {name for name in ("threads", "input_size", "device", "precision") if getattr(self, name) is not None}
        return names | ({"channels_last"} if self.channels_last else set()) | set(self.extra)


Factory = Callable[[Path | str, RunOptions], Runner]
# Every run precision a backend may compute from an FP32 model (the choices of `--precision`).
RUN_PRECISIONS = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class BackendInfo:
    """One runtime. `artifact`: what it runs (onnx, plan, checkpoint: a checkpoint or a model
    name). `capabilities`: cuda_graphs (the harness may capture its compute in a CUDA graph),
    streams (several contexts in flight), device_timing (CUDA events), serialized (it runs one
    iteration at a time whatever the harness asks). `run_precisions`: the precisions it can
    compute an FP32 model in when asked (`RunOptions.precision`: torch autocast, OpenVINO's
    inference precision); the others run the precision their graph holds, and only that."""

    name: str
    artifact: str
    device: str
    extra: str
    module: str
    summary: str
    factory: Factory
    options: frozenset[str] = frozenset()
    capabilities: frozenset[str] = frozenset()
    needs_gpu: bool = False
    run_precisions: frozenset[str] = frozenset()

    def can(self, capability: str) -> bool:
        return capability in self.capabilities


def _torch(mode: str) -> Factory:
    def build(source: Path | str, options: RunOptions) -> Runner:
        from resnet_deploy.backends.torch_runner import TorchRunner

        device = options.device or ("cuda" if mode == "cudagraph" else "cpu")
        threads = options.threads if not device.startswith("cuda") else None
        runner: Runner = TorchRunner(source, mode=mode, device=device, precision=options.precision or "fp32",
                                     channels_last=options.channels_last, threads=threads,
                                     input_size=options.input_size, **options.extra)
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


_TORCH_OPTIONS = frozenset({"threads", "input_size", "device", "precision", "channels_last"})
_TORCH_PRECISIONS = frozenset({"fp32", "fp16", "bf16"})  # fp16 on CUDA only (the runner refuses it on a CPU)
_GPU_CAPS = frozenset({"device_timing", "streams"})

BACKENDS: dict[str, BackendInfo] = {info.name: info for info in (
    BackendInfo("torch", "checkpoint", "cpu", "", "torch", "PyTorch eager (the reference)", _torch("eager"),
                _TORCH_OPTIONS, frozenset({"threads"}), run_precisions=_TORCH_PRECISIONS),
    BackendInfo("torch-compile", "checkpoint", "cpu", "", "torch", "torch.compile", _torch("compile"),
                _TORCH_OPTIONS, frozenset({"threads"}), run_precisions=_TORCH_PRECISIONS),
    BackendInfo("torch-cudagraph", "checkpoint", "cuda", "gpu", "torch", "PyTorch replaying a captured CUDA graph",
                _torch("cudagraph"), _TORCH_OPTIONS - {"threads"}, _GPU_CAPS, needs_gpu=True,
                run_precisions=_TORCH_PRECISIONS),
    BackendInfo("ort-cpu", "onnx", "cpu", "cpu", "onnxruntime", "onnxruntime, CPU execution provider", _ort_cpu,
                frozenset({"threads"}), frozenset({"threads"})),
    BackendInfo("ort-cuda", "onnx", "cuda", "gpu", "onnxruntime", "onnxruntime, CUDA execution provider",
                _ort_gpu("cuda"), frozenset(), _GPU_CAPS | {"serialized"}, needs_gpu=True),
    BackendInfo("ort-trt", "onnx", "cuda", "gpu", "onnxruntime", "onnxruntime, TensorRT execution provider",
                _ort_gpu("tensorrt"), frozenset(), _GPU_CAPS | {"serialized"}, needs_gpu=True),
    BackendInfo("tensorrt", "plan", "cuda", "tensorrt", "tensorrt", "TensorRT plan", _tensorrt, frozenset(),
                _GPU_CAPS | {"cuda_graphs"}, needs_gpu=True),
    BackendInfo("openvino", "onnx", "cpu", "openvino", "openvino", "OpenVINO (CPU plugin by default)", _openvino,
                frozenset({"threads", "device", "precision"}), frozenset({"threads"}),
                run_precisions=frozenset({"fp32", "bf16"})),
)}

# The backend an artifact runs on when none is named.
DEFAULT_BACKEND = {"onnx": "ort-cpu", "plan": "tensorrt", "checkpoint": "torch"}


def backend_names(artifact: str | None = None) -> tuple[str, ...]:
    """Every backend name (for CLI choices), or those that run one artifact kind."""
    return tuple(name for name, info in BACKENDS.items() if artifact is None or info.artifact == artifact)


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


def unavailable_reason(name: str) -> str | None:
    """Why `name` cannot run here (a missing package, provider or GPU), or None when it can."""
    info = get_backend(name)
    if name == "tensorrt":
        if tensorrt_module() is None:
            return f"backend 'tensorrt' needs TensorRT, which is not installed; {install_hint(info.extra)}"
        return None
    if not is_installed(info.module):
        return f"backend '{name}' needs {info.module}, which is not installed; {install_hint(info.extra)}"
    if name in ("ort-cuda", "ort-trt"):
        import onnxruntime as ort

        provider = "CUDAExecutionProvider" if name == "ort-cuda" else "TensorrtExecutionProvider"
        if provider not in ort.get_available_providers():
            return (f"backend '{name}' needs onnxruntime's {provider}, which this onnxruntime lacks; "
                    f"{install_hint(info.extra)}")
    if name == "torch-cudagraph":
        import torch

        if not torch.cuda.is_available():
            return "backend 'torch-cudagraph' needs a CUDA device and a CUDA build of torch; none is usable here"
    return None


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
    kind = artifact_kind(source)
    if kind != info.artifact:
        raise InvalidInputError(f"backend '{backend}' runs {_KIND_TEXT[info.artifact]}, not {_KIND_TEXT[kind]} "
                                f"('{source}'); backends for it: {', '.join(backend_names(kind))}", param="backend")
    if kind != "checkpoint" or Path(source).suffix in CHECKPOINT_SUFFIXES or Path(source).exists():
        require_file(source, _KIND_TEXT[kind])
    else:
        from resnet_deploy.models import get_entry

        get_entry(str(source))  # a model name: an unknown one lists the valid names
    return info.factory(source, options)


PLAN_SUFFIXES = (".plan", ".engine", ".trt")
CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt")
_KIND_TEXT = {"onnx": "an ONNX model", "plan": "a TensorRT plan", "checkpoint": "a checkpoint or model name"}


def artifact_kind(source: Path | str) -> str:
    """onnx, plan or checkpoint (a checkpoint file, or a registry model name)."""
    suffix = Path(str(source)).suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix in PLAN_SUFFIXES:
        return "plan"
    return "checkpoint"
