"""export_onnx: the file's contract (names, dynamic batch, folded BN, metadata, sidecar,
single file) with both exporters, and one clear error for each bad input."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.export import export_onnx, load_onnx_model, read_onnx_metadata
from resnet_deploy.export import exporter as exporter_module
from resnet_deploy.export import loader as loader_module
from resnet_deploy.input_spec import InputSpec
from resnet_deploy.model_source import UNTRAINED_SEED, build_untrained


def _run(path: Path, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})  # type: ignore[no-any-return]


def _check_contract(path: Path, *, batch: str | int = "dynamic") -> onnx.ModelProto:
    assert not path.with_name(path.name + ".data").exists()
    model = load_onnx_model(path)
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    assert [i.name for i in model.graph.input] == ["input"]
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    first = model.graph.input[0].type.tensor_type.shape.dim[0]
    if batch == "dynamic":
        assert first.dim_param == "batch" and not first.HasField("dim_value")
    else:
        assert first.dim_value == batch
    ops = {n.op_type for n in model.graph.node}
    assert "BatchNormalization" not in ops and "Identity" not in ops
    return model


@pytest.mark.parametrize("fixture", ["r18_dynamo", "r20_onnx"])
def test_contract_and_metadata(fixture: str, request: pytest.FixtureRequest) -> None:
    path: Path = request.getfixturevalue(fixture)
    _check_contract(path)
    meta = read_onnx_metadata(path)
    assert meta["architecture"] in ("resnet18", "resnet20")
    assert meta["trained"] is False and meta["precision"] == "fp32"
    assert meta["output_names"] == ["logits"]
    spec = InputSpec.from_dict(meta["input_spec"])
    assert (spec.channels, spec.height, spec.width, spec.layout) == (3, 32, 32, "NCHW")
    props = meta["props"]
    for key in ("checkpoint_sha256", "mean", "std", "class_names", "toolkit_version", "torch_version", "layout"):
        assert key in props
    assert props["torch_version"] == torch.__version__
    sidecar = json.loads(path.with_name(path.name + ".json").read_text())
    assert sidecar["kind"] == "onnx" and sidecar["precision"] == "fp32"
    assert sidecar["io"] == {"inputs": ["input"], "outputs": ["logits"]}
    assert sidecar["source"]["kind"] == "untrained" and sidecar["opset"] == 18
    assert sidecar["exporter"] == ("dynamo" if fixture == "r18_dynamo" else "torchscript")


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_outputs_match_torch_at_two_batch_sizes(exporter: str, tmp_path: Path) -> None:
    # Untrained exports use seeded weights, so build_untrained rebuilds the same network.
    path = tmp_path / "r20.onnx"
    export_onnx(path, model="resnet20", exporter=exporter)
    net = build_untrained("resnet20")
    assert read_onnx_metadata(path)["init_seed"] == UNTRAINED_SEED
    for batch in (1, 5):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 32, 32)).astype(np.float32)
        (logits,) = _run(path, x)
        with torch.no_grad():
            expected = net(torch.from_numpy(x)).numpy()
        assert logits.shape == (batch, 10)
        np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=1e-3)


def test_fixed_batch_and_features(tmp_path: Path) -> None:
    path = tmp_path / "backbone.onnx"
    result = export_onnx(path, model="resnet18", input_size=64, batch=2, features=True, exporter="torchscript")
    model = _check_contract(path, batch=2)
    assert [o.name for o in model.graph.output] == ["c2", "c3", "c4", "c5"]
    outs = _run(path, np.zeros((2, 3, 64, 64), np.float32))
    assert [o.shape for o in outs] == [(2, 64, 16, 16), (2, 128, 8, 8), (2, 256, 4, 4), (2, 512, 2, 2)]
    assert result.metadata.io is not None and result.metadata.io.outputs == ["c2", "c3", "c4", "c5"]
    assert read_onnx_metadata(path)["features"] is True


def test_untrained_export_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        export_onnx(tmp_path / "m.onnx", model="resnet20", exporter="torchscript", simplify=False)
    assert "UNTRAINED" in caplog.text
    assert load_onnx_model(tmp_path / "m.onnx").metadata_props


def test_no_simplify_still_folds_batchnorm(tmp_path: Path) -> None:
    export_onnx(tmp_path / "m.onnx", model="resnet20", exporter="torchscript", simplify=False)
    ops = {n.op_type for n in load_onnx_model(tmp_path / "m.onnx").graph.node}
    assert "BatchNormalization" not in ops


def test_big_model_goes_to_external_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader_module, "EXTERNAL_DATA_THRESHOLD", 10_000)
    result = export_onnx(tmp_path / "big.onnx", model="resnet20", exporter="torchscript")
    model_file, data_file = result.files
    assert model_file.name == "big.onnx" and data_file.name.startswith("big.onnx.") and data_file.suffix == ".data"
    assert result.metadata.external_data == [data_file.name]
    assert data_file.stat().st_size > 100_000
    (out,) = _run(tmp_path / "big.onnx", np.zeros((1, 3, 32, 32), np.float32))
    assert out.shape == (1, 10)


# -- bad input --------------------------------------------------------------------------
def test_missing_output_folder_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        export_onnx(tmp_path / "missing" / "m.onnx", model="resnet20")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("opset", "exporter", "message"), [
    (onnx.defs.onnx_opset_version() + 1, "dynamo", "installed onnx"),
    (99, "torchscript", "installed onnx"),
    (13, "dynamo", "`exporter` torchscript"),
    (exporter_module.TORCHSCRIPT_OPSET_RANGE[1] + 1, "torchscript", "`exporter` dynamo"),
])
def test_unwritable_opset(tmp_path: Path, opset: int, exporter: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        export_onnx(tmp_path / "m.onnx", model="resnet20", opset=opset, exporter=exporter)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"batch": "many"}, "`batch`"), ({"batch": 0}, "`batch`"), ({"exporter": "onnx2"}, "unknown exporter"),
    ({"model": "resnet7"}, "unknown model"), ({"model": None}, "give a model"), ({"input_size": 4}, "`input_size` must be at least 8"),
])
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"model": "resnet20"} | kwargs
    with pytest.raises(InvalidInputError, match=message):
        export_onnx(tmp_path / "m.onnx", **arguments)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_resnet50_small_input_exports_and_validates(tmp_path: Path) -> None:
    from resnet_deploy.compare import validate_onnx

    path = tmp_path / "r50.onnx"
    export_onnx(path, model="resnet50", input_size=32, exporter="torchscript")
    model = _check_contract(path)
    assert sum(n.op_type == "Conv" for n in model.graph.node) == 53
    report = validate_onnx(path, random=3, batch_sizes=(1, 2))
    assert report, report.failures()
