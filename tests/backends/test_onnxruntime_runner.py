"""The onnxruntime CPU runner: names from the session, dynamic batch, feed checks, and the
one overridable provider hook that the GPU runners use."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from resnet_deploy.backends.onnxruntime_runner import OnnxRuntimeRunner
from resnet_deploy.errors import ArtifactError, InvalidInputError
from resnet_deploy.export import export_onnx


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ort") / "resnet20.onnx"
    export_onnx(path, model="resnet20", exporter="torchscript")
    return path


def test_infer_by_name_at_several_batch_sizes(model_path: Path) -> None:
    with OnnxRuntimeRunner(model_path, threads=1) as runner:
        assert runner.is_active and runner.name == "ort-cpu"
        (inp,) = runner.inputs()
        assert inp.name == "input" and inp.shape[1:] == (3, 32, 32) and inp.is_dynamic(0)
        assert [o.name for o in runner.outputs()] == ["logits"]
        assert runner.batch_limits() == (1, None)
        for batch in (1, 3):
            out = runner.infer({"input": np.zeros((batch, 3, 32, 32), np.float32)})
            assert list(out) == ["logits"] and out["logits"].shape == (batch, 10)
        described = runner.describe()
        assert described["providers"] == ["CPUExecutionProvider"] and described["threads"] == 1
    assert not runner.is_active and runner.session is None


@pytest.mark.parametrize(("feeds", "message"), [
    ({"x": np.zeros((1, 3, 32, 32), np.float32)}, "inputs must be"),
    ({"input": np.zeros((1, 3, 32, 32), np.float64)}, "float32"),
    ({"input": np.zeros((3, 32, 32), np.float32)}, "dimensions"),
    ({"input": np.zeros((1, 3, 16, 32), np.float32)}, "shape"),
])
def test_bad_feeds(model_path: Path, feeds: dict[str, np.ndarray], message: str) -> None:
    with OnnxRuntimeRunner(model_path) as runner, pytest.raises(InvalidInputError, match=message):
        runner.infer(feeds)


def test_fixed_batch_limits(tmp_path: Path) -> None:
    path = tmp_path / "fixed.onnx"
    export_onnx(path, model="resnet20", exporter="torchscript", batch=2)
    with OnnxRuntimeRunner(path) as runner:
        assert runner.batch_limits() == (2, 2)
        with pytest.raises(InvalidInputError, match="outside"):
            runner.infer({"input": np.zeros((3, 3, 32, 32), np.float32)})


def test_unavailable_provider(model_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not available"):
        OnnxRuntimeRunner(model_path, provider="nonexistent").activate()


def test_bad_file_and_inactive_use(tmp_path: Path, model_path: Path) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(ArtifactError):
        OnnxRuntimeRunner(path).activate()
    with pytest.raises(RuntimeError, match="not active"):  # a programming error, not bad input
        OnnxRuntimeRunner(model_path).inputs()
    with pytest.raises(InvalidInputError, match="threads"):
        OnnxRuntimeRunner(model_path, threads=0)


def test_subclass_chooses_providers(model_path: Path) -> None:
    class Chosen(OnnxRuntimeRunner):
        name = "ort-test"
        asked: ClassVar[list[bool]] = []

        def _providers(self) -> list[str | tuple[str, dict[str, Any]]]:
            Chosen.asked.append(True)
            return ["CPUExecutionProvider"]

    with Chosen(model_path, provider="whatever") as runner:
        assert runner.infer({"input": np.ones((1, 3, 32, 32), np.float32)})["logits"].shape == (1, 10)
    assert Chosen.asked == [True]
