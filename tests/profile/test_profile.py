"""profile: per-layer times on the CPU runtimes (real onnxruntime, OpenVINO and torch runs of a
small ResNet), the trace parsers on the traces those runtimes write (onnxruntime's CUDA
provider writes the same format: a stand-in trace here), two profiles side by side, and the
command's outputs and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from resnet_deploy.cli import cli
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.profile import (
    LayerTime,
    ProfileResult,
    ProfileSettings,
    compare_profiles,
    profile_model,
)
from resnet_deploy.profile.onnx_graph import OnnxGraph
from resnet_deploy.profile.onnxruntime_trace import node_precision, parse_runs
from resnet_deploy.profile.ort_profiler import layers_from_runs
from resnet_deploy.profile.report import profile_csv, render_comparison, render_profile

FAST = ProfileSettings(iterations=5, warmup=1, threads=1)


def _event(name: str, ts: float, dur: float, op: str = "", provider: str = "CPUExecutionProvider",
           types: tuple[str, ...] = ("float",), cat: str = "Node") -> dict[str, object]:
    return {"cat": cat, "name": name, "ts": ts, "dur": dur, "ph": "X",
            "args": {"op_name": op, "provider": provider, "input_type_shape": [{t: [1]} for t in types]}}


def test_onnxruntime_trace_splits_runs_and_maps_renamed_nodes(tmp_path: Path) -> None:
    """Node names as onnxruntime rewrites them: `<output>_nchwc` for a fused Conv+Relu (named
    after the Relu's output), `<node>_token_N` for a QLinearConv, and a ReorderInput it inserts."""
    from tests.tensorrt.helpers import conv_model

    graph = OnnxGraph.load(conv_model(tmp_path / "tiny.onnx"))
    cuda = "CUDAExecutionProvider"  # the stand-in: the CUDA provider's trace, as a GPU machine writes it
    events = [_event("model_run", 0, 100, cat="Session"), _event("model_run", 200, 80, cat="Session"),
              _event("session_initialization", -50, 10, cat="Session")]
    for start in (0, 200):
        events += [_event("ReorderInput_kernel_time", start + 1, 5, "ReorderInput", cuda),
                   _event("r_nchwc_kernel_time", start + 10, 40 if start == 0 else 30, "Conv", cuda),
                   _event("/fc/Gemm_token_3_kernel_time", start + 60, 8, "QGemm", cuda, ("uint8", "float")),
                   _event("/pool/GlobalAveragePool_kernel_time", start + 50, 4, "GlobalAveragePool", cuda)]
    runs = parse_runs(events)
    assert [len(run.nodes) for run in runs] == [4, 4] and runs[1].duration_us == 80
    layers = {layer.name: layer for layer in layers_from_runs(runs, graph)}
    assert layers["r_nchwc"].onnx_nodes == ("/conv1/Conv", "/relu/Relu")  # back from the Relu to its Conv
    assert layers["r_nchwc"].times_ms == (0.04, 0.03) and layers["r_nchwc"].median_ms == pytest.approx(0.035)
    assert layers["/fc/Gemm_token_3"].onnx_nodes == ("/fc/Gemm",) and layers["/fc/Gemm_token_3"].precision == "int8"
    assert layers["ReorderInput"].onnx_nodes == ()  # inserted by the runtime: no ONNX node
    assert list(layers)[:2] == ["ReorderInput", "r_nchwc"]  # execution order
    assert node_precision("Conv", ("float16",)) == "fp16" and node_precision("ConvInteger", ("uint8",)) == "int8"


def _check(result: ProfileResult, backend: str) -> None:
    assert result.backend == backend and result.iterations == FAST.iterations and result.end_to_end_ms > 0
    convs = [layer for layer in result.layers if layer.op_type in ("Conv", "Convolution", "Conv2d")]
    assert len(convs) >= 19  # resnet20: 19 convolutions, some fused with what follows
    assert all(len(layer.times_ms) == FAST.iterations for layer in result.layers)
    assert result.layer_sum_ms > 0 and result.coverage > 0
    data = json.loads(json.dumps(result.to_dict()))
    assert data["end_to_end_ms"] == result.end_to_end_ms and data["layer_sum_ms"] == pytest.approx(result.layer_sum_ms)
    assert sum(row["share"] for row in data["layers"]) == pytest.approx(1.0)
    assert {row["key"] for row in data["by_precision"]} == {"fp32"}


def test_onnxruntime_profile_maps_every_conv_to_its_onnx_node(r20_onnx: Path) -> None:
    result = profile_model(r20_onnx, backend="ort-cpu", settings=FAST)
    _check(result, "ort-cpu")
    graph = OnnxGraph.load(r20_onnx)
    convs = {name for name, op in graph.op_types.items() if op == "Conv"}
    mapped = {node for layer in result.layers for node in layer.onnx_nodes}
    assert convs <= mapped  # every Conv of the model is in some profiled layer
    assert result.runtime_ms is not None and result.model_precision == "fp32"


def test_openvino_profile_reads_exec_type_and_original_names(r20_onnx: Path) -> None:
    pytest.importorskip("openvino")
    result = profile_model(r20_onnx, backend="openvino", settings=FAST)
    _check(result, "openvino")
    convs = [layer for layer in result.layers if layer.op_type == "Convolution"]
    assert all(layer.onnx_nodes and layer.precision == "fp32" for layer in convs)
    assert result.runtime_ms is not None and result.runtime_ms <= result.end_to_end_ms
    assert any(len(layer.onnx_nodes) > 1 for layer in convs)  # a Conv that absorbed its Relu (and Add)


def test_torch_profile_times_each_module() -> None:
    result = profile_model("resnet20", settings=FAST)
    assert result.backend == "torch" and result.model_precision == "fp32"
    names = {layer.name for layer in result.layers}
    assert {"conv1", "bn1", "layer1.0.conv1", "fc"} <= names
    assert all(len(layer.times_ms) == FAST.iterations for layer in result.layers)
    assert 0 < result.layer_sum_ms < result.end_to_end_ms * 1.5


def test_a_run_precision_shows_in_each_layer() -> None:
    """--precision bf16 on torch (autocast): the convolutions report bf16, the model's precision
    is the run's; a backend that cannot compute it is refused before anything runs."""
    result = profile_model("resnet20", settings=ProfileSettings(iterations=2, warmup=1, threads=1, precision="bf16"))
    convs = [layer for layer in result.layers if layer.op_type == "Conv2d"]
    assert convs and all(layer.precision == "bf16" for layer in convs) and result.model_precision == "bf16"
    with pytest.raises(InvalidInputError, match="cannot compute bf16"):
        profile_model("model.onnx", backend="ort-cpu", settings=ProfileSettings(precision="bf16"))


def _layer(name: str, nodes: tuple[str, ...], op: str, precision: str, ms: float, order: int) -> LayerTime:
    return LayerTime(name, nodes, op, precision, (ms, ms, ms), order)


def test_two_profiles_pair_through_onnx_nodes_and_say_why() -> None:
    fp32 = ProfileResult("r.onnx", "openvino", 1, 3, 0, [
        _layer("conv_a", ("Conv_0", "Relu_0"), "Convolution", "fp32", 1.0, 0),
        _layer("conv_b", ("Conv_1",), "Convolution", "fp32", 1.0, 1),
        _layer("conv_c", ("Conv_2",), "Convolution", "fp32", 1.0, 2),
        _layer("fc", ("Gemm_0",), "FullyConnected", "fp32", 0.5, 3)], 4.0, model_precision="fp32")
    int8 = ProfileResult("r.int8.onnx", "openvino", 1, 3, 0, [
        _layer("q_in", ("input_QuantizeLinear",), "FakeQuantize", "int8", 0.2, 0),
        _layer("conv_a", ("Conv_0", "relu_QuantizeLinear"), "Convolution", "int8", 0.25, 1),
        _layer("conv_b", ("Conv_1",), "Convolution", "fp32", 1.0, 2),
        _layer("conv_c", ("Conv_2",), "Convolution", "int8", 0.95, 3),
        _layer("reorder", (), "Reorder", "int8", 0.1, 4),
        _layer("fc", ("Gemm_0",), "FullyConnected", "int8", 0.25, 5)], 3.0, model_precision="int8")
    diff = compare_profiles(fp32, int8)
    why = {pair.label: pair.why for pair in diff.pairs}
    assert why["conv_a"].startswith("faster (4.00x)")
    assert why["conv_b"].startswith("left in float (fp32)")
    assert why["conv_c"].startswith("no faster in int8")
    assert why["q_in"].startswith("conversion") and why["reorder"].startswith("conversion")
    summary = diff.summary()
    assert summary.b_conversions_ms == pytest.approx(0.3) and summary.b_left_in_float_ms == pytest.approx(1.0)
    assert summary.end_to_end_speedup == pytest.approx(4 / 3)
    text = render_comparison(diff, top=0)
    assert "left in float" in text and "0.300 ms in conversions" in text
    assert profile_csv(diff).splitlines()[0].startswith("label,onnx_nodes")
    assert "by precision" in render_profile(int8) and "layers sum to" in render_profile(int8)


def test_layer_sum_is_the_median_of_each_iterations_total() -> None:
    """Load on the machine slows different layers in different iterations: each layer's median
    drops its slow iteration, the per-iteration total does not."""
    layers = [LayerTime("a", (), "Conv", "fp32", (1.0, 9.0, 1.0), 0), LayerTime("b", (), "Conv", "fp32", (1.0, 1.0, 9.0), 1),
              LayerTime("c", (), "Conv", "fp32", (9.0, 1.0, 1.0), 2)]
    result = ProfileResult("m.onnx", "ort-cpu", 1, 3, 0, layers, 11.5)
    assert result.sum_of_medians_ms == 3.0 and result.layer_sum_ms == 11.0
    assert result.coverage == pytest.approx(11 / 11.5)
    assert result.to_dict()["layers"][0]["share"] == pytest.approx(1 / 3)


def test_settings_and_backends_without_a_profiler_are_refused(r20_onnx: Path) -> None:
    with pytest.raises(InvalidInputError, match="iterations"):
        ProfileSettings(iterations=0)
    with pytest.raises(InvalidInputError, match="one TensorRT engine"):
        profile_model(r20_onnx, backend="ort-trt")
    with pytest.raises(InvalidInputError, match=r"torch\.compile"):
        profile_model("resnet20", backend="torch-compile")
    with pytest.raises(InvalidInputError, match="runs checkpoint"):
        profile_model(r20_onnx, backend="torch")


def test_profile_command_writes_json_csv_and_a_chart(r20_onnx: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = CliRunner().invoke(cli, ["profile", str(r20_onnx), "--iterations", "3", "--warmup", "1", "--threads", "1",
                                       "--save-json", str(out / "p.json"), "--csv", str(out / "p.csv"),
                                       "--plot", str(out / "p.png"), "--top", "5"])
    assert result.exit_code == 0, result.output
    assert "the 5 slowest of" in result.output and "by op" in result.output and "end-to-end median" in result.output
    data = json.loads((out / "p.json").read_text())
    assert data["backend"] == "ort-cpu" and data["end_to_end_ms"] > 0 and len(data["layers"]) > 19
    assert len((out / "p.csv").read_text().splitlines()) == len(data["layers"]) + 1
    assert (out / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_profile_command_compares_two_runtimes_and_refuses_bad_requests(r20_onnx: Path, tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    runner = CliRunner()
    result = runner.invoke(cli, ["profile", str(r20_onnx), "--backend", "ort-cpu", "--backend2", "openvino",
                                  "--iterations", "3", "--warmup", "1", "--threads", "1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["a"]["backend"] == "ort-cpu" and data["b"]["backend"] == "openvino"
    assert any(pair["a_layers"] and pair["b_layers"] for pair in data["pairs"])
    result = runner.invoke(cli, ["profile", "resnet20", "--backend", "torch-compile"])
    assert result.exit_code == 2 and "per-module times" in result.output
    before = r20_onnx.read_bytes()
    result = runner.invoke(cli, ["profile", str(r20_onnx), "--csv", str(r20_onnx)])
    assert result.exit_code == 2 and r20_onnx.read_bytes() == before  # never written over an input
    result = runner.invoke(cli, ["profile", str(r20_onnx), str(r20_onnx)])
    assert result.exit_code == 2 and "again" in result.output


@pytest.mark.gpu
def test_ort_cuda_profile_and_per_layer_on_a_gpu(r20_onnx: Path) -> None:
    """On a GPU machine (scripts/gpu_check.sh runs `pytest -m gpu`): the CUDA provider's trace
    parses into the same layers, and ort-cuda compares with ort-cpu layer by layer."""
    from resnet_deploy.backends.registry import unavailable_reason
    from resnet_deploy.compare import validate

    reason = unavailable_reason("ort-cuda")
    if reason is not None:
        pytest.skip(reason)
    result = profile_model(r20_onnx, backend="ort-cuda", settings=ProfileSettings(iterations=5, warmup=2))
    assert result.layers and result.end_to_end_ms > 0
    assert any("CUDA" in note for note in result.notes)
    report = validate(r20_onnx, backend="ort-cuda", reference=r20_onnx, reference_backend="ort-cpu", random=2,
                      batch_sizes=(2,), per_layer=True)
    assert report.per_layer is not None and report.per_layer.layers
