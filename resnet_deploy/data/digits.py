"""`digits`: 1,797 real 8x8 handwritten-digit scans (values 0..16), shipped inside the package.

The array file `digits.npz` beside this module holds the images, the labels and the fixed
split, so a fresh machine trains without a download and without scikit-learn. Source: the
UCI "Optical Recognition of Handwritten Digits" test part as scikit-learn distributes it
(`load_digits`); licence CC BY 4.0 (the file's `provenance` entry says it in full). The split
is the one this project always used — scikit-learn's stratified `train_test_split` with
`random_state=0`: 1,437 training and 360 validation images, indices in that order — so figures
recorded before the file was shipped stay comparable (scripts/make_digits_npz.py regenerates
it; a test checks it against scikit-learn where that is installed).

Images are scaled to [0, 1] and resized (bilinear, antialiased) to 32x32, the CIFAR ResNets'
input size, and the normalisation mean/std are computed from the training split only.
"""

from __future__ import annotations

import functools
import zipfile
from dataclasses import dataclass
from importlib import resources

import numpy as np
import torch

from resnet_deploy.data.base import ArrayDataset, DatasetInfo, channel_stats, to_float_images
from resnet_deploy.errors import ArtifactError
from resnet_deploy.input_spec import InputSpec

DEFAULT_SIZE = 32
COUNT = 1797
VAL_SIZE = 360
CLASS_NAMES = tuple(str(i) for i in range(10))
FILE = "digits.npz"


@dataclass(frozen=True)
class Digits:
    images: np.ndarray  # (1797, 8, 8) uint8, 0..16
    labels: np.ndarray  # (1797,) int64, 0..9
    train_index: np.ndarray  # (1437,) int64
    val_index: np.ndarray  # (360,) int64
    provenance: str


@functools.lru_cache(maxsize=1)
def read_bundle() -> Digits:
    """The shipped arrays, checked: a damaged install is one ArtifactError line, not a wrong split."""
    path = resources.files("resnet_deploy.data").joinpath(FILE)
    try:
        with path.open("rb") as handle, np.load(handle, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in ("images", "labels", "train_index", "val_index", "provenance")}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ArtifactError(f"the bundled digits file '{path}' is missing or damaged ({exc}); reinstall resnet-deploy") from exc
    digits = Digits(arrays["images"], arrays["labels"].astype(np.int64), arrays["train_index"].astype(np.int64),
                    arrays["val_index"].astype(np.int64), str(arrays["provenance"]))
    split = np.concatenate([digits.train_index, digits.val_index])
    if (digits.images.shape != (COUNT, 8, 8) or digits.images.dtype != np.uint8 or digits.images.max() > 16
            or digits.labels.shape != (COUNT,) or digits.labels.max() > 9 or len(digits.val_index) != VAL_SIZE
            or not np.array_equal(np.sort(split), np.arange(COUNT))):
        raise ArtifactError(f"the bundled digits file '{path}' does not hold 1,797 8x8 digits with a train/val split; "
                            "reinstall resnet-deploy")
    return digits


@functools.lru_cache(maxsize=4)
def _split(size: int) -> tuple[torch.Tensor, np.ndarray, torch.Tensor, np.ndarray]:
    digits = read_bundle()
    x = to_float_images(digits.images.astype(np.float32)[:, None], 16.0, size)
    train, val = digits.train_index, digits.val_index
    return x[train], digits.labels[train], x[val], digits.labels[val]


def load(name: str, split: str, data_dir: object = None, *, augment: bool = False,
         input_size: int | None = None) -> tuple[ArrayDataset, DatasetInfo]:
    size = input_size or DEFAULT_SIZE
    x_train, y_train, x_val, y_val = _split(size)
    mean, std = channel_stats(x_train)
    x, y = (x_train, y_train) if split == "train" else (x_val, y_val)
    # Digits are not mirror-symmetric: shift by up to 1/8 of the side, no flip.
    dataset = ArrayDataset(x, y, mean, std, augment=augment, pad=max(1, size // 8), flip=False)
    spec = InputSpec(1, size, size, mean, std, class_names=CLASS_NAMES)
    return dataset, DatasetInfo("digits", 10, CLASS_NAMES, spec, len(dataset))
