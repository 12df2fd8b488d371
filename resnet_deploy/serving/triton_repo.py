"""`build_triton_repo`: one Triton model folder per artifact, configured from the artifact.

    repo/
      resnet50_fp16/
        config.pbtxt        platform, max_batch_size, inputs/outputs, dynamic_batching, instances
        labels.txt          one class name per line (when the artifact names its classes)
        1/model.plan        (or model.onnx) and its sidecar, copied unchanged

Each model folder is built in a temporary folder beside its final place, validated by parsing
config.pbtxt into Triton's ModelConfig and comparing it with the copied artifact, and only then
renamed into place: a server watching the repository never sees half a model.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from resnet_deploy import __version__
from resnet_deploy.atomic import atomic_directory, atomic_write_text, atomic_write_with
from resnet_deploy.errors import ArtifactError, InvalidInputError
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.serving.batching import (
    BatchingChoice,
    choose_batching,
    choose_batching_from_mlperf,
)
from resnet_deploy.serving.model_config import (
    LABELS_FILE,
    TRITON_BACKENDS,
    VERSION,
    ConfigRequest,
    build_model_config,
    check_labels,
    check_model_config,
    config_text,
    parse_config_text,
    resolve_max_batch,
)
from resnet_deploy.serving.signature import ModelSignature, read_signature
from resnet_deploy.sidecar import sidecar_path

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class RepoOptions:
    """How to serve the artifacts; everything not given here comes from the artifacts.

    backend: Triton backend for ONNX models, "onnxruntime" (default) or "openvino"; plans
      always use "tensorrt". kind: instance kind "gpu" or "cpu" (default: gpu for plans and
      for onnxruntime with `trt_ep`, cpu otherwise). bench + latency_budget_ms: choose the
      preferred batch and queue delay from a bench result. name: the model name (one
      artifact only; default: the artifact's file name without its suffix). replace: replace
      existing model folders of the same name.
    """

    backend: str | None = None
    max_batch: int | None = None
    instances: int = 1
    kind: str | None = None
    trt_ep: bool = False
    max_queue_delay_us: int | None = None
    bench: Path | None = None
    latency_budget_ms: float | None = None
    mlperf: Path | None = None
    name: str | None = None
    labels: bool = True
    replace: bool = False


@dataclass
class ModelEntry:
    """One model folder that was written."""

    name: str
    folder: Path
    artifact: Path
    backend: str
    max_batch_size: int
    preferred_batch_sizes: list[int]
    max_queue_delay_us: int | None
    instances: int
    kind: str
    labels: int
    batching: BatchingChoice | None = None

    def to_dict(self) -> JsonObject:
        data = asdict(self)
        data["folder"], data["artifact"] = str(self.folder), str(self.artifact)
        data["batching"] = asdict(self.batching) if self.batching else None
        return data


@dataclass
class TritonRepoResult:
    repository: Path
    models: list[ModelEntry] = field(default_factory=list)

    def to_dict(self) -> JsonObject:
        return {"repository": str(self.repository), "models": [m.to_dict() for m in self.models]}


def model_name_for(artifact: Path) -> str:
    """`r50.fp16.onnx` -> `r50.fp16`: the file name without its suffix, other characters
    than letters, digits, `_`, `.` and `-` replaced by `_`."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(artifact).stem).lstrip(".")
    return name or "model"


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInputError(f"model name {name!r} must be letters, digits, '_', '.' or '-' (not starting with "
                                "'.' or '-')", param="name")
    return name


def check_output(output: str | os.PathLike[str]) -> Path:
    """Refuse (exit 2) a repository path that is a file, whose parent is missing, or that
    cannot be written; creates nothing."""
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise InvalidInputError(f"output '{output}' exists and is not a folder; a Triton model repository is a "
                                "folder", param="output")
    existing = output if output.exists() else (output.parent if str(output.parent) else Path("."))
    if not existing.is_dir():
        raise InvalidInputError(f"the folder '{existing}' that should hold the repository does not exist",
                                param="output")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InvalidInputError(f"cannot write into folder '{existing}'", param="output")
    return output


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _refuse_overwriting_inputs(inputs: Sequence[Path], folder: Path) -> None:
    for path in inputs:
        if _is_within(path, folder):
            raise InvalidInputError(f"input '{path}' lies inside model folder '{folder}', which would be replaced; "
                                    "write the repository somewhere else", param="output")


def _default_backend(signature: ModelSignature, requested: str | None) -> str:
    """The Triton backend that serves `signature`'s kind: the one asked for, or the one our
    default backend for the kind maps to (the backend registry's `triton_backend`)."""
    from resnet_deploy.backends.registry import backend_names, default_backend, get_backend

    served = dict.fromkeys(str(get_backend(name).triton_backend) for name in backend_names(signature.kind, served=True))
    if requested is None:
        return str(get_backend(default_backend(signature.kind)).triton_backend)
    if requested not in served:
        what = "a TensorRT plan" if signature.kind == "plan" else "an ONNX model"
        names = " or ".join(served)
        raise InvalidInputError(f"'{signature.path}' is {what}; it is served by the {names} backend, not {requested!r}",
                                param="backend")
    return requested


def _default_kind(backend: str, options: RepoOptions) -> str:
    if options.kind:
        return options.kind
    kinds = TRITON_BACKENDS[backend].instance_kinds
    return "gpu" if kinds == {"gpu"} or options.trt_ep else "cpu"


def _copier(source: Path) -> Callable[[Path], object]:
    return lambda destination: shutil.copyfile(source, destination)


def write_model_folder(final: Path, signature: ModelSignature, request: ConfigRequest,
                       files: dict[str, Path], *, replace: bool = False) -> Path:
    """Build model folder `final` (config.pbtxt, labels, `files` as {name in 1/: source}) in a
    temporary folder beside it, validate it against `signature`, then move it into place."""
    config = build_model_config(signature, request)
    labels = check_labels(signature) if request.labels else ()
    with atomic_directory(final, replace=replace) as tmp:
        header = f"Written by resnet-deploy {__version__} from {signature.path.name}"
        if signature.architecture:
            header += f" ({signature.architecture}, {signature.precision or 'unknown precision'})"
        atomic_write_text(tmp / "config.pbtxt", config_text(config, header))
        if labels and any(o.label_filename for o in config.output):
            atomic_write_text(tmp / LABELS_FILE, "".join(f"{name}\n" for name in labels))
        (tmp / VERSION).mkdir()
        for name, source in files.items():
            atomic_write_with(tmp / VERSION / name, _copier(source))
        # Validate what was written: the text parsed back, against the copied artifact.
        written = parse_config_text((tmp / "config.pbtxt").read_text(encoding="utf-8"))
        model_file = TRITON_BACKENDS[request.backend].model_file
        copied = tmp / VERSION / model_file
        checked = read_signature(copied) if model_file != "model.py" else signature
        problems = check_model_config(written, checked, tmp, backend=request.backend, name=final.name)
        if problems:
            raise ArtifactError(f"the configuration generated for '{signature.path}' does not match it: {problems[0]}")
    return final


def _artifact_files(signature: ModelSignature, backend: str) -> dict[str, Path]:
    """What goes into the version folder: the artifact under Triton's file name, its sidecar,
    and an ONNX model's external-data files under their own names."""
    model_file = TRITON_BACKENDS[backend].model_file
    files = {model_file: signature.path}
    sidecar = sidecar_path(signature.path)
    if sidecar.is_file():
        files[model_file + ".json"] = sidecar
    for relative in signature.external_data:
        source = signature.path.parent / relative
        if not source.is_file() or Path(relative).is_absolute() or ".." in Path(relative).parts:
            raise ArtifactError(f"'{signature.path}' keeps its weights in '{relative}', which is missing or outside "
                                "the model's folder")
        files[relative] = source
    return files


def build_triton_repo(artifacts: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str],
                      options: RepoOptions | None = None) -> TritonRepoResult:
    """Write a Triton model repository with one model per artifact (ONNX models and TensorRT
    plans). Every request is checked against every artifact before the first folder is
    written; each model folder then appears atomically. Refusals are InvalidInputError (exit 2)."""
    options = options or RepoOptions()
    paths = [Path(a) for a in artifacts]
    if not paths:
        raise InvalidInputError("give at least one artifact (an ONNX model or a TensorRT plan)", param="artifacts")
    if options.name is not None and len(paths) > 1:
        raise InvalidInputError("a model name can only be given for a single artifact", param="name")
    if (options.bench is None) != (options.latency_budget_ms is None):
        raise InvalidInputError("a bench result and a latency budget go together: give both or neither",
                                param="latency_budget_ms" if options.bench is not None else "bench")
    if options.mlperf is not None and options.bench is not None:
        raise InvalidInputError("choose the batching from a bench result or from an mlperf peak, not both",
                                param="mlperf")
    if options.instances < 1:
        raise InvalidInputError(f"instances must be at least 1, got {options.instances}", param="instances")
    repository = check_output(output)
    inputs = paths + [sidecar_path(p) for p in paths] + [p for p in (options.bench, options.mlperf) if p]

    plans: list[tuple[Path, ModelSignature, ConfigRequest, BatchingChoice | None]] = []
    names: dict[str, Path] = {}
    for path in paths:
        signature = read_signature(path)
        name = _check_name(options.name or model_name_for(path))
        if name in names:
            raise InvalidInputError(f"'{names[name]}' and '{path}' would both be model '{name}'; rename one of them",
                                    param="artifacts")
        names[name] = path
        final = repository / name
        _refuse_overwriting_inputs(inputs, final)
        if final.exists() and not options.replace:
            raise InvalidInputError(f"model folder '{final}' already exists; remove it or set replace",
                                    param="replace")
        backend = _default_backend(signature, options.backend)
        max_batch = resolve_max_batch(signature, options.max_batch)
        choice = None
        preferred: tuple[int, ...] = ()
        delay = options.max_queue_delay_us
        if options.bench is not None and options.latency_budget_ms is not None:
            if max_batch == 0:
                raise InvalidInputError(f"'{path}' has no batch axis; a bench result cannot tune its batching",
                                        param="bench")
            choice = choose_batching(options.bench, path, latency_budget_ms=options.latency_budget_ms,
                                     max_batch=max_batch, only_exact_match=len(paths) > 1)
            preferred = (choice.preferred_batch_size,)
            if delay is None:
                delay = choice.max_queue_delay_us
        elif options.mlperf is not None:
            if max_batch == 0:
                raise InvalidInputError(f"'{path}' has no batch axis; an mlperf result cannot tune its batching",
                                        param="mlperf")
            choice = choose_batching_from_mlperf(options.mlperf, max_batch=max_batch)
            preferred = (choice.preferred_batch_size,)
            if delay is None:
                delay = choice.max_queue_delay_us
        request = ConfigRequest(name=name, backend=backend, max_batch=max_batch, instances=options.instances,
                                kind=_default_kind(backend, options), preferred_batch_sizes=preferred,
                                max_queue_delay_us=delay, labels=options.labels, trt_ep=options.trt_ep)
        build_model_config(signature, request)  # every refusal before anything is written
        if options.labels:
            check_labels(signature)
        plans.append((final, signature, request, choice))

    repository.mkdir(exist_ok=True)
    result = TritonRepoResult(repository)
    for final, signature, request, choice in plans:
        write_model_folder(final, signature, request, _artifact_files(signature, request.backend),
                           replace=options.replace)
        log.info("wrote model '%s' (%s) from %s", request.name, request.backend, signature.path)
        result.models.append(ModelEntry(
            name=request.name, folder=final, artifact=signature.path, backend=request.backend,
            max_batch_size=int(request.max_batch or 0), preferred_batch_sizes=list(request.preferred_batch_sizes),
            max_queue_delay_us=request.max_queue_delay_us, instances=request.instances, kind=request.kind,
            labels=len(signature.class_names) if options.labels else 0, batching=choice))
    return result


def check_model_folder(folder: str | os.PathLike[str], artifact: str | os.PathLike[str] | None = None) -> list[str]:
    """Problems of an existing model folder: config.pbtxt parsed into ModelConfig and compared
    with the model file in `1/` (or with `artifact`, for a Python-backend model)."""
    folder = Path(folder)
    text_path = folder / "config.pbtxt"
    if not text_path.is_file():
        return [f"'{folder}' has no config.pbtxt"]
    config = parse_config_text(text_path.read_text(encoding="utf-8"))
    backend = next((row.name for row in TRITON_BACKENDS.values() if getattr(config, row.field) == row.value), None)
    if backend is None:
        return [f"'{text_path}' names neither a platform nor a backend resnet-deploy writes"]
    model_file = folder / VERSION / TRITON_BACKENDS[backend].model_file
    source = Path(artifact) if artifact is not None else model_file
    if not source.is_file():
        return [f"'{source}' is missing"]
    return check_model_config(config, read_signature(source), folder, backend=backend)
