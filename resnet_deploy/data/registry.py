"""The one table of datasets: every command's `--dataset` help, choices and default folder read it.

A row says what a dataset is, whether it needs a folder and where its files live by default
(a system package's folder), and how to install it when that folder is missing. Adding a
dataset is one row here and one reader module; no help string elsewhere names datasets.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resnet_deploy.errors import InvalidInputError, MissingDependencyError


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    summary: str  # what it is, for the help and the README
    reader: str  # module under resnet_deploy.data whose `load(name, split, data_dir, augment=, input_size=)` reads it
    default_dir: str | None = None  # where a system package puts the files; used when no folder is given
    install: str | None = None  # the command that installs the default folder
    bundled: bool = False  # shipped inside the package: no folder at all

    @property
    def needs_folder(self) -> bool:
        return not self.bundled and self.default_dir is None


TABLE: tuple[DatasetEntry, ...] = (
    DatasetEntry("digits", "1,797 8x8 handwritten digits, bundled (360 validation images)", "digits", bundled=True),
    DatasetEntry("fashion-mnist", "Zalando's 70,000 28x28 clothing images, 10 classes (10,000 test images)",
                 "mnist", default_dir="/usr/share/datasets/fashion-mnist",
                 install="apt-get install dataset-fashion-mnist"),
    DatasetEntry("mnist", "MNIST-format IDX files in a folder", "mnist"),
    DatasetEntry("cifar10", "CIFAR-10 python pickle batches in a folder", "cifar"),
    DatasetEntry("cifar100", "CIFAR-100 python pickle batches in a folder", "cifar"),
    DatasetEntry("imagefolder", "train/<class>/ and val/<class>/ JPEG/PNG folders", "imagefolder"),
)
BY_NAME = {entry.name: entry for entry in TABLE}
DATASETS: tuple[str, ...] = tuple(BY_NAME)


def entry(name: str) -> DatasetEntry:
    try:
        return BY_NAME[name]
    except KeyError:
        raise InvalidInputError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}", param="dataset") from None


def names_help() -> str:
    """The dataset names for a help string, each with what it needs: `digits (bundled), fashion-mnist, ...`."""
    return ", ".join(f"{e.name} (bundled)" if e.bundled else e.name for e in TABLE)


def data_dir_help() -> str:
    """What `--data-dir` means, dataset by dataset (the defaults come from the table)."""
    defaults = "; ".join(f"{e.name}: default {e.default_dir}" for e in TABLE if e.default_dir)
    bundled = ", ".join(e.name for e in TABLE if e.bundled)
    return f"Folder with the dataset files (not needed for {bundled}; {defaults})."


def resolve_dir(name: str, data_dir: str | os.PathLike[str] | None) -> str | os.PathLike[str] | None:
    """The folder to read `name` from: the one given, else the table's default. A missing
    default folder is a missing system package (exit 3, with the install command); a missing
    folder the user named is bad input (exit 2, said by the reader)."""
    row = entry(name)
    if data_dir is not None or row.default_dir is None:
        return data_dir
    if not Path(row.default_dir).is_dir():
        raise MissingDependencyError(f"{name} is not installed: '{row.default_dir}' does not exist; install it with "
                                     f"`{row.install}` (as root), or give `data_dir` a folder with its files")
    return row.default_dir


def reader(name: str) -> Callable[..., Any]:
    """The `load` function of the dataset's reader module (imported on first use)."""
    return importlib.import_module(f"resnet_deploy.data.{entry(name).reader}").load  # type: ignore[no-any-return]
