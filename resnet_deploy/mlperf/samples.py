"""The query sample library: samples preprocessed once, held contiguous, loaded and unloaded
when LoadGen asks.

The parent preprocesses the dataset (any the toolkit reads, an .npy/.npz of images, MLPerf's
ImageNet layout with a val_map.txt, or random images for performance runs) into one
contiguous array file in the run's work folder. Each scenario's process maps that file and,
when LoadGen calls `load_query_samples`, copies exactly the samples it names into one
contiguous block (LoadGen's performance sample set); `unload_query_samples` frees it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.input_spec import InputSpec

VAL_MAP = "val_map.txt"


@dataclass(frozen=True)
class PreparedSamples:
    """Where the preprocessed samples are, what they are, and their labels (when known)."""

    path: Path  # .npy of (N, C, H, W) in the model's input dtype
    labels: np.ndarray | None
    names: list[str]  # one name per sample, for val_map.txt
    description: str
    count: int


def _random(spec: InputSpec, count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, spec.channels, spec.height, spec.width),
                                                       dtype=np.float32)


def read_val_map(path: Path) -> list[tuple[str, int]]:
    """MLPerf's val_map.txt: one `file label` line per image (ImageNet: `ILSVRC2012_val_00000001.JPEG 65`)."""
    entries = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read val_map '{path}': {exc}", param="val_map") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise InvalidInputError(f"val_map '{path}' line {number} is not `file label`: {line.strip()!r}",
                                    param="val_map")
        entries.append((parts[0], int(parts[1])))
    if not entries:
        raise InvalidInputError(f"val_map '{path}' lists no images", param="val_map")
    return entries


def val_map_images(val_map: Path, spec: InputSpec | None, limit: int | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The images a val_map.txt lists (relative to its folder), through the ImageNet evaluation
    transform (resize 256/224 of the input size, centre crop, ImageNet mean/std: the torchvision
    recipe), and their labels."""
    from PIL import Image, UnidentifiedImageError

    from resnet_deploy.data.imagefolder import RESIZE_RATIO
    from resnet_deploy.data.transforms import imagenet_eval, normalize
    from resnet_deploy.input_spec import IMAGENET_MEAN, IMAGENET_STD

    entries = read_val_map(val_map)[:limit]
    size = spec.height if spec is not None else 224
    mean = spec.mean if spec is not None and spec.mean else IMAGENET_MEAN
    std = spec.std if spec is not None and spec.std else IMAGENET_STD
    images = np.empty((len(entries), 3, size, size), dtype=np.float32)
    for i, (name, _) in enumerate(entries):
        path = val_map.parent / name
        try:
            with Image.open(path) as opened:
                image = opened.convert("RGB")
        except (OSError, UnidentifiedImageError) as exc:
            raise InvalidInputError(f"'{path}' (listed in {val_map}) is not a readable image ({exc})",
                                    param="val_map") from exc
        images[i] = normalize(imagenet_eval(image, size, round(size * RESIZE_RATIO)), mean, std).numpy()
    return images, np.array([label for _, label in entries], dtype=np.int64), [name for name, _ in entries]


def prepare_samples(folder: Path, spec: InputSpec | None, *, dataset: str | None, data_dir: Path | None,
                    val_map: Path | None, random: int | None, limit: int | None, dtype: np.dtype[Any]) -> PreparedSamples:
    """Preprocess the samples once into `folder`/samples.npy in the model's input dtype."""
    names: list[str]
    labels: np.ndarray | None
    if val_map is not None:
        x, labels, names = val_map_images(val_map, spec, limit)
        description = f"{len(x)} images listed in {val_map}"
    elif dataset is None:
        if spec is None:
            raise InvalidInputError("random images need the model's input shape, which it does not record; give "
                                    "a dataset", param="dataset")
        count = random or 1024
        x, labels = _random(spec, count), None
        names = [f"random_{i:08d}" for i in range(count)]
        description = f"{count} random images (performance only)"
    elif dataset.endswith((".npy", ".npz")):
        x, labels = _array_file(Path(dataset), limit)
        names = [f"{Path(dataset).stem}_{i:08d}" for i in range(len(x))]
        description = f"{len(x)} images from {dataset}"
    else:
        from resnet_deploy.compare.inputs import dataset_inputs

        inputs = dataset_inputs(dataset, spec, data_dir=data_dir, limit=limit)
        x, labels = inputs.x, inputs.labels
        names = [f"{dataset}_val_{i:08d}" for i in range(len(x))]
        description = f"{len(x)} {dataset} validation images"
    if spec is not None and tuple(x.shape[1:]) != (spec.channels, spec.height, spec.width):
        raise InvalidInputError(f"the samples have shape {tuple(x.shape[1:])}; the model takes "
                                f"{(spec.channels, spec.height, spec.width)}", param="dataset")
    path = folder / "samples.npy"
    np.save(path, np.ascontiguousarray(x, dtype=dtype))
    return PreparedSamples(path, labels, names, description, len(x))


def _array_file(path: Path, limit: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    from resnet_deploy.sidecar import require_file

    require_file(path, "sample file")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                if "x" not in data:
                    raise InvalidInputError(f"'{path}' must hold an array 'x' (and optionally 'labels')",
                                            param="dataset")
                x, labels = data["x"], data.get("labels")
        else:
            x, labels = np.load(path, allow_pickle=False), None
    except (ValueError, OSError) as exc:
        raise InvalidInputError(f"'{path}' is not a readable NumPy file ({exc})", param="dataset") from exc
    if x.ndim != 4 or len(x) == 0:
        raise InvalidInputError(f"'{path}' must hold N images (N, C, H, W), got shape {x.shape}", param="dataset")
    x = x[:limit] if limit else x
    if not np.all(np.isfinite(x)):
        raise InvalidInputError(f"'{path}' contains NaN or Inf values", param="dataset")
    return x, None if labels is None else np.asarray(labels[: len(x)], dtype=np.int64)


def write_val_map(path: Path, names: list[str], labels: np.ndarray) -> Path:
    """MLPerf's layout, so the reference accuracy script reads the run: `name label` per sample,
    in QSL index order."""
    from resnet_deploy.atomic import atomic_write_text

    return atomic_write_text(path, "".join(f"{name} {int(label)}\n" for name, label in zip(names, labels, strict=True)))


class SampleStore:
    """The samples of one scenario's process: the file mapped, and LoadGen's loaded set copied
    into one contiguous block with a QSL index -> row table."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._all = np.load(path, mmap_mode="r")
        self.count = int(self._all.shape[0])
        self.sample_shape = tuple(self._all.shape[1:])
        self.dtype = self._all.dtype
        self._rows = np.full(self.count, -1, dtype=np.int64)
        self._loaded = np.empty((0, *self.sample_shape), dtype=self.dtype)

    def load(self, indices: list[int]) -> None:
        """LoadGen's load_query_samples: copy these samples into memory, contiguous."""
        order = np.array(sorted(set(indices)), dtype=np.int64)
        self._loaded = np.ascontiguousarray(self._all[order])
        self._rows[:] = -1
        self._rows[order] = np.arange(len(order))

    def unload(self, indices: list[int]) -> None:
        self._rows[np.asarray(indices, dtype=np.int64)] = -1
        if not np.any(self._rows >= 0):
            self._loaded = np.empty((0, *self.sample_shape), dtype=self.dtype)

    @property
    def loaded(self) -> int:
        return int(np.count_nonzero(self._rows >= 0))

    def gather(self, indices: list[int] | np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The batch of these samples (a copy, or written into `out`); a sample LoadGen did not
        load is a programming error."""
        rows = self._rows[np.asarray(indices, dtype=np.int64)]
        if np.any(rows < 0):
            raise RuntimeError(f"LoadGen asked for sample(s) it did not load: {np.asarray(indices)[rows < 0][:5]}")
        if out is None:
            return self._loaded[rows]
        np.take(self._loaded, rows, axis=0, out=out)
        return out
