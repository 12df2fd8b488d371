"""`cifar10` / `cifar100`: the "python version" pickle batches from a folder.

CIFAR-10: `cifar-10-batches-py/data_batch_1..5`, `test_batch`, `batches.meta`;
CIFAR-100: `cifar-100-python/train`, `test`, `meta` (fine labels). Each batch is a pickled
dict with b"data" (N x 3072 uint8, channel-major 32x32) and the labels. The folder given may
be the batches folder itself or its parent. The pickles are read with an unpickler that only
admits numpy arrays and builtins, so a hostile file cannot run code.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from resnet_deploy.data.base import ArrayDataset, DatasetInfo, to_float_images
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.input_spec import InputSpec

LAYOUT = {
    "cifar10": {"folder": "cifar-10-batches-py", "train": [f"data_batch_{i}" for i in range(1, 6)],
                "val": ["test_batch"], "meta": "batches.meta", "names": b"label_names", "labels": b"labels",
                "classes": 10},
    "cifar100": {"folder": "cifar-100-python", "train": ["train"], "val": ["test"], "meta": "meta",
                 "names": b"fine_label_names", "labels": b"fine_labels", "classes": 100},
}
MEAN = {"cifar10": (0.4914, 0.4822, 0.4465), "cifar100": (0.5071, 0.4865, 0.4409)}
STD = {"cifar10": (0.2470, 0.2435, 0.2616), "cifar100": (0.2673, 0.2564, 0.2762)}

_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _unpickle(path: Path) -> dict[bytes, Any]:
    try:
        obj = _SafeUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except Exception as exc:  # pickle raises many types for a wrong file
        raise InvalidInputError(f"'{path}' is not a CIFAR python pickle batch ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, dict):
        raise InvalidInputError(f"'{path}' is not a CIFAR python pickle batch (expected a dict)")
    return obj


def _folder(data_dir: Path, name: str) -> Path:
    sub = data_dir / str(LAYOUT[name]["folder"])
    if sub.is_dir():
        return sub
    if (data_dir / str(LAYOUT[name]["meta"])).is_file():
        return data_dir
    raise InvalidInputError(f"{name} folder '{data_dir}' has neither '{LAYOUT[name]['folder']}/' nor the batch files; "
                            f"expected the python-version pickle batches (extract {LAYOUT[name]['folder']}.tar.gz there)")


def load(name: str, split: str, data_dir: str | os.PathLike[str] | None, *, augment: bool = False,
               input_size: int | None = None) -> tuple[ArrayDataset, DatasetInfo]:
    if data_dir is None:
        raise InvalidInputError(f"{name} needs data_dir: a folder holding {LAYOUT[name]['folder']}/", param="data_dir")
    root = Path(data_dir)
    if not root.is_dir():
        raise InvalidInputError(f"{name} folder '{root}' does not exist; expected a folder holding {LAYOUT[name]['folder']}/")
    layout = LAYOUT[name]
    folder = _folder(root, name)
    data, labels = [], []
    for batch_name in layout[split]:  # type: ignore[attr-defined]
        path = folder / batch_name
        if not path.is_file():
            raise InvalidInputError(f"{name} batch '{path}' is missing; expected the python-version pickle batches")
        batch = _unpickle(path)
        if b"data" not in batch or layout["labels"] not in batch:
            raise InvalidInputError(f"'{path}' lacks b'data' or {layout['labels']!r}: not a {name} batch")
        array = np.asarray(batch[b"data"], dtype=np.uint8)
        if array.ndim != 2 or array.shape[1] != 3072:
            raise InvalidInputError(f"'{path}' holds data of shape {array.shape}; expected (N, 3072) uint8")
        data.append(array)
        labels.append(np.asarray(batch[layout["labels"]], dtype=np.int64))  # type: ignore[index]
    meta_path = folder / str(layout["meta"])
    classes = int(layout["classes"])  # type: ignore[call-overload]
    class_names = tuple(str(i) for i in range(classes))
    if meta_path.is_file():
        names = _unpickle(meta_path).get(layout["names"])  # type: ignore[call-overload]
        if names and len(names) == classes:
            class_names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    y = np.concatenate(labels)
    if y.size and (y.min() < 0 or y.max() >= classes):
        raise InvalidInputError(f"{name} labels in '{folder}' span {y.min()}..{y.max()}; expected 0..{classes - 1}")
    images = np.concatenate(data).reshape(-1, 3, 32, 32)
    size = input_size or 32
    x = to_float_images(images, 255.0, size)
    dataset = ArrayDataset(x, y, MEAN[name], STD[name], augment=augment, pad=max(1, size // 8), flip=True)
    spec = InputSpec(3, size, size, MEAN[name], STD[name], class_names=class_names)
    return dataset, DatasetInfo(name, classes, class_names, spec, len(dataset))
