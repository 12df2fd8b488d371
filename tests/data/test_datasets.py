from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from resnet_deploy.data import eval_arrays, load_dataset
from resnet_deploy.errors import InvalidInputError
from tests.data.conftest import write_cifar, write_idx, write_imagefolder


def test_digits_split_is_fixed_stratified_and_normalized_with_train_stats() -> None:
    train, info = load_dataset("digits", "train")
    val, val_info = load_dataset("digits", "val")
    assert (len(train), len(val)) == (1437, 360) and info.size == 1437 and val_info.size == 360
    assert info.num_classes == 10 and info.input_spec.channels == 1 and info.input_spec.height == 32
    x, y = train[0]
    assert x.dtype == torch.float32 and x.shape == (1, 32, 32) and isinstance(y, int)
    train_x = train.images  # type: ignore[attr-defined]  # the whole split, normalized
    assert abs(float(train_x.mean())) < 1e-3 and abs(float(train_x.std()) - 1) < 1e-2  # train stats
    labels = np.array([val[i][1] for i in range(len(val))])
    assert np.bincount(labels).min() >= 35  # stratified: every class ~36 times
    assert info.input_spec.mean == val_info.input_spec.mean  # val uses the train statistics


def test_eval_arrays_is_the_evaluation_transform_and_limit_is_a_fixed_subset() -> None:
    x, y = eval_arrays("digits")
    val, _ = load_dataset("digits", "val")
    assert x.shape == (360, 1, 32, 32) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x[5], val[5][0].numpy())
    xs, ys = eval_arrays("digits", limit=50)
    xs2, _ = eval_arrays("digits", limit=50)
    assert xs.shape[0] == 50 and len(set(ys.tolist())) > 5
    np.testing.assert_array_equal(xs, xs2)
    xs[:] = 0  # callers get their own copy
    assert eval_arrays("digits", limit=50)[0].any()
    assert eval_arrays("digits", input_size=16)[0].shape == (360, 1, 16, 16)


def test_augmentation_depends_on_seed_epoch_and_index_only() -> None:
    train, _ = load_dataset("digits", "train", augment=True)
    train.set_epoch(3, seed=7)  # type: ignore[attr-defined]
    a = torch.stack([train[i][0] for i in range(20)])
    b = torch.stack([train[i][0] for i in range(20)])
    torch.testing.assert_close(a, b)
    train.set_epoch(4, seed=7)  # type: ignore[attr-defined]
    assert not torch.equal(a, torch.stack([train[i][0] for i in range(20)]))


@pytest.mark.parametrize("split,count", [("train", 40), ("val", 20), ("test", 20)])
def test_mnist_reads_idx_files_gzip_or_not(mnist_dir: Path, split: str, count: int) -> None:
    data, info = load_dataset("mnist", split, mnist_dir)
    assert len(data) == count and info.input_spec.height == 28 and info.input_spec.mean == (0.1307,)
    x, y = data[3]
    assert x.shape == (1, 28, 28) and y == 3
    assert load_dataset("mnist", split, mnist_dir, input_size=32)[0][0][0].shape == (1, 32, 32)


def test_mnist_bad_input_is_one_clear_line(mnist_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_dataset("mnist", "train", tmp_path / "nope")
    with pytest.raises(InvalidInputError, match="needs data_dir"):
        load_dataset("mnist", "train")
    (mnist_dir / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x01" + b"\x00" * 40)  # 1-dim: a labels file
    with pytest.raises(InvalidInputError, match=r"t10k-images-idx3-ubyte.*not an IDX ubyte file with 3 dimensions"):
        load_dataset("mnist", "val", mnist_dir)
    write_idx(mnist_dir / "t10k-images-idx3-ubyte", np.zeros((20, 28, 28)), False)
    raw = (mnist_dir / "t10k-images-idx3-ubyte").read_bytes()
    (mnist_dir / "t10k-images-idx3-ubyte").write_bytes(raw[:-100])
    with pytest.raises(InvalidInputError, match="truncated"):
        load_dataset("mnist", "val", mnist_dir)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInputError, match="has no 'train-images-idx3-ubyte'"):
        load_dataset("mnist", "train", empty)


@pytest.mark.parametrize("name,classes", [("cifar10", 10), ("cifar100", 100)])
def test_cifar_reads_python_pickle_batches(tmp_path: Path, name: str, classes: int) -> None:
    root = write_cifar(tmp_path, name)
    train, info = load_dataset(name, "train", root, augment=True)
    val, _ = load_dataset(name, "val", root)
    assert len(train) == (50 if name == "cifar10" else 10) and len(val) == 10
    assert info.num_classes == classes and len(info.class_names) == classes and info.input_spec.channels == 3
    assert info.class_names[1] == ("automobile" if name == "cifar10" else "c1")
    x, y = val[2]
    assert x.shape == (3, 32, 32) and y == 2


def test_cifar_refuses_wrong_files_and_code_in_pickles(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="cifar-10-batches-py"):
        load_dataset("cifar10", "train", tmp_path)
    root = write_cifar(tmp_path, "cifar10")
    batch = root / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(b"not a pickle")
    with pytest.raises(InvalidInputError, match=r"test_batch.*not a CIFAR python pickle batch"):
        load_dataset("cifar10", "val", root)

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    batch.write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(InvalidInputError, match=r"refusing to load builtins.print"):
        load_dataset("cifar10", "val", root)


def test_imagefolder_pipelines(tmp_path: Path) -> None:
    root = write_imagefolder(tmp_path / "images")
    train, info = load_dataset("imagefolder", "train", root, augment=True, input_size=32)
    val, _ = load_dataset("imagefolder", "val", root, input_size=32)
    assert info.class_names == ("cat", "dog") and len(train) == 6 and len(val) == 4
    assert info.input_spec.mean == (0.485, 0.456, 0.406)
    assert train[0][0].shape == (3, 32, 32) and val[3][0].shape == (3, 32, 32) and val[3][1] == 1
    full, _ = load_dataset("imagefolder", "val", root)
    assert full[0][0].shape == (3, 224, 224)  # resize 256 + centre crop 224
    x, y = eval_arrays("imagefolder", root, input_size=32)
    assert x.shape == (4, 3, 32, 32) and y.tolist() == [0, 0, 1, 1]


def test_imagefolder_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_dataset("imagefolder", "train", tmp_path / "none")
    root = write_imagefolder(tmp_path / "images")
    (root / "val" / "bird").mkdir()
    with pytest.raises(InvalidInputError, match="classes not in train/: bird"):
        load_dataset("imagefolder", "val", root)
    (root / "val" / "bird").rmdir()
    (root / "val" / "cat" / "0.png").write_bytes(b"garbage")
    val, _ = load_dataset("imagefolder", "val", root)
    with pytest.raises(InvalidInputError, match=r"0.png' is not a readable JPEG/PNG"):
        val[0]


def test_unknown_dataset_and_split() -> None:
    with pytest.raises(InvalidInputError, match="valid: digits, fashion-mnist, mnist"):
        load_dataset("svhn", "train")
    with pytest.raises(InvalidInputError, match="unknown split"):
        load_dataset("digits", "holdout")


def test_empty_datasets_are_refused_in_one_line(tmp_path: Path) -> None:
    """Valid files that hold nothing (issue 10): one line naming the folder, exit code 2."""
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    for prefix in ("train", "t10k"):
        write_idx(mnist / f"{prefix}-images-idx3-ubyte", np.zeros((0, 28, 28)), False)  # valid header, 0 images
        write_idx(mnist / f"{prefix}-labels-idx1-ubyte", np.zeros((0,)), False)
    with pytest.raises(InvalidInputError, match=r"mnist train split in '.*mnist' holds no images") as err:
        load_dataset("mnist", "train", mnist)
    assert err.value.exit_code == 2 and err.value.param == "data_dir" and "\n" not in str(err.value)
    with pytest.raises(InvalidInputError, match="holds no images"):
        eval_arrays("mnist", mnist, limit=5)

    cifar = write_cifar(tmp_path / "cifar", "cifar10", per_batch=0)
    with pytest.raises(InvalidInputError, match=r"cifar10 val split .* holds no images"):
        load_dataset("cifar10", "val", cifar)

    images = tmp_path / "images"
    for split in ("train", "val"):
        (images / split / "cat").mkdir(parents=True)  # class folders, no pictures
    (images / "train" / "cat" / "notes.txt").write_text("not an image")
    with pytest.raises(InvalidInputError, match=r"image folder '.*train' holds no .jpg/.jpeg/.png files"):
        load_dataset("imagefolder", "train", images)


def test_limit_must_be_positive_whatever_the_dataset_size() -> None:
    for limit in (0, -5):
        with pytest.raises(InvalidInputError, match="limit must be positive") as err:
            eval_arrays("digits", limit=limit)
        assert err.value.param == "limit"
