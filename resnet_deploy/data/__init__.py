"""Datasets, each read from disk in its own published format (no download at run time).

    from resnet_deploy.data import load_dataset, eval_arrays
    train_set, info = load_dataset("digits", "train", augment=True)   # items: (CHW float32, int)
    x, y = eval_arrays("digits")           # the whole validation split as (N,C,H,W) float32, int64

Names: digits (shipped in the package), mnist (IDX), cifar10/cifar100 (python pickle
batches), imagefolder (train/ and val/ class-per-folder JPEG/PNG). Splits: "train" and
"val" ("test" is accepted for val: MNIST and CIFAR's test sets are their validation sets).
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from resnet_deploy.data.base import DatasetInfo
from resnet_deploy.errors import InvalidInputError

DATASETS = ("digits", "mnist", "cifar10", "cifar100", "imagefolder")
SPLITS = ("train", "val")

__all__ = ["DATASETS", "DatasetInfo", "eval_arrays", "load_dataset"]


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
    dataset, info = _load(name, split, data_dir, augment=augment, input_size=input_size)
    if info.size == 0:  # valid files that hold nothing: refused here for every reader
        where = f" in '{data_dir}'" if data_dir is not None else ""
        raise InvalidInputError(f"{name} {split} split{where} holds no images", param="data_dir")
    return dataset, info


def _load(name: str, split: str, data_dir: str | os.PathLike[str] | None, *, augment: bool,
          input_size: int | None) -> tuple[Dataset[Any], DatasetInfo]:
    if name == "digits":
        from resnet_deploy.data import digits

        return digits.load(split, data_dir, augment=augment, input_size=input_size)
    if name == "mnist":
        from resnet_deploy.data import mnist

        return mnist.load(split, data_dir, augment=augment, input_size=input_size)
    if name in ("cifar10", "cifar100"):
        from resnet_deploy.data import cifar

        return cifar.load_cifar(name, split, data_dir, augment=augment, input_size=input_size)
    if name == "imagefolder":
        from resnet_deploy.data import imagefolder

        return imagefolder.load(split, data_dir, augment=augment, input_size=input_size)
    raise InvalidInputError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}", param="dataset")


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
    count = len(dataset)  # type: ignore[arg-type]
    indices = np.arange(count)
    if limit is not None and limit < 1:
        raise InvalidInputError(f"limit must be positive, got {limit}", param="limit")
    if limit is not None and limit < count:
        indices = np.sort(np.random.default_rng(0).choice(count, size=limit, replace=False))
    images, labels = [], []
    for i in indices:
        x, y = dataset[int(i)]
        images.append(x)
        labels.append(y)
    x_all = torch.stack(images).numpy().astype(np.float32, copy=False)
    y_all = np.asarray(labels, dtype=np.int64)
    return x_all, y_all
