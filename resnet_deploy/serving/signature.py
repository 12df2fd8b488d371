"""What an artifact offers a server: its tensors, the batch sizes it accepts, its classes.

A Triton model configuration restates facts the artifact already holds (names, data types,
dims, the batch range of a plan's optimization profile, the class names in the ONNX metadata
or the plan's sidecar). They are read here, once, from the artifact itself, so the generated
configuration and the check that validates it compare against the same source.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resnet_deploy.errors import ArtifactError, InvalidInputError
from resnet_deploy.sidecar import require_file

ONNX_SUFFIXES = (".onnx",)
PLAN_SUFFIXES = (".plan", ".engine", ".trt")


@dataclass(frozen=True)
class TensorSpec:
    """A named tensor as Triton sees it: dims WITHOUT the batch axis when the model batches
    (-1 for a dynamic dim), the full shape otherwise."""

    name: str
    dtype: str  # numpy dtype name (float32, float16, int64, ...), or bfloat16
    dims: tuple[int, ...]


@dataclass(frozen=True)
class ModelSignature:
    """The serving-relevant facts of one artifact.

    `batched`: the leading axis of every input and output is a dynamic batch axis.
    `min_batch` / `max_batch`: the batch range the artifact accepts (max None: unbounded,
    a dynamic ONNX model); for an unbatched artifact both are its fixed leading dim.
    """

    kind: str  # "onnx" or "plan"
    path: Path
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    batched: bool
    min_batch: int
    max_batch: int | None
    class_names: tuple[str, ...] = ()
    precision: str | None = None
    architecture: str | None = None
    external_data: tuple[str, ...] = ()  # ONNX external-data files, relative to the model

    @property
    def classifier_output(self) -> TensorSpec | None:
        """The [batch, classes] output of a classifier (one output with one non-batch dim)."""
        if len(self.outputs) == 1 and len(self.outputs[0].dims) == (1 if self.batched else 2):
            return self.outputs[0]
        return None

    @property
    def num_classes(self) -> int | None:
        """The class count the classifier output declares, None when it is not fixed."""
        out = self.classifier_output
        if out is None or out.dims[-1] < 1:
            return None
        return out.dims[-1]


def artifact_kind(path: str | os.PathLike[str]) -> str:
    """"onnx" or "plan" from the file name; anything else is refused (exit 2)."""
    suffix = Path(path).suffix.lower()
    if suffix in ONNX_SUFFIXES:
        return "onnx"
    if suffix in PLAN_SUFFIXES:
        return "plan"
    raise InvalidInputError(f"'{path}' is neither an ONNX model (.onnx) nor a TensorRT plan (.plan/.engine); "
                            "give one of those", param="artifacts")


def read_signature(path: str | os.PathLike[str]) -> ModelSignature:
    """The signature of an ONNX model or a TensorRT plan (the plan through its sidecar, so no
    TensorRT or GPU is needed). Bad files are one ArtifactError line."""
    path = Path(path)
    if artifact_kind(path) == "onnx":
        return _onnx_signature(path)
    return _plan_signature(path)


# -- ONNX ---------------------------------------------------------------------------------

def _onnx_dims(value_info: Any) -> list[int | None]:
    dims = value_info.type.tensor_type.shape.dim
    return [int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims]


def _onnx_dtype(value_info: Any, path: Path) -> str:
    from onnx import helper

    elem = value_info.type.tensor_type.elem_type
    try:
        return str(np.dtype(helper.tensor_dtype_to_np_dtype(elem)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"'{path}': tensor '{value_info.name}' has an ONNX element type ({elem}) "
                            "that Triton cannot carry") from exc


def external_data_files(model: Any) -> tuple[str, ...]:
    """The external-data files an ONNX model's initializers point to (relative paths)."""
    from onnx import TensorProto

    files: list[str] = []
    for tensor in model.graph.initializer:
        if tensor.data_location == TensorProto.EXTERNAL:
            location = next((e.value for e in tensor.external_data if e.key == "location"), None)
            if location and location not in files:
                files.append(location)
    return tuple(files)


def _onnx_signature(path: Path) -> ModelSignature:
    from resnet_deploy.export.loader import load_onnx_model
    from resnet_deploy.export.metadata import describe_metadata

    model = load_onnx_model(path, load_external_data=False, check=False)
    initializers = {t.name for t in model.graph.initializer}
    graph_inputs = [v for v in model.graph.input if v.name not in initializers]
    graph_outputs = list(model.graph.output)
    if not graph_inputs:
        raise ArtifactError(f"'{path}' has no graph inputs; nothing to serve")
    shapes = [_onnx_dims(v) for v in graph_inputs + graph_outputs]
    if any(not dims for dims in shapes):
        raise ArtifactError(f"'{path}': every input and output needs a known rank to be served")
    leading = [dims[0] for dims in shapes]
    batched = all(d is None for d in leading)
    if not batched and any(d is None for d in leading):
        raise ArtifactError(f"'{path}': some tensors have a dynamic leading axis and others a fixed one; "
                            "re-export with a dynamic batch on all of them (resnet-deploy export)")

    def spec(value_info: Any) -> TensorSpec:
        dims = _onnx_dims(value_info)
        kept = dims[1:] if batched else dims
        return TensorSpec(value_info.name, _onnx_dtype(value_info, path), tuple(-1 if d is None else d for d in kept))

    fixed = None if batched else int(leading[0] or 1)
    meta = describe_metadata(model)
    spec_dict = meta.get("input_spec") if meta.get("input_spec_source") == "metadata" else None
    classes = tuple(str(c) for c in (spec_dict or {}).get("class_names", []) or [])
    return ModelSignature(
        kind="onnx", path=path, inputs=tuple(spec(v) for v in graph_inputs),
        outputs=tuple(spec(v) for v in graph_outputs), batched=batched,
        min_batch=1 if batched else int(fixed or 1), max_batch=None if batched else fixed,
        class_names=classes, precision=meta.get("precision"), architecture=meta.get("architecture"),
        external_data=external_data_files(model))


# -- TensorRT plan (through its sidecar) ---------------------------------------------------

def _plan_signature(path: Path) -> ModelSignature:
    from resnet_deploy.runtime.plan_meta import load_plan_meta

    require_file(path, "plan", if_empty="rebuild it with resnet-deploy build")
    meta = load_plan_meta(path).model_dump()  # validated: the typed fields below are present
    tensors = meta.get("io_tensors")
    if not isinstance(tensors, list) or not tensors:
        raise ArtifactError(f"the sidecar of plan '{path}' lists no I/O tensors; rebuild the plan")
    try:
        inputs = [t for t in tensors if t["mode"] == "input"]
        outputs = [t for t in tensors if t["mode"] == "output"]
        shapes = {t["name"]: [int(d) for d in t["shape"]] for t in tensors}
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"the sidecar of plan '{path}' has a malformed io_tensors entry ({exc}); rebuild the plan") from exc
    if not inputs or not outputs:
        raise ArtifactError(f"the sidecar of plan '{path}' lacks an input or an output tensor; rebuild the plan")
    batched = all(shapes[t["name"]] and shapes[t["name"]][0] < 0 for t in tensors)
    profile: dict[str, Any] = meta["profile"] if isinstance(meta.get("profile"), dict) else {}
    min_batch, max_batch = _profile_batch_range(profile, [t["name"] for t in inputs], path) if batched else (0, 0)
    if not batched:
        first = shapes[inputs[0]["name"]]
        min_batch = max_batch = first[0] if first else 1

    def spec(t: dict[str, Any]) -> TensorSpec:
        dims = shapes[t["name"]]
        kept = dims[1:] if batched else dims
        return TensorSpec(str(t["name"]), str(t.get("dtype", "float32")), tuple(d if d > 0 else -1 for d in kept))

    spec_dict: dict[str, Any] = meta["input_spec"] if isinstance(meta.get("input_spec"), dict) else {}
    classes = tuple(str(c) for c in spec_dict.get("class_names", []) or [])
    return ModelSignature(kind="plan", path=path, inputs=tuple(spec(t) for t in inputs),
                          outputs=tuple(spec(t) for t in outputs), batched=batched, min_batch=min_batch,
                          max_batch=max_batch, class_names=classes, precision=meta.get("precision"),
                          architecture=meta.get("architecture"))


def _profile_batch_range(profile: dict[str, Any], input_names: list[str], path: Path) -> tuple[int, int]:
    """(min, max) batch every input's optimization profile admits."""
    lows, highs = [], []
    for name in input_names:
        entry: Any = profile.get(name)
        try:
            lows.append(int(entry["min"][0]))
            highs.append(int(entry["max"][0]))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ArtifactError(f"the sidecar of plan '{path}' has no optimization profile for input '{name}'; "
                                "rebuild the plan with resnet-deploy build") from exc
    return max(lows), min(highs)
