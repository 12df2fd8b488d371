"""`mnist` and `fashion-mnist`: the four IDX files (gzip or not) from a folder.

Fashion-MNIST (Zalando's clothing images) is a drop-in replacement for MNIST: the same four
file names, sizes and format, so one reader serves both; each has its own mean/std and class
names. Its folder defaults to the Debian package's (data/registry.py).

The IDX format: a big-endian magic number (0x0803 images, 0x0801 labels: two zero bytes, the
dtype code 0x08 = ubyte, the number of dimensions), one uint32 per dimension, then the data.
Files are looked for in `data_dir` and in `data_dir/MNIST/raw` (torchvision's layout).
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

from resnet_deploy.data.base import ArrayDataset, DatasetInfo, to_float_images
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.input_spec import InputSpec

FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "val": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
MEAN, STD = (0.1307,), (0.3081,)  # the usual MNIST training-set statistics
CLASS_NAMES = tuple(str(i) for i in range(10))
FASHION_MEAN, FASHION_STD = (0.2860,), (0.3530,)  # Fashion-MNIST's 60,000 training images
FASHION_CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                       "Ankle boot")
VARIANTS = {"mnist": (MEAN, STD, CLASS_NAMES), "fashion-mnist": (FASHION_MEAN, FASHION_STD, FASHION_CLASS_NAMES)}


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an IDX ubyte file (optionally gzip-compressed) with `ndim` dimensions."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InvalidInputError(f"MNIST file '{path}' cannot be read ({exc}); expected an IDX file, optionally .gz") from exc
    if len(raw) < 4 + 4 * ndim:
        raise InvalidInputError(f"MNIST file '{path}' is too short for an IDX header; expected an IDX ubyte file")
    zero, dtype_code, dims = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or dims != ndim:
        raise InvalidInputError(f"'{path}' is not an IDX ubyte file with {ndim} dimensions "
                                f"(magic {raw[:4].hex()}, expected 000008{ndim:02x})")
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    count = int(np.prod(shape))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).copy()
    if data.size != count:
        raise InvalidInputError(f"MNIST file '{path}' holds {data.size} bytes of data, its header says {count}: truncated or corrupt")
    return data.reshape(shape)


def _find(folder: Path, stem: str) -> Path:
    for base in (folder, folder / "MNIST" / "raw"):
        for name in (stem, stem + ".gz"):
            if (base / name).is_file():
                return base / name
    raise InvalidInputError(f"MNIST folder '{folder}' has no '{stem}' or '{stem}.gz'; expected the four IDX files "
                            f"(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-...) there")


def load(name: str, split: str, data_dir: str | os.PathLike[str] | None, *, augment: bool = False,
         input_size: int | None = None) -> tuple[ArrayDataset, DatasetInfo]:
    mean, std, class_names = VARIANTS[name]
    if data_dir is None:
        raise InvalidInputError(f"{name} needs data_dir: a folder with the IDX files (train-images-idx3-ubyte[.gz], ...)",
                                param="data_dir")
    folder = Path(data_dir)
    if not folder.is_dir():
        raise InvalidInputError(f"{name} folder '{folder}' does not exist; expected a folder with the four IDX files")
    images_name, labels_name = FILES[split]
    images = read_idx(_find(folder, images_name), 3)
    labels = read_idx(_find(folder, labels_name), 1)
    if len(images) != len(labels):
        raise InvalidInputError(f"MNIST {split} split in '{folder}' has {len(images)} images but {len(labels)} labels")
    if labels.size and labels.max() >= 10:
        raise InvalidInputError(f"MNIST labels in '{folder}' go up to {labels.max()}; expected 0..9")
    size = input_size or images.shape[-1]
    x = to_float_images(images[:, None], 255.0, size)
    # Digits are not mirror-symmetric; clothes are, but the recipe stays MNIST's: shift only.
    dataset = ArrayDataset(x, labels, mean, std, augment=augment, pad=max(1, size // 8), flip=False)
    spec = InputSpec(1, size, size, mean, std, class_names=class_names)
    return dataset, DatasetInfo(name, 10, class_names, spec, len(dataset))
