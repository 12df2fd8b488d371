"""The digits set ships inside the package with the split the project always used."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from resnet_deploy.data import digits
from resnet_deploy.errors import ArtifactError

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_split_is_scikit_learns_split_index_for_index() -> None:
    """The recorded figures were made with sklearn's stratified split (random_state=0); the
    shipped file must give the same images, labels and indices in the same order."""
    datasets = pytest.importorskip("sklearn.datasets")
    selection = pytest.importorskip("sklearn.model_selection")
    reference = datasets.load_digits()
    labels = reference.target
    train, val = selection.train_test_split(np.arange(len(labels)), test_size=360, stratify=labels, random_state=0)
    bundle = digits.read_bundle()
    np.testing.assert_array_equal(bundle.images, reference.images)
    np.testing.assert_array_equal(bundle.labels, labels)
    np.testing.assert_array_equal(bundle.train_index, train)
    np.testing.assert_array_equal(bundle.val_index, val)
    assert "CC BY 4.0" in bundle.provenance and "random_state=0" in bundle.provenance


def test_digits_load_without_scikit_learn_or_scipy() -> None:
    code = ("import sys; sys.modules['sklearn'] = None; sys.modules['scipy'] = None\n"
            "from resnet_deploy.data import eval_arrays\n"
            "x, y = eval_arrays('digits'); assert x.shape == (360, 1, 32, 32), x.shape\n"
            "assert 'sklearn' not in [m.split('.')[0] for m in sys.modules if sys.modules[m] is not None]\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr


def test_wheel_carries_the_digits_file_and_an_spdx_licence(tmp_path: Path) -> None:
    """Package data is easy to lose: build a wheel from a copy of the sources and look inside."""
    pytest.importorskip("setuptools", minversion="77")
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "resnet_deploy", source / "resnet_deploy", ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "project.license" not in done.stderr  # setuptools' TOML-table deprecation banner
    wheel = next((tmp_path / "dist").glob("resnet_deploy-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        assert "resnet_deploy/data/digits.npz" in archive.namelist()
        metadata = archive.read(next(n for n in archive.namelist() if n.endswith("/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata
    runtime = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert runtime and not any(("scikit-learn" in line or "scipy" in line) for line in runtime)


def test_a_damaged_bundle_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    digits.read_bundle.cache_clear()
    monkeypatch.setattr(digits, "FILE", "no-such-digits.npz")
    try:
        with pytest.raises(ArtifactError, match=r"bundled digits file .* missing or damaged"):
            digits.read_bundle()
    finally:
        monkeypatch.undo()
        digits.read_bundle.cache_clear()
