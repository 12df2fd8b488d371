"""What every dataset returns: a torch Dataset of (normalized float32 CHW tensor, int label)
and a DatasetInfo that carries the InputSpec (size, channels, mean/std, class names) on to
the checkpoint."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from resnet_deploy.data.transforms import normalize, random_hflip, random_shift_crop, resize_batch
from resnet_deploy.input_spec import InputSpec


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    num_classes: int
    class_names: tuple[str, ...]
    input_spec: InputSpec
    size: int  # number of samples in this split


class SeededDataset(Dataset):  # type: ignore[type-arg]
    """A dataset whose random augmentation is drawn from a Generator seeded by
    (seed, epoch, index): deterministic whatever the workers, ranks or resume point."""

    seed: int = 0
    epoch: int = 0

    def set_epoch(self, epoch: int, seed: int | None = None) -> None:
        self.epoch = epoch
        if seed is not None:
            self.seed = seed

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])


class ArrayDataset(SeededDataset):
    """Images held in memory as an (N,C,H,W) float32 array in [0, 1] at the final size;
    training adds a random shift (pad + crop) and, for natural images, a horizontal flip."""

    def __init__(self, images: torch.Tensor, labels: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...],
                 *, augment: bool, pad: int, flip: bool) -> None:
        self.images = normalize(images, mean, std).contiguous()
        self.labels = labels.astype(np.int64)
        self.augment, self.pad, self.flip = augment, pad, flip
        # Zero pixels after normalization: pad with the background value, not with 0.
        self.fill = float(-mean[0] / std[0])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = self.images[index]
        if self.augment:
            rng = self.rng(index)
            x = random_shift_crop(x, self.pad, rng, self.fill)
            if self.flip:
                x = random_hflip(x, rng)
        return x.contiguous(), int(self.labels[index])


def to_float_images(array: np.ndarray, scale: float, size: int | None) -> torch.Tensor:
    """uint8/float (N,C,H,W) -> float32 tensor in [0, 1], resized to `size` if given."""
    x = torch.from_numpy(np.ascontiguousarray(array)).float().div_(scale)
    return resize_batch(x, size) if size else x


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    mean = images.mean(dim=(0, 2, 3))
    std = images.std(dim=(0, 2, 3))
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)

