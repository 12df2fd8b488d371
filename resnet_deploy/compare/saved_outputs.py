"""Outputs recorded on one machine, checked on another: an .npz that holds the inputs, the
outputs of one model on one runtime, and that model's identity (the sha256 of its file, the
artifacts it was made from, its metadata), so a CPU machine can record what an offline GPU
machine must reproduce (`validate MODEL --save-outputs ref.npz` here, `validate MODEL
--reference ref.npz` there).

A saved file is a reference only for the model it was recorded from or one made from it (an
FP16/INT8 model, a plan, whose metadata records that model's sha256), or one made from the
same source; any other is refused by identity (exit 2), never compared by accident.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resnet_deploy import __version__
from resnet_deploy.atomic import atomic_write_with
from resnet_deploy.compare.targets import Target
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.sidecar import require_file, sha256_file

FORMAT = "resnet-deploy saved outputs 1"
_OUTPUT = "output:"


@dataclass(frozen=True)
class ModelIdentity:
    """What identifies a model: its file's sha256 (None for a model name), the sha256 of
    the artifacts it was made from, and what its metadata says."""

    source: str
    sha256: str | None
    lineage: tuple[str, ...]
    kind: str
    architecture: str | None
    precision: str
    input_shape: tuple[int, ...] | None

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "sha256": self.sha256, "lineage": list(self.lineage), "kind": self.kind,
                "architecture": self.architecture, "precision": self.precision,
                "input_shape": list(self.input_shape) if self.input_shape else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelIdentity:
        shape = data.get("input_shape")
        return cls(str(data["source"]), data.get("sha256"), tuple(data.get("lineage") or ()), str(data["kind"]),
                   data.get("architecture"), str(data["precision"]), tuple(shape) if shape else None)

    def related(self, other: ModelIdentity) -> bool:
        """The same model, one made from the other, or both made from the same artifact."""
        mine = {self.sha256, *self.lineage} - {None}
        theirs = {other.sha256, *other.lineage} - {None}
        return bool(mine & theirs)


def _lineage(target: Target) -> tuple[str, ...]:
    """The sha256 of the artifacts `target` was made from; an untrained network is named by
    its architecture and seed (the same seeded weights whatever exported them)."""
    from resnet_deploy.model_source import UNTRAINED_SEED

    meta = target.meta
    found: list[str | None] = []
    if target.kind == "onnx":
        props = meta.get("props") or {}
        found += [props.get("source_sha256"), meta.get("checkpoint_sha256")]
        if meta.get("trained") is False and meta.get("init_seed") is not None:
            found.append(f"untrained:{target.architecture}:{meta['init_seed']}")
    elif target.kind == "plan":
        found.append((meta.get("source_onnx") or {}).get("sha256"))
    elif not Path(target.source).is_file():  # a model name: the seeded untrained network
        found.append(f"untrained:{target.architecture}:{UNTRAINED_SEED}")
    return tuple(str(s) for s in dict.fromkeys(found) if s)


def identify(target: Target) -> ModelIdentity:
    path = Path(target.source)
    sha = sha256_file(path) if path.is_file() else None
    spec = target.input_spec
    shape = (spec.channels, spec.height, spec.width) if spec is not None else None
    return ModelIdentity(target.source, sha, _lineage(target), target.kind, target.architecture, target.precision, shape)


@dataclass(frozen=True)
class SavedOutputs:
    """Inputs `x` (and `labels`), the outputs by name, and who produced them."""

    path: str
    x: np.ndarray
    labels: np.ndarray | None
    outputs: dict[str, np.ndarray]
    identity: ModelIdentity
    backend: str
    recorded: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{Path(self.path).name} ({Path(self.identity.source).name} on {self.backend})"


def save_outputs(path: str | os.PathLike[str], target: Target, x: np.ndarray, labels: np.ndarray | None,
                 outputs: Mapping[str, np.ndarray]) -> Path:
    """Write `path` atomically (an .npz; no pickled objects)."""
    header = {"format": FORMAT, "identity": identify(target).to_dict(), "backend": target.backend,
              "toolkit_version": __version__, "host": platform.node(), "machine": platform.machine()}
    arrays: dict[str, np.ndarray] = {"x": x, "meta": np.array(json.dumps(header))}
    if labels is not None:
        arrays["labels"] = labels
    arrays.update({_OUTPUT + name: np.asarray(value) for name, value in outputs.items()})

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]
    return atomic_write_with(path, write)


def is_saved_outputs(path: str | os.PathLike[str]) -> bool:
    """True for an .npz this module wrote (it holds `meta`); plain input .npz files are not."""
    if Path(path).suffix.lower() != ".npz" or not Path(path).is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            return "meta" in data.files
    except (OSError, ValueError):
        return False


def load_saved_outputs(path: str | os.PathLike[str]) -> SavedOutputs:
    path = require_file(path, "saved-outputs file")
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["meta"]))
            if header.get("format") != FORMAT:
                raise InvalidInputError(f"'{path}' is not a saved-outputs file of this version ({header.get('format')})")
            outputs = {k[len(_OUTPUT):]: data[k] for k in data.files if k.startswith(_OUTPUT)}
            x = np.ascontiguousarray(data["x"], dtype=np.float32)
            labels = data["labels"] if "labels" in data.files else None
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"'{path}' is not a readable saved-outputs file ({exc})") from exc
    if not outputs or any(len(v) != len(x) for v in outputs.values()):
        raise InvalidInputError(f"'{path}' holds no outputs, or outputs that do not match its {len(x)} inputs")
    return SavedOutputs(str(path), x, labels, outputs, ModelIdentity.from_dict(header["identity"]),
                        str(header.get("backend")), header)


def check_identity(saved: SavedOutputs, target: Target) -> None:
    """Refuse (exit 2) a saved file recorded from a model unrelated to `target`."""
    mine = identify(target)
    theirs = saved.identity
    if mine.input_shape and theirs.input_shape and tuple(mine.input_shape) != tuple(theirs.input_shape):
        raise InvalidInputError(f"'{saved.path}' was recorded with inputs of shape {theirs.input_shape}; "
                                f"'{target.source}' takes {mine.input_shape}", param="reference")
    if not mine.related(theirs):
        recorded = theirs.sha256[:12] if theirs.sha256 else "no file"
        raise InvalidInputError(f"'{saved.path}' holds the outputs of {Path(theirs.source).name} (sha256 {recorded}...), "
                                f"and '{target.source}' is neither that model nor made from it (its sha256 and the "
                                f"sources its metadata records differ); record outputs of this model first",
                                param="reference")
