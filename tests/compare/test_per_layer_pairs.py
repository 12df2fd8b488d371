"""validate --per-layer between any two runtimes (onnxruntime and OpenVINO really run here;
TensorRT's debug build through a stand-in runner), and saved outputs as a reference on
another machine, refused for another model by its recorded identity."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import numpy_helper

from resnet_deploy.cli import cli
from resnet_deploy.compare import Tolerance, validate
from resnet_deploy.compare.targets import describe_target
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.export import load_onnx_model, save_onnx_model


def _compute_nodes(path: Path) -> list[str]:
    return [n.name for n in load_onnx_model(path).graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]


def _tampered(source: Path, target: Path, index: int) -> str:
    model = load_onnx_model(source)
    node = [n for n in model.graph.node if n.op_type == "Conv"][index]
    weight = next(t for t in model.graph.initializer if t.name == node.input[1])
    weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * np.float32(1.05), weight.name))
    save_onnx_model(model, target)
    return node.name


def test_openvino_against_onnxruntime_layer_by_layer(r20_onnx: Path, tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    report = validate(r20_onnx, backend="openvino", reference=r20_onnx, reference_backend="ort-cpu", random=2,
                      batch_sizes=(2,), per_layer=True)
    assert report, report.failures()
    layers = report.per_layer
    assert layers is not None and len(layers.layers) == len(_compute_nodes(r20_onnx))
    assert all(layer.weight_distance is None for layer in layers.layers)  # paired by node name
    assert "openvino" in layers.candidate and "ort-cpu" in layers.reference

    tampered = tmp_path / "tampered.onnx"
    name = _tampered(r20_onnx, tampered, index=5)
    report = validate(tampered, backend="openvino", reference=r20_onnx, reference_backend="ort-cpu", random=2,
                      batch_sizes=(2,), per_layer=True,
                      tolerance=Tolerance(max_error=1e-3, min_cosine=0.99999, min_top1=0.0))
    first = report.per_layer.first_divergent if report.per_layer is not None else None
    assert first is not None and first.candidate_layer == name and first.reference_layer == name


def test_int8_model_pairs_with_its_fp32_source_by_node_name(r20_onnx: Path, tmp_path: Path) -> None:
    from resnet_deploy.precision import quantize_int8

    int8 = quantize_int8(r20_onnx, tmp_path / "r20.int8.onnx", calib="random", samples=16, target="cpu").output
    report = validate(int8, reference=r20_onnx, reference_backend="ort-cpu", random=2, batch_sizes=(2,),
                      per_layer=True)
    layers = report.per_layer
    assert layers is not None and {layer.reference_layer for layer in layers.layers} == set(_compute_nodes(r20_onnx))
    assert report.tolerance == Tolerance.for_precision("int8")


def test_tensorrt_side_is_a_debug_build_with_the_layer_outputs_marked(r20_onnx: Path, tmp_path: Path) -> None:
    """The stand-in for the debug engine runs the marked model with onnxruntime: the control
    flow (source model found from the plan, outputs marked, pairing, the note) is what is tested."""
    from resnet_deploy.compare.per_layer import runner_tap
    from resnet_deploy.compare.validate import _per_layer
    from tests.tensorrt.helpers import fake_plan

    shutil.copy(r20_onnx, tmp_path / "r20.onnx")
    shape = [3, 32, 32]
    plan = fake_plan(tmp_path, "r20.plan", precision="fp32", source_onnx={"path": "r20.onnx", "sha256": "cd" * 32},
                     profile={"input": {"min": [1, *shape], "opt": [2, *shape], "max": [4, *shape]}})
    built: list[set[str]] = []

    def debug_engine(model: Path, x: np.ndarray) -> dict[str, np.ndarray]:
        built.append({o.name for o in onnx.load(str(model)).graph.output})
        return runner_tap("ort-cpu")(model, x)

    target, ref = describe_target(plan), describe_target(r20_onnx)
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    report = _per_layer(target, ref, x, Tolerance.for_precision("fp32"), None, {"tensorrt": debug_engine})
    compute_outputs = {n.output[0] for n in load_onnx_model(r20_onnx).graph.node if n.op_type in ("Conv", "Gemm")}
    assert len(built) == 1 and compute_outputs <= built[0]  # every Conv/Gemm output marked as an output
    assert report and len(report.layers) == len(_compute_nodes(r20_onnx))
    assert any("stops TensorRT fusing" in note for note in report.notes)
    with pytest.raises(InvalidInputError, match="layer_taps"):
        _per_layer(target, ref, x, Tolerance.for_precision("fp32"), None, {})


def test_saved_outputs_are_a_reference_for_the_same_model_only(r20_onnx: Path, r18_dynamo: Path,
                                                               tmp_path: Path) -> None:
    saved = tmp_path / "r20.cpu.npz"
    report = validate(r20_onnx, random=4, batch_sizes=(2,), save_outputs=saved)
    assert report and saved.is_file()
    with np.load(saved) as data:
        assert data["x"].shape == (4, 3, 32, 32) and data["output:logits"].shape == (4, 10)
    # Checked elsewhere: another runtime (a GPU machine would name ort-cuda or a plan built from it).
    backend = "openvino" if _has("openvino") else "ort-cpu"
    again = validate(r20_onnx, backend=backend, reference=saved, batch_sizes=(1, 3))
    assert again, again.failures()
    assert again.reference["kind"] == "saved outputs" and again.inputs["samples"] == 4
    with pytest.raises(InvalidInputError, match="neither that model nor made from it"):
        validate(r18_dynamo, reference=saved)
    with pytest.raises(InvalidInputError, match="own inputs"):
        validate(r20_onnx, reference=saved, random=2)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_saved_outputs_on_the_command_line(r20_onnx: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    saved = tmp_path / "ref.npz"
    result = runner.invoke(cli, ["validate", str(r20_onnx), "--random", "4", "--batch-sizes", "2",
                                 "--save-outputs", str(saved)])
    assert result.exit_code == 0 and saved.is_file(), result.output
    tampered = tmp_path / "r20_tampered.onnx"
    _tampered(r20_onnx, tampered, index=0)  # the same model's identity (its metadata), other weights
    result = runner.invoke(cli, ["validate", str(tampered), "--reference", str(saved)])
    assert result.exit_code == 1 and "FAIL" in result.output
    result = runner.invoke(cli, ["validate", str(r20_onnx), "--reference", str(saved), "--per-layer"])
    assert result.exit_code == 2
    before = r20_onnx.read_bytes()
    result = runner.invoke(cli, ["validate", str(r20_onnx), "--random", "2", "--save-outputs", str(r20_onnx)])
    assert result.exit_code == 2 and r20_onnx.read_bytes() == before


def test_a_runtime_whose_outputs_change_when_layers_are_exposed_is_not_judged(r20_onnx: Path) -> None:
    """A runtime may compute differently once intermediate tensors are outputs (OpenVINO does
    on INT8 Q/DQ models): the model's own outputs are checked against a plain run, and such a
    side names no layer instead of blaming one."""
    from resnet_deploy.compare.per_layer import compare_sides, onnx_side, runner_tap

    model = load_onnx_model(r20_onnx)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    plain = runner_tap("ort-cpu")

    def changes_when_exposed(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
        outputs = plain(path, x)
        if len(outputs) > 1:  # the layers are exposed: this runtime computes otherwise
            outputs = {name: value * np.float32(1.5) for name, value in outputs.items()}
        return outputs

    reference = onnx_side(model, x, plain, "ort-cpu")
    assert reference.disturbed is None
    report = compare_sides(reference, onnx_side(model, x, changes_when_exposed, "stand-in"))
    assert report.disturbed and "logits" in report.disturbed[0]
    assert report.first_divergent is None and report  # no layer blamed, and per-layer does not fail the run


def test_int8_on_openvino_never_blames_a_layer_when_the_model_agrees(r20_onnx: Path, tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    from resnet_deploy.precision import quantize_int8

    int8 = quantize_int8(r20_onnx, tmp_path / "r20.int8.onnx", calib="random", samples=16, target="cpu").output
    report = validate(int8, backend="openvino", reference=int8, reference_backend="ort-cpu", random=2,
                      batch_sizes=(2,), per_layer=True)
    assert report.per_layer is not None
    # The same INT8 model on two runtimes: either every layer agrees, or OpenVINO changed its
    # results when the layers were exposed and the report says so instead of naming a layer.
    assert report.per_layer.first_divergent is None or not all(report.comparisons), report.failures()
