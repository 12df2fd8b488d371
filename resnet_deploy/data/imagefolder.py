"""`imagefolder`: an ImageNet-style tree `root/train/<class>/*.jpg|png` and `root/val/<class>/...`.

Class names are the sorted folder names under train/ (val/ must use the same ones). The
standard ImageNet pipelines, written with PIL so the project needs no torchvision:
training RandomResizedCrop(224, scale 0.08-1, ratio 3/4-4/3) + horizontal flip; evaluation
torchvision's published recipe — Resize(256) (PIL bilinear), CenterCrop(224), ToTensor,
Normalize — equal to it pixel for pixel (tests/data/test_imagenet_transform.py compares them
on real photos); both sizes scale with `input_size`. ImageNet mean/std.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from resnet_deploy.data.base import DatasetInfo, SeededDataset
from resnet_deploy.data.transforms import imagenet_eval, imagenet_train, normalize
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.input_spec import IMAGENET_MEAN, IMAGENET_STD, InputSpec

EXTENSIONS = (".jpg", ".jpeg", ".png")
DEFAULT_SIZE = 224
RESIZE_RATIO = 256 / 224


def scan(root: Path, split: str, class_names: tuple[str, ...] | None = None) -> tuple[tuple[str, ...], list[tuple[Path, int]]]:
    folder = root / split
    if not folder.is_dir():
        raise InvalidInputError(f"image folder '{folder}' does not exist; expected {root}/train/<class>/*.jpg and {root}/val/<class>/*.jpg")
    found = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if not found:
        raise InvalidInputError(f"image folder '{folder}' has no class subfolders; expected {folder}/<class>/*.jpg|png")
    names = class_names if class_names is not None else tuple(found)
    unknown = [c for c in found if c not in names]
    if unknown:
        raise InvalidInputError(f"'{folder}' has classes not in train/: {', '.join(unknown[:10])}")
    index = {c: i for i, c in enumerate(names)}
    samples = [(p, index[c]) for c in found for p in sorted((folder / c).iterdir())
               if p.is_file() and p.suffix.lower() in EXTENSIONS]
    if not samples:
        raise InvalidInputError(f"image folder '{folder}' holds no .jpg/.jpeg/.png files")
    return names, samples


class ImageFolderDataset(SeededDataset):
    def __init__(self, samples: list[tuple[Path, int]], size: int, augment: bool) -> None:
        self.samples, self.size, self.augment = samples, size, augment
        self.resize = round(size * RESIZE_RATIO)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image, UnidentifiedImageError

        path, label = self.samples[index]
        try:
            with Image.open(path) as opened:
                image = opened.convert("RGB")
        except (OSError, UnidentifiedImageError) as exc:
            raise InvalidInputError(f"'{path}' is not a readable JPEG/PNG image ({exc})") from exc
        x = imagenet_train(image, self.size, self.rng(index)) if self.augment else imagenet_eval(image, self.size, self.resize)
        return normalize(x, IMAGENET_MEAN, IMAGENET_STD).contiguous(), label


def load(name: str, split: str, data_dir: str | os.PathLike[str] | None, *, augment: bool = False,
         input_size: int | None = None) -> tuple[ImageFolderDataset, DatasetInfo]:
    if data_dir is None:
        raise InvalidInputError("imagefolder needs data_dir: a folder with train/<class>/ and val/<class>/ images",
                                param="data_dir")
    root = Path(data_dir)
    if not root.is_dir():
        raise InvalidInputError(f"image folder '{root}' does not exist; expected train/<class>/ and val/<class>/ inside")
    class_names, train_samples = scan(root, "train")
    samples = train_samples if split == "train" else scan(root, "val", class_names)[1]
    size = input_size or DEFAULT_SIZE
    dataset = ImageFolderDataset(samples, size, augment)
    spec = InputSpec(3, size, size, IMAGENET_MEAN, IMAGENET_STD, class_names=class_names)
    return dataset, DatasetInfo("imagefolder", len(class_names), class_names, spec, len(dataset))
