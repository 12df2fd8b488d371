"""Image transforms in numpy/torch/PIL (the project does not depend on torchvision).

In-memory datasets (digits, MNIST, CIFAR) hold uint8 or float arrays and transform one CHW
float tensor at a time; image folders decode with PIL. Every random transform takes an
explicit numpy Generator: the loop seeds one per (seed, epoch, index), so augmentation is
the same whatever the number of workers or processes, and a resumed run replays it exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_TRAIN_SCALE = (0.08, 1.0)
IMAGENET_TRAIN_RATIO = (3 / 4, 4 / 3)


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    m = torch.tensor(mean, dtype=x.dtype).view(-1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(-1, 1, 1)
    return (x - m) / s


def resize_batch(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of an (N,C,H,W) float batch to size x size (antialiased when shrinking)."""
    if x.shape[-2:] == (size, size):
        return x
    shrink = size < x.shape[-1]
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)


def random_shift_crop(x: torch.Tensor, padding: int, rng: np.random.Generator, fill: float = 0.0) -> torch.Tensor:
    """Pad by `padding` on each side and crop back to the original size at a random offset
    (the CIFAR recipe's augmentation)."""
    if padding <= 0:
        return x
    _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding), value=fill)
    top, left = (int(v) for v in rng.integers(0, 2 * padding + 1, size=2))
    return padded[:, top:top + h, left:left + w]


def random_hflip(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    return torch.flip(x, dims=(-1,)) if rng.random() < 0.5 else x


def random_resized_crop_box(width: int, height: int, rng: np.random.Generator,
                            scale: tuple[float, float] = IMAGENET_TRAIN_SCALE,
                            ratio: tuple[float, float] = IMAGENET_TRAIN_RATIO) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of a random crop with area in `scale` and aspect in `ratio`,
    the Inception/ImageNet recipe (10 tries, then a centre crop clamped to `ratio`)."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = round(math.sqrt(target_area * aspect))
        h = round(math.sqrt(target_area / aspect))
        if 0 < w <= width and 0 < h <= height:
            left = int(rng.integers(0, width - w + 1))
            top = int(rng.integers(0, height - h + 1))
            return left, top, left + w, top + h
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def center_crop_box(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    left = round((width - size) / 2.0)
    top = round((height - size) / 2.0)
    return left, top, left + size, top + size


def resize_shorter(width: int, height: int, size: int) -> tuple[int, int]:
    """New (width, height) with the shorter side equal to `size`, aspect kept."""
    if width <= height:
        return size, max(1, round(height * size / width))
    return max(1, round(width * size / height)), size


def pil_to_tensor(image: object) -> torch.Tensor:
    """A PIL RGB image -> float32 CHW tensor in [0, 1]."""
    array = np.asarray(image, dtype=np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array.transpose(2, 0, 1).copy()).float().div_(255.0)
