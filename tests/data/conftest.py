"""Small files in each dataset's real on-disk format, written on the fly."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest


def write_idx(path: Path, array: np.ndarray, compress: bool) -> Path:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


@pytest.fixture
def mnist_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for prefix, count, compress in (("train", 40, True), ("t10k", 20, False)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (count, 28, 28)), compress)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", np.arange(count) % 10, compress)
    return folder


def write_cifar(root: Path, name: str, per_batch: int = 10) -> Path:
    rng = np.random.default_rng(1)
    if name == "cifar10":
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        batches = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        for batch in batches:
            payload = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                       b"labels": [int(i % 10) for i in range(per_batch)], b"batch_label": batch.encode()}
            (folder / batch).write_bytes(pickle.dumps(payload))
        names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
        (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}))
    else:
        folder = root / "cifar-100-python"
        folder.mkdir(parents=True)
        for batch in ("train", "test"):
            payload = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                       b"fine_labels": [int(i % 100) for i in range(per_batch)],
                       b"coarse_labels": [0] * per_batch}
            (folder / batch).write_bytes(pickle.dumps(payload))
        (folder / "meta").write_bytes(pickle.dumps({b"fine_label_names": [f"c{i}".encode() for i in range(100)]}))
    return root


def write_imagefolder(root: Path) -> Path:
    from PIL import Image

    rng = np.random.default_rng(2)
    for split, count in (("train", 3), ("val", 2)):
        for cls, ext in (("cat", ".png"), ("dog", ".jpg")):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(count):
                w, h = int(rng.integers(40, 90)), int(rng.integers(40, 90))
                Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"{i}{ext}")
    return root
