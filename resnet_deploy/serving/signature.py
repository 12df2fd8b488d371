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

from resnet_deploy.errors import ArtifactError, InvalidInputError
from resnet_deploy.export.artifact import Artifact, describe_artifact
from resnet_deploy.export.artifact import artifact_kind as describe_kind
from resnet_deploy.sidecar import require_file
from resnet_deploy.tensor_info import TensorInfo


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
    kind = describe_kind(path)
    if kind not in ("onnx", "plan"):
        raise InvalidInputError(f"'{path}' is neither an ONNX model (.onnx) nor a TensorRT plan (.plan/.engine); "
                                "give one of those", param="artifacts")
    return kind


def read_signature(path: str | os.PathLike[str]) -> ModelSignature:
    """The signature of an ONNX model or a TensorRT plan (the plan through its sidecar, so no
    TensorRT or GPU is needed), from its one description (export.artifact). Bad files are
    one ArtifactError line."""
    path = Path(path)
    if artifact_kind(path) == "plan":
        require_file(path, "plan", if_empty="rebuild it with resnet-deploy build")
    return signature_of(describe_artifact(path))


def signature_of(artifact: Artifact) -> ModelSignature:
    """What a server sees of `artifact`: its tensors without the batch axis when it batches."""
    path = artifact.path
    assert path is not None
    if not artifact.inputs:
        raise ArtifactError(f"'{path}' has no graph inputs; nothing to serve")
    tensors = artifact.inputs + artifact.outputs
    if any(not t.shape for t in tensors):
        raise ArtifactError(f"'{path}': every input and output needs a known rank to be served")
    dynamic = [t.is_dynamic(0) for t in tensors]
    batched = all(dynamic)
    if not batched and any(dynamic):
        raise ArtifactError(f"'{path}': some tensors have a dynamic leading axis and others a fixed one; "
                            "re-export with a dynamic batch on all of them (resnet-deploy export)")

    def spec(tensor: TensorInfo) -> TensorSpec:
        kept = tensor.shape[1:] if batched else tensor.shape
        return TensorSpec(tensor.name, str(tensor.dtype), tuple(-1 if not isinstance(d, int) or d < 0 else d
                                                                for d in kept))

    first = artifact.inputs[0].dim(0) or 1
    low, high = (artifact.batch.min, artifact.batch.max) if batched else (first, first)
    recorded = artifact.input_spec if artifact.spec_source in ("metadata", "sidecar") else None
    return ModelSignature(kind=artifact.kind, path=path, inputs=tuple(spec(t) for t in artifact.inputs),
                          outputs=tuple(spec(t) for t in artifact.outputs), batched=batched, min_batch=low,
                          max_batch=high, class_names=recorded.class_names if recorded is not None else (),
                          precision=artifact.precision, architecture=artifact.architecture,
                          external_data=artifact.external_data)
