"""validate_onnx against PyTorch: passes on a faithful export at several batch sizes, fails
(and names the first divergent layer) on a tampered one, and refuses bad references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from resnet_deploy.compare import Tolerance
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.export import load_onnx_model, save_onnx_model, validate_onnx


def test_untrained_export_validates_at_two_batch_sizes(r18_dynamo: Path) -> None:
    report = validate_onnx(r18_dynamo, random=6, batch_sizes=(1, 4))
    assert report, report.failures()
    assert [b.batch_size for b in report.batches] == [1, 4]
    assert [b.samples for b in report.batches] == [6, 6]  # the last batch of 4 is partial: dynamic really works
    logits = report.batches[1].outputs["logits"]
    assert logits.max_abs <= 1e-4 and logits.cosine > 0.99999 and logits.top1_agreement == 1.0
    data = report.to_dict()
    assert data["passed"] and data["reference"]["kind"] == "untrained" and data["precision"] == "fp32"
    assert data["inputs"]["providers"] == ["CPUExecutionProvider"]


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
    assert not clean.per_layer.unmatched_onnx and not clean.per_layer.unmatched_torch
    assert clean.per_layer.layers[0].torch_module == "conv1+bn1"

    tampered = tmp_path / "tampered.onnx"
    conv_name = _tamper(r18_dynamo, tampered, conv_index=7, scale=1.02)
    report = validate_onnx(tampered, random=2, batch_sizes=(2,), per_layer=True)
    assert not report and report.per_layer is not None
    first = report.per_layer.first_divergent
    assert first is not None and first.onnx_node == conv_name and first.torch_module == "layer2.0.conv2+bn2"
    assert all(layer.comparison for layer in report.per_layer.layers[:first.order])
    assert any("first divergent layer" in line for line in report.failures())


def test_tolerance_decides(r18_dynamo: Path) -> None:
    strict = Tolerance(atol=0.0, rtol=0.0, min_cosine=1.0, min_top1_agreement=1.0)
    report = validate_onnx(r18_dynamo, random=2, batch_sizes=(2,), tolerance=strict)
    assert not report and report.failures()


def test_fixed_batch_model_is_validated_at_its_batch(tmp_path: Path) -> None:
    from resnet_deploy.export import export_onnx

    path = tmp_path / "fixed.onnx"
    export_onnx(path, model="resnet20", batch=3, exporter="torchscript")
    report = validate_onnx(path, random=7, batch_sizes=(1, 8))
    assert report and [b.batch_size for b in report.batches] == [3] and report.batches[0].samples == 6
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
    with pytest.raises(InvalidInputError, match="--checkpoint"):
        validate_onnx(foreign, random=2)


def test_backbone_export_validates_every_stage(tmp_path: Path) -> None:
    from resnet_deploy.export import export_onnx

    path = tmp_path / "backbone.onnx"
    export_onnx(path, model="resnet20", features=True, exporter="torchscript")
    report = validate_onnx(path, random=3, batch_sizes=(1, 2))
    assert report, report.failures()
    assert sorted(report.batches[0].outputs) == ["c0", "c1", "c2"]


def test_fp16_model_pairs_layers_through_casts(r18_dynamo: Path, tmp_path: Path) -> None:
    fp16 = pytest.importorskip("resnet_deploy.precision.fp16", reason="FP16 conversion not present")
    path = tmp_path / "r18.fp16.onnx"
    fp16.convert_fp16(r18_dynamo, path)
    report = validate_onnx(path, random=2, batch_sizes=(2,), per_layer=True)
    assert report.precision == "fp16" and report.tolerance == Tolerance.for_precision("fp16")
    assert report, report.failures()
    assert report.per_layer is not None and len(report.per_layer.layers) == 21
    assert all(layer.weight_distance < 1e-2 for layer in report.per_layer.layers)
