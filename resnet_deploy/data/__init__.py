"""Datasets, each read from disk in its own published format (no download at run time).

    from resnet_deploy.data import load_dataset, eval_arrays
    train_set, info = load_dataset("digits", "train", augment=True)   # items: (CHW float32, int)
    x, y = eval_arrays("digits")           # the whole validation split as (N,C,H,W) float32, int64

Names (the one table: data/registry.py): digits (shipped in the package), fashion-mnist
(IDX, the Debian package's folder by default), mnist (IDX), cifar10/cifar100 (python pickle
batches), imagefolder (train/ and val/ class-per-folder JPEG/PNG). Splits: "train" and
"val" ("test" is accepted for val: MNIST and CIFAR's test sets are their validation sets).
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from resnet_deploy.data.registry import DATASETS, reader, resolve_dir
from resnet_deploy.errors import InvalidInputError

if TYPE_CHECKING:
    from torch.utils.data import Dataset

    from resnet_deploy.data.base import DatasetInfo


def __getattr__(name: str) -> Any:
    """DatasetInfo on first use: importing the package (e.g. the dataset table for a command's
    --help) does not import torch."""
    if name == "DatasetInfo":
        from resnet_deploy.data.base import DatasetInfo

        return DatasetInfo
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

SPLITS = ("train", "val")

__all__ = ["DATASETS", "DatasetInfo", "eval_arrays", "holdout_arrays", "load_dataset"]


def _normalize_split(split: str) -> str:
    split = "val" if split == "test" else split
    if split not in SPLITS:
        raise InvalidInputError(f"unknown split {split!r}; valid: train, val (or test)", param="split")
    return split


def load_dataset(name: str, split: str, data_dir: str | os.PathLike[str] | None = None, *, augment: bool = False,
                 input_size: int | None = None) -> tuple[Dataset[Any], DatasetInfo]:
    """A split of a dataset and its DatasetInfo. `augment` adds the training augmentation
    (random shift for digits/MNIST, shift + flip for CIFAR, RandomResizedCrop + flip for image
    folders); without it the items are exactly the evaluation transform. `input_size` resizes
    (default: 32 digits, 28 MNIST, 32 CIFAR, 224 image folders)."""
    split = _normalize_split(split)
    if input_size is not None and input_size < 8:
        raise InvalidInputError(f"input size must be at least 8 pixels, got {input_size}", param="input_size")
    data_dir = resolve_dir(name, data_dir)
    dataset, info = reader(name)(name, split, data_dir, augment=augment, input_size=input_size)
    if info.size == 0:  # valid files that hold nothing: refused here for every reader
        where = f" in '{data_dir}'" if data_dir is not None else ""
        raise InvalidInputError(f"{name} {split} split{where} holds no images", param="data_dir")
    return dataset, info


def eval_arrays(name: str, data_dir: str | os.PathLike[str] | None = None, split: str = "val",
                limit: int | None = None, input_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A whole split through the evaluation transform: (N,C,H,W) float32 normalized images and
    int64 labels. With `limit`, a fixed (seed 0) random subset of that many samples, in
    dataset order, so a class-sorted folder still gives every class."""
    x, y = _eval_arrays_cached(name, None if data_dir is None else str(data_dir), _normalize_split(split), limit, input_size)
    return x.copy(), y.copy()  # callers may write into theirs; the cached pair stays intact


@functools.lru_cache(maxsize=8)
def _eval_arrays_cached(name: str, data_dir: str | None, split: str, limit: int | None,
                        input_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    dataset, _ = load_dataset(name, split, data_dir, augment=False, input_size=input_size)
    if limit is not None and limit < 1:
        raise InvalidInputError(f"limit must be positive, got {limit}", param="limit")
    return _materialize(dataset, _subset(len(dataset), limit))  # type: ignore[arg-type]


def _subset(count: int, limit: int | None) -> np.ndarray:
    """The indices `eval_arrays(limit=...)` takes: all, or a seed-0 random subset in order."""
    if limit is None or limit >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(0).choice(count, size=limit, replace=False))


def holdout_arrays(name: str, data_dir: str | os.PathLike[str] | None, count: int, *, avoid: int | None,
                   input_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`count` images of the TRAINING split (evaluation transform) for tuning decisions, none
    of them among the `avoid` images `eval_arrays(split="train", limit=avoid)` gives (the
    calibration images): a fixed seed-1 subset of the rest, in order. The validation/test
    split stays untouched for the figures that are reported."""
    if count < 1:
        raise InvalidInputError(f"the held-out image count must be positive, got {count}", param="count")
    dataset, _ = load_dataset(name, "train", data_dir, augment=False, input_size=input_size)
    total = len(dataset)  # type: ignore[arg-type]
    taken = _subset(total, avoid) if avoid is not None else np.arange(0)
    rest = np.setdiff1d(np.arange(total), taken)
    if rest.size == 0:
        raise InvalidInputError(f"{name}'s training split has no images left beside the {len(taken)} calibration "
                                "images to hold out", param="count")
    if count < rest.size:
        rest = np.sort(np.random.default_rng(1).choice(rest, size=count, replace=False))
    return _materialize(dataset, rest)


def _materialize(dataset: Dataset[Any], indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import torch

    images, labels = [], []
    for i in indices:
        x, y = dataset[int(i)]
        images.append(x)
        labels.append(y)
    x_all = torch.stack(images).numpy().astype(np.float32, copy=False)
    y_all = np.asarray(labels, dtype=np.int64)
    return x_all, y_all
