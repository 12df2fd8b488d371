"""validate: a faithful export passes at several batch sizes on any runtime, a tampered or
damaged one fails (and per-layer names the first divergent layer), and bad requests are
refused in one line."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from resnet_deploy.compare import Tolerance, validate, validate_onnx
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.export import export_onnx, load_onnx_model, save_onnx_model


def test_untrained_export_validates_at_two_batch_sizes(r18_dynamo: Path) -> None:
    report = validate_onnx(r18_dynamo, random=6, batch_sizes=(1, 4))
    assert report, report.failures()
    assert [p.batch_size for p in report.comparisons] == [1, 4]
    assert report.inputs["samples"] == 6  # the last batch of 4 is partial: the dynamic axis really works
    logits = report.comparisons[1].outputs["logits"]
    assert logits.max_error <= 1e-4 and logits.cosine > 0.99999 and logits.top1_agreement == 1.0
    data = report.to_dict()
    assert data["passed"] and data["precision"] == "fp32"
    assert data["reference"]["source"] == "resnet18" and data["reference"]["backend"] == "torch"
    assert data["model"]["backend"] == "ort-cpu"
    assert any("seeded untrained resnet18" in note for note in report.notes)


def _tamper(source: Path, target: Path, conv_index: int, scale: float) -> str:
    """Copy the model with one Conv's weights scaled; returns that Conv's name."""
    model = load_onnx_model(source)
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    node = convs[conv_index]
    inits = {t.name: t for t in model.graph.initializer}
    weight = inits[node.input[1]]
    weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * np.float32(scale), weight.name))
    save_onnx_model(model, target)
    return node.name


def test_per_layer_finds_the_first_divergent_layer(r18_dynamo: Path, tmp_path: Path) -> None:
    clean = validate_onnx(r18_dynamo, random=2, batch_sizes=(2,), per_layer=True)
    assert clean and clean.per_layer is not None and clean.per_layer.first_divergent is None
    assert len(clean.per_layer.layers) == 21  # 20 convs (BN folded) + fc
    assert not clean.per_layer.unmatched_candidate and not clean.per_layer.unmatched_reference
    assert clean.per_layer.layers[0].reference_layer == "conv1+bn1"

    tampered = tmp_path / "tampered.onnx"
    conv_name = _tamper(r18_dynamo, tampered, conv_index=7, scale=1.02)
    report = validate_onnx(tampered, random=2, batch_sizes=(2,), per_layer=True)
    assert not report and report.per_layer is not None
    first = report.per_layer.first_divergent
    assert first is not None and first.candidate_layer == conv_name and first.reference_layer == "layer2.0.conv2+bn2"
    assert all(layer.comparison for layer in report.per_layer.layers[:first.order])
    assert any("first divergent layer" in line for line in report.failures())


def test_tolerance_decides(r18_dynamo: Path) -> None:
    strict = Tolerance(max_error=0.0, min_cosine=1.0, min_top1=1.0)
    report = validate_onnx(r18_dynamo, random=2, batch_sizes=(2,), tolerance=strict)
    assert not report and report.failures()


@pytest.mark.parametrize("field", ["max_error", "min_cosine", "min_top1"])
@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_no_tolerance_is_infinite(field: str, value: float) -> None:
    limits = {"max_error": 1e-3, "min_cosine": 0.999, "min_top1": 0.99, field: value}
    with pytest.raises(InvalidInputError, match=field):
        Tolerance(**limits)


def test_fixed_batch_model_is_validated_at_its_batch(tmp_path: Path) -> None:
    path = tmp_path / "fixed.onnx"
    export_onnx(path, model="resnet20", batch=3, exporter="torchscript")
    report = validate_onnx(path, random=7, batch_sizes=(1, 8))
    assert report and [p.batch_size for p in report.comparisons] == [3]
    assert any("fixed batch" in note for note in report.notes)


def test_bad_requests(r18_dynamo: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="either"):
        validate_onnx(r18_dynamo, random=2, dataset="digits")
    with pytest.raises(InvalidInputError, match="positive"):
        validate_onnx(r18_dynamo, random=2, batch_sizes=(0,))
    foreign = tmp_path / "foreign.onnx"
    model = load_onnx_model(r18_dynamo)
    del model.metadata_props[:]
    onnx.save(model, foreign)
    with pytest.raises(InvalidInputError, match="`reference`"):
        validate_onnx(foreign, random=2)
    with pytest.raises(InvalidInputError, match="same artifact"):
        validate(r18_dynamo, reference=r18_dynamo, random=2)
    with pytest.raises(InvalidInputError, match="does not run"):
        validate(r18_dynamo, backend="torch", random=2)


def test_backbone_export_validates_every_stage(tmp_path: Path) -> None:
    path = tmp_path / "backbone.onnx"
    export_onnx(path, model="resnet20", features=True, exporter="torchscript")
    report = validate_onnx(path, random=3, batch_sizes=(1, 2))
    assert report, report.failures()
    assert sorted(report.comparisons[0].outputs) == ["c0", "c1", "c2"]


def test_fp16_model_pairs_layers_through_casts(r18_dynamo: Path, tmp_path: Path) -> None:
    from resnet_deploy.precision import convert_fp16

    path = tmp_path / "r18.fp16.onnx"
    convert_fp16(r18_dynamo, path)
    report = validate_onnx(path, random=2, batch_sizes=(2,), per_layer=True)
    assert report.precision == "fp16" and report.tolerance == Tolerance.for_precision("fp16")
    assert report, report.failures()
    assert report.per_layer is not None and len(report.per_layer.layers) == 21
    assert all(layer.weight_distance is not None and layer.weight_distance < 1e-2 for layer in report.per_layer.layers)


def test_trained_export_against_its_recorded_checkpoint_from_another_folder(digits_onnx: Path, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The checkpoint is recorded relative to the model's folder: found from any working folder."""
    monkeypatch.chdir(tmp_path)
    report = validate(os.path.relpath(digits_onnx), dataset="digits", limit=64, batch_sizes=(1, 16))
    assert report, report.failures()
    assert report.reference.kind == "checkpoint" and report.inputs["kind"] == "dataset"
    for pair in report.comparisons:
        assert pair.outputs["logits"].top1_agreement == 1.0 and pair.accuracy == report.reference_accuracy


def test_a_reference_of_another_architecture_is_refused(r18_dynamo: Path, digits_checkpoint: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"resnet18 but the reference .* resnet20"):
        validate(r18_dynamo, reference=digits_checkpoint, random=2)


@pytest.mark.parametrize("backend", ["ort-cpu", "openvino"])
def test_any_runtime_against_any_other(backend: str, digits_onnx: Path, digits_fp16: Path, digits_int8: Path) -> None:
    pytest.importorskip("openvino")
    assert validate(digits_onnx, backend=backend, dataset="digits", limit=96)  # vs the PyTorch checkpoint
    for candidate in (digits_fp16, digits_int8):
        report = validate(candidate, backend=backend, reference=digits_onnx, dataset="digits", limit=96)
        assert report, report.failures()
        assert report.reference.backend == "ort-cpu"


def test_the_tensorrt_layout_on_onnxruntime(digits_onnx: Path, digits_int8_trt: Path) -> None:
    """onnxruntime runs most of TensorRT's Q/DQ layout in float: the graph's own arithmetic."""
    report = validate(digits_int8_trt, reference=digits_onnx, dataset="digits", limit=96)
    assert report, report.failures()


@pytest.mark.parametrize("damaged", ["damaged_fp16", "damaged_int8"])
def test_a_damaged_model_fails(damaged: str, digits_onnx: Path, request: pytest.FixtureRequest) -> None:
    model = request.getfixturevalue(damaged)
    report = validate(model, reference=digits_onnx, dataset="digits", limit=96)
    assert not report and report.failures()


def test_same_file_name_in_another_folder_is_another_model(r18_dynamo: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / r18_dynamo.name
    shutil.copy(r18_dynamo, copy)
    report = validate(copy, reference=r18_dynamo, random=2, batch_sizes=(2,))
    assert report, report.failures()
