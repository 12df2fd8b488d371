"""load_onnx_model refuses every broken file with one ArtifactError line; saving decides
between one file and external data by size."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from resnet_deploy.errors import ArtifactError
from resnet_deploy.export import load_onnx_model, needs_external_data, save_onnx_model
from resnet_deploy.export import loader as loader_module


def _one_line(error: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(error.value)
    assert "\n" not in text and "Traceback" not in text
    return text


def test_loads_an_exported_model(r20_onnx: Path) -> None:
    model = load_onnx_model(r20_onnx)
    assert [i.name for i in model.graph.input] == ["input"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError) as error:
        load_onnx_model(tmp_path / "nope.onnx")
    assert "does not exist" in _one_line(error)


@pytest.mark.parametrize("content", [b"", b"this is a text file, not a model\n", bytes(range(256)) * 40,
                                     b'{"kind": "onnx"}'])
def test_not_onnx(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(ArtifactError) as error:
        load_onnx_model(path)
    assert str(path) in _one_line(error)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.999])
def test_truncated_without_sidecar(r20_onnx: Path, tmp_path: Path, fraction: float) -> None:
    data = r20_onnx.read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ArtifactError) as error:
        load_onnx_model(path)
    assert "valid ONNX model" in _one_line(error)


def test_truncated_with_sidecar_is_caught_by_the_hash(r20_onnx: Path, tmp_path: Path) -> None:
    path = tmp_path / "resnet20.onnx"
    shutil.copy(r20_onnx, path)
    shutil.copy(r20_onnx.with_name(r20_onnx.name + ".json"), tmp_path / "resnet20.onnx.json")
    load_onnx_model(path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ArtifactError) as error:
        load_onnx_model(path)
    assert "sha256" in _one_line(error)


def test_external_data_round_trip_and_missing_data(r20_onnx: Path, tmp_path: Path) -> None:
    model = load_onnx_model(r20_onnx)
    path = tmp_path / "ext.onnx"
    files = save_onnx_model(model, path, external_data=True)
    assert files[0] == path and re.fullmatch(r"ext\.onnx\.[0-9a-f]{8}\.data", files[1].name)
    loaded = load_onnx_model(path)
    assert len(loaded.graph.initializer) == len(model.graph.initializer)
    first = loaded.graph.initializer[0]
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(first),
                                  onnx.numpy_helper.to_array(model.graph.initializer[0]))

    data = files[1]
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(ArtifactError) as error:
        load_onnx_model(path)
    assert "shorter" in _one_line(error)
    data.unlink()
    with pytest.raises(ArtifactError) as error:
        load_onnx_model(path)
    assert "missing" in _one_line(error)


def test_single_file_save_removes_a_stale_data_file(r20_onnx: Path, tmp_path: Path) -> None:
    model = load_onnx_model(r20_onnx)
    path = tmp_path / "m.onnx"
    first = save_onnx_model(model, path, external_data=True)[1]
    second = save_onnx_model(model, path, external_data=True)[1]
    assert second != first and not first.exists() and second.exists()  # a new name per save; the old one removed
    assert save_onnx_model(model, path) == [path]
    assert not second.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temp files left
    load_onnx_model(path)


def test_external_data_decision() -> None:
    assert not needs_external_data(100 * 2**20)
    assert not needs_external_data(loader_module.EXTERNAL_DATA_THRESHOLD - 1)
    assert needs_external_data(loader_module.EXTERNAL_DATA_THRESHOLD)
    assert needs_external_data(3 * 2**30)
    assert loader_module.EXTERNAL_DATA_THRESHOLD < 2**31  # protobuf's hard limit


def test_size_decides_external_data(r20_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    caplog: pytest.LogCaptureFixture) -> None:
    """The >2 GB branch, exercised by lowering the threshold instead of writing 2 GB."""
    model = load_onnx_model(r20_onnx)
    monkeypatch.setattr(loader_module, "EXTERNAL_DATA_THRESHOLD", 1000)
    with caplog.at_level(logging.WARNING):
        files = save_onnx_model(model, tmp_path / "big.onnx")
    assert files[0].name == "big.onnx" and files[1].name.startswith("big.onnx.") and files[1].suffix == ".data"
    assert "external data" in caplog.text
    assert load_onnx_model(tmp_path / "big.onnx", check=False).graph.initializer[0].data_location == onnx.TensorProto.DEFAULT
