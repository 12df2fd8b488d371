"""One description of anything a command accepts as a model: an ONNX model (ours or another
exporter's), a TensorRT plan (through its sidecar: no TensorRT or GPU needed), a checkpoint,
bare weights, or a registry model name.

Every command reads its models through `describe_artifact`, so they all accept the same
models in the same way: the same layout rules (NCHW, or NHWC as TensorFlow exports it), the
same batch range, the same choice of input size for a model whose height and width are
dynamic (`input_size`, else the size the artifact records), the same sidecar record
(sidecar.artifact_meta, with its fallback to the previous record after an interrupted
write).

    artifact = describe_artifact("r50.onnx")
    image = artifact.image_input((224, 224))      # the one image input, its layout and (C, H, W)
    spec = artifact.spec_at((224, 224))           # the InputSpec at the size the run uses
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
from pydantic import ValidationError

from resnet_deploy.artifact_kinds import (
    CHECKPOINT_SUFFIXES,
    KIND_TEXT,
    ONNX_SUFFIXES,
    PLAN_SUFFIXES,
    WEIGHTS_SUFFIXES,
    artifact_kind,
)
from resnet_deploy.errors import ArtifactError, InvalidInputError
from resnet_deploy.export.onnx_record import OnnxSidecar
from resnet_deploy.input_spec import IMAGENET_MEAN, IMAGENET_STD, InputSpec, default_input_spec
from resnet_deploy.jsonfile import first_problem
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.sidecar import Sidecar, artifact_meta, require_file, sha256_file
from resnet_deploy.tensor_info import Layout, TensorInfo, image_layout

if TYPE_CHECKING:
    import onnx

    from resnet_deploy.export.metadata import OnnxMetadata

log = logging.getLogger(__name__)

UNTRAINED_SEED = 0  # torch seed for the weights of an untrained network (export, validate, bench)


@dataclass(frozen=True)
class BatchRange:
    """The batch sizes an artifact accepts: `max` None is unbounded (a dynamic ONNX model)."""

    min: int = 1
    max: int | None = None


@dataclass(frozen=True)
class ImageInput:
    """The one image input of a classifier at the size a run uses."""

    tensor: TensorInfo
    layout: Layout
    chw: tuple[int, int, int]

    def shape(self, batch: int) -> tuple[int, int, int, int]:
        """The array shape to feed at `batch`, in the model's own layout."""
        c, h, w = self.chw
        return (batch, h, w, c) if self.layout == "NHWC" else (batch, c, h, w)


@dataclass
class Artifact:
    """What a model file (or name) is, read without loading it into a runtime.

    `kind`: onnx, plan, checkpoint (a resnet-deploy checkpoint), weights (a bare state dict,
    `.pth`) or model (a registry name: the seeded untrained network). `inputs`: the graph's
    inputs (initializers excluded), a plan's input tensors, or for PyTorch the one image
    input (with dynamic height/width: a ResNet takes any size). `input_spec`: what the
    artifact records (`spec_source` metadata or sidecar), else what its graph implies
    (`graph`), else the registry's defaults (`registry`). `sidecar`: the record that matches
    the artifact's bytes (`sidecar_problem` says why there is none when one is present but
    does not match)."""

    source: str
    kind: str
    path: Path | None
    precision: str = "fp32"
    architecture: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    input_spec: InputSpec | None = None
    spec_source: str | None = None
    inputs: tuple[TensorInfo, ...] = ()
    outputs: tuple[TensorInfo, ...] = ()
    layout: Layout | None = None
    batch: BatchRange = BatchRange()
    dynamic_size: bool = False
    sidecar: Sidecar | None = field(default=None, repr=False)
    sidecar_problem: str | None = None
    metadata: OnnxMetadata | None = field(default=None, repr=False)
    trained: bool | None = None
    init_seed: int | None = None
    features: bool = False
    external_data: tuple[str, ...] = ()  # an ONNX model's external-data files, relative to it
    known_sha256: str | None = field(default=None, repr=False)  # when the reader already hashed the file

    @property
    def runs_as(self) -> str:
        """The artifact kind of the backend registry: onnx, plan or checkpoint."""
        return self.kind if self.kind in ("onnx", "plan") else "checkpoint"

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else self.source

    @property
    def sha256(self) -> str | None:
        """Of the file (None for a model name), hashed once."""
        if self.known_sha256 is None and self.path is not None:
            self.known_sha256 = sha256_file(self.path)
        return self.known_sha256

    def image_input(self, input_size: tuple[int, int] | None = None, *, who: str | None = None) -> ImageInput:
        """The one image input and its (C, H, W) at the size a run uses (select_image_input)."""
        recorded = None
        if self.input_spec is not None and self.spec_source != "graph":
            recorded = (self.input_spec.height, self.input_spec.width)
        return select_image_input(self.inputs, input_size, recorded=recorded, who=who or self.name)

    def spec_at(self, input_size: tuple[int, int] | None = None, *, who: str | None = None) -> InputSpec:
        """The input spec at the size a run uses (see image_input): what the artifact records,
        or for a foreign model its graph's channels with ImageNet statistics (0.5 for grey)."""
        image = self.image_input(input_size, who=who)
        c, h, w = image.chw
        spec = self.input_spec
        if spec is None or spec.channels != c:
            spec = guessed_spec(c, h, w, image.layout)
        if (spec.height, spec.width) != (h, w):
            spec = spec.with_size(h, w)
        return spec


M = TypeVar("M")


@dataclass
class Loaded(Generic[M]):
    """An artifact and the model loaded from it (a torch network, an ONNX graph)."""

    artifact: Artifact
    model: M

    @property
    def path(self) -> Path:
        if self.artifact.path is None:
            raise InvalidInputError(f"{self.artifact.source} is a model name, not a file")
        return self.artifact.path

    @property
    def sha256(self) -> str:
        digest = self.artifact.sha256
        if digest is None:
            raise InvalidInputError(f"{self.artifact.source} is a model name, not a file")
        return digest

    @property
    def input_spec(self) -> InputSpec | None:
        return self.artifact.input_spec

    @property
    def input(self) -> TensorInfo:
        """The one input (a classifier's image)."""
        if len(self.artifact.inputs) != 1:
            raise InvalidInputError(f"'{self.artifact.source}' has {len(self.artifact.inputs)} inputs; expected one "
                                    "image input")
        return self.artifact.inputs[0]


def select_image_input(inputs: tuple[TensorInfo, ...] | list[TensorInfo], input_size: tuple[int, int] | None, *,
                       recorded: tuple[int, int] | None = None, who: str) -> ImageInput:
    """The one NCHW or NHWC image input (1 or 3 channels) among `inputs` and its (C, H, W) at
    the size a run uses: a fixed height/width stays (an `input_size` that differs is
    refused); a dynamic one takes `input_size`, else the `recorded` size. Anything else is
    InvalidInputError (exit 2), prefixed by `who`."""
    prefix = f"{who}: "
    if len(inputs) != 1:
        names = ", ".join(t.name for t in inputs)
        raise InvalidInputError(f"{prefix}not an image classifier: it has {len(inputs)} inputs ({names}), "
                                "expected one image input (NCHW or NHWC)")
    info = inputs[0]
    layout = image_layout(info.shape)
    if layout is None:
        raise InvalidInputError(f"{prefix}not an image model: input '{info.name}' has shape {_dims(info.shape)}; "
                                "expected NCHW or NHWC with 1 or 3 channels")
    if not np.issubdtype(info.dtype, np.floating) and not np.issubdtype(info.dtype, np.integer):
        raise InvalidInputError(f"{prefix}input '{info.name}' has dtype {info.dtype}, expected numbers")
    c, h, w = (info.dim(axis) for axis in ((1, 2, 3) if layout == "NCHW" else (3, 1, 2)))
    assert c is not None
    size: list[int] = []
    for index, value in enumerate((h, w)):
        if value is not None:
            if input_size is not None and input_size[index] != value:
                raise InvalidInputError(f"{prefix}the model's input is fixed at {h}x{w}; `input_size` "
                                        f"{input_size[0]}x{input_size[1]} does not match", param="input_size")
            size.append(value)
        elif input_size is not None:
            size.append(input_size[index])
        elif recorded is not None:
            size.append(recorded[index])
        else:
            raise InvalidInputError(f"{prefix}input '{info.name}' has a dynamic height/width {_dims(info.shape)}; "
                                    "give `input_size` HxW", param="input_size")
    return ImageInput(info, layout, (c, size[0], size[1]))


def guessed_spec(channels: int, height: int, width: int, layout: Layout = "NCHW") -> InputSpec:
    """The input spec of a model that records none: ImageNet statistics (0.5 for non-RGB)."""
    if channels == 3:
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    else:
        mean, std = (0.5,) * channels, (0.5,) * channels
    return InputSpec(channels, height, width, mean, std, layout=layout)


def describe_artifact(source: str | os.PathLike[str], *, model_kwargs: dict[str, Any] | None = None,
                      verify: bool = True) -> Artifact:
    """Read what `source` is (see the module docstring). Refuses, in one line, a missing or
    broken file and an unknown model name. `model_kwargs` (num_classes, in_channels) shape
    the network a model name stands for; `verify=False` skips hashing a plan against its
    sidecar (when the runner will do it anyway)."""
    text = os.fspath(source)
    kind = artifact_kind(text)
    path = Path(text)
    if kind == "onnx":
        return describe_onnx(path)
    if kind == "plan":
        return describe_plan(path, verify=verify)
    if path.suffix.lower() in WEIGHTS_SUFFIXES:
        require_file(path, "weights file")
        return Artifact(text, "weights", path)
    if path.suffix.lower() in CHECKPOINT_SUFFIXES or path.exists():
        return describe_checkpoint(path)
    return describe_model_name(text, model_kwargs or {})


def _dims(shape: tuple[int | str | None, ...]) -> str:
    return "(" + ", ".join(str(d) if isinstance(d, int) and d >= 0 else (d or "?") for d in shape) + ")"  # type: ignore[misc]


def _batch_range(tensors: tuple[TensorInfo, ...]) -> BatchRange:
    leading = [t.dim(0) if t.shape else 1 for t in tensors]
    fixed = next((d for d in leading if d is not None), None)
    return BatchRange(1, None) if fixed is None else BatchRange(fixed, fixed)


def _image_facts(inputs: tuple[TensorInfo, ...]) -> tuple[Layout | None, bool]:
    """(layout, dynamic height/width) of a single image input."""
    if len(inputs) != 1:
        return None, False
    layout = image_layout(inputs[0].shape)
    if layout is None:
        return None, False
    axes = (2, 3) if layout == "NCHW" else (1, 2)
    return layout, any(inputs[0].is_dynamic(axis) for axis in axes)


def _spec_from_graph(inputs: tuple[TensorInfo, ...]) -> InputSpec | None:
    layout, dynamic = _image_facts(inputs)
    if layout is None or dynamic:
        return None
    shape = inputs[0].shape
    c, h, w = (shape[1], shape[2], shape[3]) if layout == "NCHW" else (shape[3], shape[1], shape[2])
    return guessed_spec(int(c), int(h), int(w), layout)  # type: ignore[arg-type]


def _parse_spec(data: Any, where: str) -> InputSpec | None:
    if isinstance(data, InputSpec):
        return data
    if not isinstance(data, dict):
        return None
    try:
        return InputSpec.from_dict(data)
    except InvalidInputError as exc:
        log.warning("%s records a malformed input spec (%s); reading the graph instead", where, exc)
        return None


# -- ONNX -------------------------------------------------------------------------------------------

def onnx_tensors(values: Any, initializers: frozenset[str] | set[str] = frozenset(), *,
                 path: Path | None = None) -> tuple[TensorInfo, ...]:
    """TensorInfo for ONNX value infos, leaving out those that are initializers (an older
    exporter lists weights among the graph inputs). An element type numpy cannot hold is
    an ArtifactError naming the tensor."""
    from onnx import helper

    tensors = []
    for value in values:
        if value.name in initializers:
            continue
        tensor_type = value.type.tensor_type
        dims = tuple(int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or None)
                     for d in tensor_type.shape.dim)
        try:
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor_type.elem_type))
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"'{path or 'the model'}': tensor '{value.name}' has an ONNX element type "
                                f"({tensor_type.elem_type}) that cannot be carried") from exc
        tensors.append(TensorInfo(value.name, dims, dtype))
    return tuple(tensors)


def graph_inputs(model: onnx.ModelProto, path: Path | None = None) -> tuple[TensorInfo, ...]:
    """The inputs a caller feeds: the graph's inputs minus its initializers."""
    return onnx_tensors(model.graph.input, {t.name for t in model.graph.initializer}, path=path)


def describe_onnx(path: Path, model: onnx.ModelProto | None = None, *, sidecar: bool = True) -> Artifact:
    """An ONNX model (`model`, when already loaded from `path`); `sidecar=False` leaves the
    sidecar unread."""
    from resnet_deploy.export.loader import external_data_files, load_onnx_model
    from resnet_deploy.export.metadata import read_metadata

    if model is None:
        model = load_onnx_model(path, load_external_data=False, check=False)
    meta = read_metadata(model)
    inputs, outputs = graph_inputs(model, path), onnx_tensors(model.graph.output, path=path)
    layout, dynamic = _image_facts(inputs)
    spec = meta.input_spec
    spec_source = "metadata" if spec is not None else None
    if spec is None:
        spec = _spec_from_graph(inputs)
        spec_source = "graph" if spec is not None else None
    record, problem = _onnx_sidecar(path) if sidecar else (None, None)
    return Artifact(os.fspath(path), "onnx", path, meta.precision, meta.architecture, dict(meta.model_kwargs), spec,
                    spec_source, inputs, outputs, layout, _batch_range(inputs + outputs), dynamic, record, problem,
                    meta, meta.trained, meta.init_seed, meta.features, tuple(external_data_files(model)))


def _onnx_sidecar(path: Path) -> tuple[OnnxSidecar | None, str | None]:
    """The sidecar record that matches the model's bytes; a model edited in place (or a
    sidecar that does not parse) is still a model: its graph and metadata describe it."""
    try:
        raw = artifact_meta(path, required=False)
        return (None if raw is None else raw.as_kind(OnnxSidecar)), None
    except ArtifactError as exc:
        problem = str(exc)
    except ValidationError as exc:
        problem = f"sidecar of '{path}' is not valid: {first_problem(exc)}"
    log.info("%s", problem)
    return None, problem


def describe_metadata(model: onnx.ModelProto, path: Path | None = None) -> JsonObject:
    """A loaded model's metadata as JSON (see read_onnx_metadata)."""
    artifact = describe_onnx(path or Path("model.onnx"), model, sidecar=False)
    assert artifact.metadata is not None
    data = artifact.metadata.to_dict()
    data["input_spec"] = artifact.input_spec.to_dict() if artifact.input_spec is not None else None
    data["input_spec_source"] = artifact.spec_source
    return data


def read_onnx_metadata(path: str | os.PathLike[str]) -> JsonObject:
    """What export_onnx wrote into `path`, as JSON: architecture, model_kwargs, input_spec
    (an InputSpec.to_dict(), or one guessed from the input shape for foreign models),
    precision (read from the graph), trained, checkpoint_sha256, opset, exporter, input/output
    names, and the raw props. Refuses a bad file like load_onnx_model."""
    from resnet_deploy.export.loader import load_onnx_model

    return describe_metadata(load_onnx_model(path, load_external_data=False, check=False))


# -- TensorRT plan --------------------------------------------------------------------------------

def _dtype(name: str) -> np.dtype[Any]:
    try:
        return np.dtype(name)
    except TypeError:
        import ml_dtypes  # bfloat16 and the FP8 types

        return np.dtype(getattr(ml_dtypes, name))


def describe_plan(path: Path, *, verify: bool = True) -> Artifact:
    """A TensorRT plan, through its sidecar."""
    from resnet_deploy.export.plan_record import load_plan_meta

    plan = load_plan_meta(path, verify=verify)
    try:
        tensors = {mode: tuple(TensorInfo(t.name, tuple(d if d >= 0 else None for d in t.shape), _dtype(t.dtype))
                               for t in plan.io_tensors if t.mode == mode) for mode in ("input", "output")}
    except (TypeError, AttributeError) as exc:
        raise ArtifactError(f"the sidecar of plan '{path}' has a tensor of unknown dtype ({exc}); rebuild the plan") from exc
    inputs, outputs = tensors["input"], tensors["output"]
    if not inputs or not outputs:
        raise ArtifactError(f"the sidecar of plan '{path}' lacks an input or an output tensor; rebuild the plan")
    batch = _batch_range(inputs + outputs)
    if batch.max is None:  # a dynamic batch: the optimization profile bounds it
        lows, highs = [], []
        for tensor in inputs:
            shapes = plan.profile.get(tensor.name)
            if shapes is None or not shapes.min or not shapes.max:
                raise ArtifactError(f"the sidecar of plan '{path}' has no optimization profile for input "
                                    f"'{tensor.name}'; rebuild the plan with resnet-deploy build")
            lows.append(shapes.min[0])
            highs.append(shapes.max[0])
        batch = BatchRange(max(lows), min(highs))
    layout, dynamic = _image_facts(inputs)
    spec = plan.input_spec
    return Artifact(os.fspath(path), "plan", path, plan.precision, plan.architecture,
                    dict(getattr(plan, "model_kwargs", None) or {}), spec, "sidecar" if spec else None, inputs, outputs,
                    layout, batch, dynamic, plan)


# -- PyTorch: checkpoints and model names ---------------------------------------------------------

def _torch_input(spec: InputSpec) -> tuple[TensorInfo, ...]:
    """The torch runner's one input: NCHW, any batch, any height/width (a ResNet pools
    adaptively); the spec's size is the one a run takes unless told otherwise."""
    return (TensorInfo("input", (None, spec.channels, None, None), np.dtype(np.float32)),)


def torch_artifact(source: str, kind: str, path: Path | None, architecture: str, kwargs: dict[str, Any],
                   spec: InputSpec, spec_source: str, sidecar: Sidecar | None, trained: bool) -> Artifact:
    """A PyTorch network's description: a checkpoint, bare weights or a model name."""
    outputs = (TensorInfo("logits", (None, spec.num_classes or kwargs.get("num_classes")), np.dtype(np.float32)),)
    return Artifact(source, kind, path, "fp32", architecture, kwargs, spec, spec_source, _torch_input(spec), outputs,
                    "NCHW", BatchRange(1, None), True, sidecar, trained=trained,
                    init_seed=None if trained else UNTRAINED_SEED)


def describe_checkpoint(path: Path) -> Artifact:
    """A resnet-deploy checkpoint (its sidecar, or the copy in its safetensors header)."""
    from resnet_deploy.train.checkpoint import checkpoint_meta

    require_file(path, "checkpoint")
    sidecar = checkpoint_meta(path)
    spec = _parse_spec(sidecar.input_spec, f"checkpoint '{path}'")
    if spec is None:
        raise ArtifactError(f"sidecar of '{path}' has no valid input_spec")
    arch = sidecar.architecture
    return torch_artifact(os.fspath(path), "checkpoint", path, arch.name, dict(arch.kwargs), spec, "sidecar", sidecar,
                           trained=True)


def describe_model_name(name: str, model_kwargs: dict[str, Any]) -> Artifact:
    """A registry model name: the seeded untrained network with `model_kwargs`."""
    from resnet_deploy.models import get_entry

    entry = get_entry(name)
    kwargs = {k: v for k, v in model_kwargs.items() if v is not None}
    channels = int(kwargs.get("in_channels", 3))
    spec = default_input_spec(channels, entry.input_size, int(kwargs.get("num_classes", entry.default_classes)))
    return torch_artifact(entry.name, "model", None, entry.name, kwargs, spec, "registry", None, trained=False)


__all__ = ["CHECKPOINT_SUFFIXES", "KIND_TEXT", "ONNX_SUFFIXES", "PLAN_SUFFIXES", "UNTRAINED_SEED", "WEIGHTS_SUFFIXES",
           "Artifact", "BatchRange", "ImageInput", "Loaded", "artifact_kind", "describe_artifact", "describe_checkpoint",
           "describe_metadata", "describe_model_name", "describe_onnx", "describe_plan", "graph_inputs",
           "guessed_spec", "read_onnx_metadata", "select_image_input", "torch_artifact"]
