"""`digits`: scikit-learn's bundled handwritten digits (1,797 real 8x8 scans, values 0..16).

Bundled with scikit-learn, so a fresh machine trains without a download. Images are scaled
to [0, 1] and resized (bilinear, antialiased) to 32x32, the CIFAR ResNets' input size. The
split is fixed and stratified: 1,437 training and 360 validation images (random_state=0),
and the normalisation mean/std are computed from the training split only.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from resnet_deploy.data.base import ArrayDataset, DatasetInfo, channel_stats, to_float_images
from resnet_deploy.input_spec import InputSpec

DEFAULT_SIZE = 32
VAL_SIZE = 360
SPLIT_SEED = 0
CLASS_NAMES = tuple(str(i) for i in range(10))


@functools.lru_cache(maxsize=4)
def _split(size: int) -> tuple[torch.Tensor, np.ndarray, torch.Tensor, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images.astype(np.float32)[:, None]  # (1797, 1, 8, 8)
    labels = digits.target.astype(np.int64)
    idx_train, idx_val = train_test_split(np.arange(len(labels)), test_size=VAL_SIZE, stratify=labels,
                                          random_state=SPLIT_SEED)
    x = to_float_images(images, 16.0, size)
    return x[idx_train], labels[idx_train], x[idx_val], labels[idx_val]


def load(split: str, data_dir: object = None, *, augment: bool = False,
         input_size: int | None = None) -> tuple[ArrayDataset, DatasetInfo]:
    size = input_size or DEFAULT_SIZE
    x_train, y_train, x_val, y_val = _split(size)
    mean, std = channel_stats(x_train)
    x, y = (x_train, y_train) if split == "train" else (x_val, y_val)
    # Digits are not mirror-symmetric: shift by up to 1/8 of the side, no flip.
    dataset = ArrayDataset(x, y, mean, std, augment=augment, pad=max(1, size // 8), flip=False)
    spec = InputSpec(1, size, size, mean, std, class_names=CLASS_NAMES)
    return dataset, DatasetInfo("digits", 10, CLASS_NAMES, spec, len(dataset))
