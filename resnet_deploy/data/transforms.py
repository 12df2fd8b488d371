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
from PIL import Image

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
    """(left, top, right, bottom) of a centred size x size crop; torchvision's CenterCrop
    offsets (round half to even of half the margin)."""
    left = round((width - size) / 2.0)
    top = round((height - size) / 2.0)
    return left, top, left + size, top + size


def resize_shorter(width: int, height: int, size: int) -> tuple[int, int]:
    """New (width, height) with the shorter side equal to `size`, aspect kept.

    The long side is truncated, `int(size * long / short)`, exactly as torchvision's
    `Resize(size)` computes it: rounding instead gives one pixel more on sizes such as
    640x427 (383.7 -> 384), which shifts every pixel of the centre crop."""
    if width <= height:
        return size, int(size * height / width)
    return int(size * width / height), size


def imagenet_eval(image: Image.Image, size: int, resize: int) -> torch.Tensor:
    """torchvision's ImageNet evaluation recipe on a PIL RGB image, pixel for pixel:
    Resize(resize) (shorter side, PIL bilinear, antialiased), CenterCrop(size), ToTensor.
    Normalisation is left to the caller. (A crop larger than the resized image, which the
    recipe's 256/224 ratio never produces, would be padded by torchvision: refused here.)"""
    width, height = resize_shorter(image.width, image.height, resize)
    if size > min(width, height):
        raise ValueError(f"centre crop {size} is larger than the resized image {width}x{height}")
    if (width, height) != image.size:
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    return pil_to_tensor(image.crop(center_crop_box(width, height, size)))


def imagenet_train(image: Image.Image, size: int, rng: np.random.Generator) -> torch.Tensor:
    """RandomResizedCrop(size) + RandomHorizontalFlip, as torchvision does them: crop the
    random box first, then resize it (PIL bilinear), so the filter sees only the crop."""
    box = random_resized_crop_box(image.width, image.height, rng)
    image = image.crop(box).resize((size, size), Image.Resampling.BILINEAR)
    return random_hflip(pil_to_tensor(image), rng)


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """A PIL RGB image -> float32 CHW tensor in [0, 1] (torchvision's ToTensor: uint8 / 255)."""
    array = np.asarray(image, dtype=np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array.transpose(2, 0, 1).copy()).float().div_(255.0)
