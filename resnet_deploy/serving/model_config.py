"""Triton model configurations (config.pbtxt) built from an artifact's signature, and the
check that a configuration matches its artifact.

The configuration is built as Triton's own `ModelConfig` protobuf message (shipped with
tritonclient as `tritonclient.grpc.model_config_pb2`) and written with protobuf's text
format, so it always parses; `check_model_config` then parses the written text back and
compares every field Triton would enforce (names, data types, dims, batch range, labels,
instance kind) with the artifact, so a wrong configuration fails here, not at load time on
a production server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resnet_deploy.errors import InvalidInputError, MissingDependencyError
from resnet_deploy.serving.signature import ModelSignature, TensorSpec

# numpy dtype name -> Triton data type
TRITON_DTYPES = {
    "bool": "TYPE_BOOL", "uint8": "TYPE_UINT8", "uint16": "TYPE_UINT16", "uint32": "TYPE_UINT32",
    "uint64": "TYPE_UINT64", "int8": "TYPE_INT8", "int16": "TYPE_INT16", "int32": "TYPE_INT32", "int64": "TYPE_INT64",
    "float16": "TYPE_FP16", "float32": "TYPE_FP32", "float64": "TYPE_FP64", "bfloat16": "TYPE_BF16",
}



@dataclass(frozen=True)
class TritonBackend:
    """One Triton backend resnet-deploy writes configurations for: the ModelConfig field that
    names it (`platform` or `backend`) and its value, the model file in the version folder,
    the instance kinds it runs on, whether the model file must be named in the config
    (`default_model_filename`), and whether it takes OpenVINO's stream parameters. Which
    artifacts it serves comes from the backend registry (`BackendInfo.triton_backend`)."""

    name: str
    field: str
    value: str
    model_file: str
    instance_kinds: frozenset[str] = frozenset({"cpu", "gpu"})
    names_model_file: bool = False
    stream_parameters: bool = False
    execution_accelerators: bool = False  # the onnxruntime TensorRT accelerator

    @property
    def instance_kind_text(self) -> str:
        return " or ".join(sorted(self.instance_kinds))


TRITON_BACKENDS: dict[str, TritonBackend] = {row.name: row for row in (
    TritonBackend("tensorrt", "platform", "tensorrt_plan", "model.plan", instance_kinds=frozenset({"gpu"})),
    TritonBackend("onnxruntime", "platform", "onnxruntime_onnx", "model.onnx", execution_accelerators=True),
    TritonBackend("openvino", "backend", "openvino", "model.onnx", instance_kinds=frozenset({"cpu"}),
                  names_model_file=True, stream_parameters=True),
    TritonBackend("python", "backend", "python", "model.py"),
)}
LABELS_FILE = "labels.txt"
VERSION = "1"


def model_config_pb2() -> Any:
    """tritonclient's copy of Triton's model_config.proto (exit 3 without the serve extra)."""
    try:
        from tritonclient.grpc import model_config_pb2 as pb2
    except ImportError as exc:
        from resnet_deploy.optional import install_hint

        raise MissingDependencyError(f"Triton model configurations need tritonclient's ModelConfig ({exc}); "
                                     f"{install_hint('serve')}") from exc
    return pb2


@dataclass(frozen=True)
class ConfigRequest:
    """What the caller asked for; everything else comes from the artifact.

    `max_batch` None: the plan's profile maximum, or DEFAULT_MAX_BATCH for a dynamic ONNX
    model. `kind` "gpu" / "cpu" is the instance kind. `parameters` are the model's string
    parameters (the Python backend reads its artifact and runner from them).
    """

    name: str
    backend: str
    max_batch: int | None = None
    instances: int = 1
    kind: str = "cpu"
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_delay_us: int | None = None
    labels: bool = True
    trt_ep: bool = False
    parameters: dict[str, str] = field(default_factory=dict)


DEFAULT_MAX_BATCH = 32


def resolve_max_batch(signature: ModelSignature, requested: int | None) -> int:
    """Triton's max_batch_size for this artifact (0: the model does not batch); refuses a
    request above what the artifact accepts (exit 2)."""
    if requested is not None and requested < 0:
        raise InvalidInputError(f"max_batch must not be negative, got {requested}", param="max_batch")
    if not signature.batched:
        if requested not in (None, 0):
            raise InvalidInputError(f"'{signature.path}' has a fixed batch of {signature.max_batch} (no batch axis); "
                                    f"max_batch {requested} cannot be served: re-export with a dynamic batch",
                                    param="max_batch")
        return 0
    if signature.min_batch > 1:
        raise InvalidInputError(f"the optimization profile of '{signature.path}' starts at batch {signature.min_batch}, "
                                "but Triton sends batches from 1 up; rebuild the plan with min batch 1", param="artifacts")
    if requested == 0:
        raise InvalidInputError("max_batch must be at least 1 for a model with a batch axis", param="max_batch")
    if requested is not None and signature.max_batch is not None and requested > signature.max_batch:
        raise InvalidInputError(f"max_batch {requested} is above the {signature.max_batch} that '{signature.path}' "
                                f"accepts (its optimization profile); rebuild it with a larger max batch or ask for "
                                f"at most {signature.max_batch}", param="max_batch")
    if requested is not None:
        return requested
    return signature.max_batch if signature.max_batch is not None else DEFAULT_MAX_BATCH


def _dtype(spec: TensorSpec, signature: ModelSignature) -> str:
    if spec.dtype not in TRITON_DTYPES:
        raise InvalidInputError(f"'{signature.path}': tensor '{spec.name}' has data type {spec.dtype}, which Triton "
                                "cannot carry", param="artifacts")
    return TRITON_DTYPES[spec.dtype]


def check_labels(signature: ModelSignature) -> tuple[str, ...]:
    """The class names to write as labels (empty: none known); refuses a class-name list that
    does not match the classifier output, or class names without a fixed class count."""
    names = signature.class_names
    if not names:
        return ()
    count = signature.num_classes
    if count is None:
        raise InvalidInputError(f"'{signature.path}' names {len(names)} classes but its output has no fixed class "
                                "count (unknown class count); serve it without labels", param="labels")
    if count != len(names):
        raise InvalidInputError(f"'{signature.path}' names {len(names)} classes but its output '"
                                f"{signature.classifier_output.name if signature.classifier_output else '?'}' has "
                                f"{count}; fix the model's metadata or serve it without labels", param="labels")
    return names


def build_model_config(signature: ModelSignature, request: ConfigRequest) -> Any:
    """The ModelConfig message for `signature` as `request` asks (refusals exit 2)."""
    pb2 = model_config_pb2()
    if request.backend not in TRITON_BACKENDS:
        raise InvalidInputError(f"unknown Triton backend {request.backend!r}; valid: {', '.join(TRITON_BACKENDS)}",
                                param="backend")
    if request.instances < 1:
        raise InvalidInputError(f"instances must be at least 1, got {request.instances}", param="instances")
    row = TRITON_BACKENDS[request.backend]
    config = pb2.ModelConfig(name=request.name)
    setattr(config, row.field, row.value)
    if row.names_model_file:
        config.default_model_filename = row.model_file
    config.max_batch_size = resolve_max_batch(signature, request.max_batch)
    labels = check_labels(signature) if request.labels else ()
    for spec in signature.inputs:
        config.input.add(name=spec.name, data_type=pb2.DataType.Value(_dtype(spec, signature)), dims=list(spec.dims))
    for spec in signature.outputs:
        out = config.output.add(name=spec.name, data_type=pb2.DataType.Value(_dtype(spec, signature)), dims=list(spec.dims))
        if labels and signature.classifier_output == spec:
            out.label_filename = LABELS_FILE
    if config.max_batch_size > 0:
        batching = config.dynamic_batching
        batching.SetInParent()  # `dynamic_batching { }`: on, with Triton's defaults
        preferred = sorted(set(request.preferred_batch_sizes))
        bad = [b for b in preferred if b < 1 or b > config.max_batch_size]
        if bad:
            raise InvalidInputError(f"preferred batch size {bad[0]} is outside 1..{config.max_batch_size} "
                                    "(the model's max batch)", param="preferred_batch_sizes")
        batching.preferred_batch_size.extend(preferred)
        if request.max_queue_delay_us is not None:
            if request.max_queue_delay_us < 0:
                raise InvalidInputError(f"max_queue_delay_us must not be negative, got {request.max_queue_delay_us}",
                                        param="max_queue_delay_us")
            batching.max_queue_delay_microseconds = request.max_queue_delay_us
    elif request.preferred_batch_sizes or request.max_queue_delay_us:
        raise InvalidInputError(f"'{signature.path}' has no batch axis, so it cannot be batched dynamically",
                                param="max_queue_delay_us")
    kind = _instance_kind(signature, request)
    config.instance_group.add(count=request.instances, kind=pb2.ModelInstanceGroup.Kind.Value(kind))
    if request.trt_ep:
        accelerator = config.optimization.execution_accelerators.gpu_execution_accelerator.add(name="tensorrt")
        accelerator.parameters["precision_mode"] = {"fp16": "FP16", "int8": "INT8"}.get(signature.precision or "", "FP32")
    if TRITON_BACKENDS[request.backend].stream_parameters:
        # One OpenVINO stream per instance; the latency hint for one instance (README of the backend).
        config.parameters["NUM_STREAMS"].string_value = str(request.instances)
        config.parameters["PERFORMANCE_HINT"].string_value = "LATENCY" if request.instances == 1 else "THROUGHPUT"
    for key, text in request.parameters.items():
        config.parameters[key].string_value = text
    return config


def _instance_kind(signature: ModelSignature, request: ConfigRequest) -> str:
    kind = request.kind.lower()
    if kind not in ("gpu", "cpu"):
        raise InvalidInputError(f"instance kind must be gpu or cpu, got {request.kind!r}", param="kind")
    row = TRITON_BACKENDS[request.backend]
    if kind not in row.instance_kinds:
        raise InvalidInputError(f"Triton's {row.name} backend runs on {row.instance_kind_text.upper()} instances only "
                                f"(instance kind {row.instance_kind_text})", param="kind")
    if request.trt_ep and (not row.execution_accelerators or kind != "gpu"):
        raise InvalidInputError("the TensorRT execution accelerator needs the onnxruntime backend on GPU instances",
                                param="trt_ep")
    return "KIND_GPU" if kind == "gpu" else "KIND_CPU"


def config_text(config: Any, header: str = "") -> str:
    """config.pbtxt text (`dims: [3, 224, 224]` style), after `header` as `#` comment lines."""
    from google.protobuf import text_format

    comments = "".join(f"# {line}\n" for line in header.splitlines())
    return comments + text_format.MessageToString(config, use_short_repeated_primitives=True)


def parse_config_text(text: str) -> Any:
    """Parse config.pbtxt text into a ModelConfig (InvalidInputError for text Triton would reject)."""
    from google.protobuf import text_format

    pb2 = model_config_pb2()
    try:
        return text_format.Parse(text, pb2.ModelConfig())
    except text_format.ParseError as exc:
        raise InvalidInputError(f"not a valid Triton model configuration: {exc}") from exc


def check_model_config(config: Any, signature: ModelSignature, folder: Path, *, backend: str,
                       name: str | None = None) -> list[str]:
    """Every way `config` (a parsed ModelConfig) disagrees with `signature` and the files in
    the model `folder` (whose final name is `name`, default the folder's); empty when they agree."""
    pb2 = model_config_pb2()
    problems: list[str] = []
    row = TRITON_BACKENDS[backend]
    expected_name = name or folder.name
    if config.name != expected_name:
        problems.append(f"name {config.name!r} is not the folder name {expected_name!r}")
    if getattr(config, row.field) != row.value:
        problems.append(f"{row.field} is {getattr(config, row.field)!r}, expected {row.value!r}")
    if not (folder / VERSION / row.model_file).is_file():
        problems.append(f"{VERSION}/{row.model_file} is missing")
    mbs = config.max_batch_size
    if signature.batched:
        limit = signature.max_batch
        if mbs < 1 or (limit is not None and mbs > limit):
            problems.append(f"max_batch_size {mbs} is outside 1..{limit or 'unbounded'} (the artifact's batch range)")
    elif mbs != 0:
        problems.append(f"max_batch_size is {mbs}, but the artifact has no batch axis (must be 0)")
    problems += _check_tensors("input", config.input, signature.inputs, pb2)
    problems += _check_tensors("output", config.output, signature.outputs, pb2)
    for out in config.output:
        if out.label_filename:
            labels = folder / out.label_filename
            count = len(labels.read_text(encoding="utf-8").splitlines()) if labels.is_file() else None
            if count is None:
                problems.append(f"output {out.name!r} names labels file {out.label_filename!r}, which is missing")
            elif list(out.dims[-1:]) != [count]:
                problems.append(f"labels file {out.label_filename!r} has {count} lines; output {out.name!r} has dims "
                                f"{list(out.dims)}")
    if config.HasField("dynamic_batching"):
        if mbs < 1:
            problems.append("dynamic_batching needs max_batch_size >= 1")
        for size in config.dynamic_batching.preferred_batch_size:
            if not 1 <= size <= mbs:
                problems.append(f"preferred_batch_size {size} is outside 1..{mbs}")
    elif mbs > 0:
        problems.append("dynamic_batching is off")
    kinds = {pb2.ModelInstanceGroup.Kind.Name(group.kind) for group in config.instance_group}
    if not config.instance_group or any(group.count < 1 for group in config.instance_group):
        problems.append("instance_group needs at least one instance")
    allowed = {f"KIND_{kind.upper()}" for kind in row.instance_kinds}
    if not kinds <= allowed:
        problems.append(f"the {row.name} backend needs {' or '.join(sorted(allowed))} instances, got {sorted(kinds)}")
    return problems


def _check_tensors(role: str, declared: Any, expected: tuple[TensorSpec, ...], pb2: Any) -> list[str]:
    problems = []
    by_name = {t.name: t for t in declared}
    if set(by_name) != {t.name for t in expected}:
        return [f"{role}s are {sorted(by_name)}, the artifact has {sorted(t.name for t in expected)}"]
    for spec in expected:
        entry = by_name[spec.name]
        dtype = pb2.DataType.Name(entry.data_type)
        if dtype != TRITON_DTYPES.get(spec.dtype):
            problems.append(f"{role} {spec.name!r} is {dtype}, the artifact has {spec.dtype}")
        if tuple(entry.dims) != spec.dims:
            problems.append(f"{role} {spec.name!r} has dims {list(entry.dims)}, the artifact has {list(spec.dims)}")
    return problems
