"""What a comparison feeds every runner: seeded random tensors, the validation split of a
dataset, or a saved .npz. The same arrays go to every runner, whatever runtime it is."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.input_spec import InputSpec
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.sidecar import require_file

DEFAULT_RANDOM = 16


@dataclass(frozen=True)
class ComparisonInputs:
    """`x`: float32 NCHW, already normalised as the models expect; `labels` when known."""

    x: np.ndarray
    labels: np.ndarray | None
    description: JsonObject

    @property
    def samples(self) -> int:
        return int(self.x.shape[0])

    def describe(self) -> str:
        d = self.description
        if d["kind"] == "dataset":
            return f"{self.samples} {d['dataset']} {d['split']} images"
        if d["kind"] == "npz":
            return f"{self.samples} inputs from {d['path']}"
        return f"{self.samples} random inputs (seed {d['seed']})"


def random_inputs(spec: InputSpec, count: int = DEFAULT_RANDOM, seed: int = 0) -> ComparisonInputs:
    """Seeded standard-normal tensors: normalised images are roughly that, so the network sees
    activations in its usual range."""
    if count < 1:
        raise InvalidInputError(f"`random` needs a positive sample count, got {count}", param="random")
    x = np.random.default_rng(seed).standard_normal((count, spec.channels, spec.height, spec.width)).astype(np.float32)
    return ComparisonInputs(x, None, {"kind": "random", "samples": count, "seed": seed,
                                      "distribution": "standard normal"})


def dataset_inputs(name: str, spec: InputSpec | None, *, data_dir: str | os.PathLike[str] | None = None,
                   split: str = "val", limit: int | None = None) -> ComparisonInputs:
    """The evaluation transform of a dataset split (a name in data/registry.py's table),
    resized to the model's input; refused when the channels differ."""
    from resnet_deploy.data import eval_arrays

    size = spec.height if spec is not None and spec.height == spec.width else None
    x, labels = eval_arrays(name, data_dir=data_dir, split=split, limit=limit, input_size=size)
    x = np.ascontiguousarray(x, dtype=np.float32)
    if spec is not None and tuple(x.shape[1:]) != (spec.channels, spec.height, spec.width):
        raise InvalidInputError(f"dataset {name} gives images of shape {tuple(x.shape[1:])}; the model expects "
                                f"{(spec.channels, spec.height, spec.width)}", param="dataset")
    return ComparisonInputs(x, np.asarray(labels, dtype=np.int64),
                            {"kind": "dataset", "dataset": name, "split": split, "samples": len(x)})


def npz_inputs(path: str | os.PathLike[str], spec: InputSpec | None, *, limit: int | None = None) -> ComparisonInputs:
    """Arrays `x` (float32 NCHW, normalised) and optionally `labels` from an .npz file."""
    path = require_file(path, "input file", if_empty="it holds no arrays")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "x" not in data:
                raise InvalidInputError(f"'{path}' must hold an array 'x' (and optionally 'labels'); it has "
                                        f"{sorted(data.keys())}")
            x = data["x"]
            labels = data.get("labels")
    except (ValueError, OSError) as exc:
        raise InvalidInputError(f"'{path}' is not a readable .npz file ({exc})") from exc
    if limit is not None:
        x = x[:limit]
        labels = None if labels is None else labels[:limit]
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 4 or len(x) == 0:
        raise InvalidInputError(f"'{path}': x must be N images (N, C, H, W), got shape {x.shape}")
    if labels is not None and len(labels) != len(x):
        raise InvalidInputError(f"'{path}': {len(x)} images but {len(labels)} labels")
    if spec is not None and tuple(x.shape[1:]) != (spec.channels, spec.height, spec.width):
        raise InvalidInputError(f"'{path}' holds images of shape {tuple(x.shape[1:])}; the model expects "
                                f"{(spec.channels, spec.height, spec.width)}")
    if not np.all(np.isfinite(x)):
        raise InvalidInputError(f"'{path}' contains NaN or Inf values")
    return ComparisonInputs(x, None if labels is None else np.asarray(labels, dtype=np.int64),
                            {"kind": "npz", "path": str(path), "samples": len(x)})


def load_inputs(source: str | None, spec: InputSpec | None, *, data_dir: str | os.PathLike[str] | None = None,
                limit: int | None = None, random: int | None = None, seed: int = 0) -> ComparisonInputs:
    """`source`: a dataset name, an .npz path, or None for `random` seeded tensors."""
    if source is not None and random is not None:
        raise InvalidInputError("give either a dataset/.npz (`dataset`) or `random` N inputs, not both", param="random")
    if source is None:
        if spec is None:
            raise InvalidInputError("random inputs need the model's input shape, which it does not record")
        count = DEFAULT_RANDOM if random is None else int(random)
        if limit is not None:
            count = min(count, limit)
        return random_inputs(spec, count, seed)
    if source.endswith(".npz") or Path(source).suffix == ".npz":
        return npz_inputs(source, spec, limit=limit)
    return dataset_inputs(source, spec, data_dir=data_dir, limit=limit)
