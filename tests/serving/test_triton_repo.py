"""`triton-repo`: every generated config.pbtxt parses into Triton's own ModelConfig and says
what the artifact says (ONNX models for real, plans through stand-in plan metadata); bad
requests are one line and exit 2, and model folders appear whole or not at all."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from resnet_deploy.cli import cli
from resnet_deploy.errors import ArtifactError
from resnet_deploy.sidecar import sha256_file
from tests.tensorrt.helpers import conv_model, fake_plan

pytest.importorskip("tritonclient.grpc", reason="tritonclient is not installed (pip install 'resnet-deploy[serve]')")
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

ONNX_TYPES = {onnx.TensorProto.FLOAT: "TYPE_FP32", onnx.TensorProto.FLOAT16: "TYPE_FP16"}


def parse(folder: Path) -> Any:
    """config.pbtxt parsed by protobuf into Triton's ModelConfig, independently of our checker."""
    return text_format.Parse((folder / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["triton-repo", *args])


def refused(result: Any, text: str) -> None:
    assert result.exit_code == 2, result.output
    assert text in result.output, result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def kind_name(group: Any) -> str:
    return str(model_config_pb2.ModelInstanceGroup.Kind.Name(group.kind))


def plan_with(folder: Path, name: str = "r50_fp16.plan", **overrides: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return fake_plan(folder, name, **overrides)


def test_onnx_repo_matches_the_model_graph_and_metadata(tmp_path: Path, r20_onnx: Path) -> None:
    result = run(str(r20_onnx), "-o", str(tmp_path / "repo"))
    assert result.exit_code == 0, result.output
    folder = tmp_path / "repo" / "r20"
    config = parse(folder)
    graph = onnx.load(str(r20_onnx)).graph
    assert config.name == "r20" and config.platform == "onnxruntime_onnx"
    assert config.max_batch_size == 32  # dynamic batch: the default cap
    (inp,), (out,) = config.input, config.output
    assert inp.name == graph.input[0].name and out.name == graph.output[0].name
    assert list(inp.dims) == [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim[1:]] == [3, 32, 32]
    assert list(out.dims) == [10]
    assert model_config_pb2.DataType.Name(inp.data_type) == ONNX_TYPES[graph.input[0].type.tensor_type.elem_type]
    assert config.HasField("dynamic_batching")
    assert [(g.count, kind_name(g)) for g in config.instance_group] == [(1, "KIND_CPU")]
    assert out.label_filename == "labels.txt"
    meta = {p.key: p.value for p in onnx.load(str(r20_onnx)).metadata_props}
    assert (folder / "labels.txt").read_text().splitlines() == json.loads(meta["class_names"])
    assert (folder / "1" / "model.onnx").read_bytes() == r20_onnx.read_bytes()
    assert json.loads((folder / "1" / "model.onnx.json").read_text())["sha256"] == sha256_file(r20_onnx)
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == ["r20"]  # no temporary folder left

    from resnet_deploy.serving.triton_repo import check_model_folder

    assert check_model_folder(folder) == []


def test_plan_repo_from_standin_plan_metadata(tmp_path: Path) -> None:
    classes = [f"class_{i}" for i in range(1000)]
    plan = plan_with(tmp_path / "plans", input_spec={"channels": 3, "height": 224, "width": 224,
                                                       "class_names": classes})
    result = run(str(plan), "-o", str(tmp_path / "repo"), "--instances", "2")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "repo" / "r50_fp16"
    config = parse(folder)
    assert config.platform == "tensorrt_plan" and config.max_batch_size == 256  # the profile's max
    assert [(i.name, list(i.dims), model_config_pb2.DataType.Name(i.data_type)) for i in config.input] == \
        [("input", [3, 224, 224], "TYPE_FP32")]
    assert [(o.name, list(o.dims), o.label_filename) for o in config.output] == [("logits", [1000], "labels.txt")]
    assert [(g.count, kind_name(g)) for g in config.instance_group] == [(2, "KIND_GPU")]
    assert (folder / "labels.txt").read_text().splitlines() == classes
    assert (folder / "1" / "model.plan").read_bytes() == plan.read_bytes()
    assert (folder / "1" / "model.plan.json").is_file()


def test_max_batch_below_the_profile_is_kept_and_above_it_refused(tmp_path: Path) -> None:
    plan = plan_with(tmp_path)
    assert run(str(plan), "-o", str(tmp_path / "ok"), "--max-batch", "64").exit_code == 0
    assert parse(tmp_path / "ok" / "r50_fp16").max_batch_size == 64
    refused(run(str(plan), "-o", str(tmp_path / "repo"), "--max-batch", "300"), "above the 256")
    assert not (tmp_path / "repo").exists()  # refused before anything was written


@pytest.mark.parametrize("overrides, text", [
    ({"input_spec": {"channels": 3, "height": 224, "width": 224, "class_names": ["a", "b", "c", "d", "e"]}},
     "names 5 classes but its output 'logits' has 1000"),
    ({"input_spec": {"channels": 3, "height": 224, "width": 224, "class_names": ["a", "b"]},
      "io_tensors": [{"name": "input", "mode": "input", "dtype": "float32", "shape": [-1, 3, 224, 224]},
                     {"name": "logits", "mode": "output", "dtype": "float32", "shape": [-1, -1]}]},
     "unknown class count"),
    ({"profile": {"input": {"min": [4, 3, 224, 224], "opt": [8, 3, 224, 224], "max": [16, 3, 224, 224]}}},
     "starts at batch 4"),
])
def test_inconsistent_plans_are_refused(tmp_path: Path, overrides: dict[str, Any], text: str) -> None:
    plan = plan_with(tmp_path, **overrides)
    refused(run(str(plan), "-o", str(tmp_path / "repo")), text)


def test_fixed_batch_onnx_has_no_batching(tmp_path: Path) -> None:
    model = conv_model(tmp_path / "fixed.onnx", batch=1, classes=5)
    assert run(str(model), "-o", str(tmp_path / "repo")).exit_code == 0
    config = parse(tmp_path / "repo" / "fixed")
    assert config.max_batch_size == 0 and not config.HasField("dynamic_batching")
    assert list(config.input[0].dims) == [1, 3, 8, 8] and list(config.output[0].dims) == [1, 5]
    assert not config.output[0].label_filename  # no class names in this model's metadata
    refused(run(str(model), "-o", str(tmp_path / "other"), "--max-batch", "4"), "fixed batch of 1")


def test_trt_ep_and_openvino_backends(tmp_path: Path) -> None:
    model = conv_model(tmp_path / "m.onnx")
    assert run(str(model), "-o", str(tmp_path / "gpu"), "--trt-ep").exit_code == 0
    config = parse(tmp_path / "gpu" / "m")
    (accelerator,) = config.optimization.execution_accelerators.gpu_execution_accelerator
    assert accelerator.name == "tensorrt" and accelerator.parameters["precision_mode"] == "FP32"
    assert kind_name(config.instance_group[0]) == "KIND_GPU"
    fp16 = conv_model(tmp_path / "h.onnx", fp16=True)
    assert run(str(fp16), "-o", str(tmp_path / "gpu"), "--trt-ep").exit_code == 0
    assert parse(tmp_path / "gpu" / "h").optimization.execution_accelerators.gpu_execution_accelerator[0] \
        .parameters["precision_mode"] == "FP16"
    refused(run(str(model), "-o", str(tmp_path / "x"), "--trt-ep", "--kind", "cpu"), "GPU instances")

    assert run(str(model), "-o", str(tmp_path / "ov"), "--triton-backend", "openvino", "--instances", "2").exit_code == 0
    config = parse(tmp_path / "ov" / "m")
    assert config.backend == "openvino" and config.default_model_filename == "model.onnx"
    assert config.parameters["NUM_STREAMS"].string_value == "2"
    assert kind_name(config.instance_group[0]) == "KIND_CPU" and (tmp_path / "ov" / "m" / "1" / "model.onnx").is_file()
    refused(run(str(model), "-o", str(tmp_path / "y"), "--triton-backend", "openvino", "--kind", "gpu"), "CPU instances only")


def _bench_file(path: Path, artifact: Path, rows: list[tuple[int, float | None]]) -> Path:
    def latency(p99: float | None) -> dict[str, float]:
        median = (p99 or 1.0) * 0.8
        return {"samples": 30, "min": median, "mean": median, "median": median, "max": p99 or median, "std": 0.0,
                **({"p99": p99} if p99 else {})}

    results = [{"batch": b, "latency_ms": latency(p99), "throughput_ips": b / (p99 or 1.0) * 1000} for b, p99 in rows]
    data = {"kind": "bench", "backends": [{"label": "ort-cpu", "backend": "ort-cpu",
                                           "artifact": {"path": str(artifact), "sha256": sha256_file(artifact)},
                                           "results": results}]}
    path.write_text(json.dumps(data))
    return path


def test_bench_result_chooses_preferred_batch_and_queue_delay(tmp_path: Path) -> None:
    model = conv_model(tmp_path / "m.onnx")
    bench = _bench_file(tmp_path / "bench.json", model, [(1, 2.0), (2, 3.0), (4, 5.5), (8, 9.0), (16, 17.0)])
    result = run(str(model), "-o", str(tmp_path / "repo"), "--bench", str(bench), "--latency-budget-ms", "6")
    assert result.exit_code == 0, result.output
    batching = parse(tmp_path / "repo" / "m").dynamic_batching
    assert list(batching.preferred_batch_size) == [4]  # largest batch whose p99 (5.5 ms) fits 6 ms
    assert batching.max_queue_delay_microseconds == 500  # what the budget leaves: 6 - 5.5 ms
    result = run(str(model), "-o", str(tmp_path / "capped"), "--bench", str(bench), "--latency-budget-ms", "100",
                 "--max-batch", "8")
    assert list(parse(tmp_path / "capped" / "m").dynamic_batching.preferred_batch_size) == [8]
    refused(run(str(model), "-o", str(tmp_path / "r1"), "--bench", str(bench), "--latency-budget-ms", "1"),
            "no measured batch size has a p99 within 1 ms")
    refused(run(str(model), "-o", str(tmp_path / "r2"), "--bench", str(bench)), "go together")
    no_p99 = _bench_file(tmp_path / "no_p99.json", model, [(1, None)])
    refused(run(str(model), "-o", str(tmp_path / "r3"), "--bench", str(no_p99), "--latency-budget-ms", "5"), "no p99")
    (tmp_path / "broken.json").write_text('{"kind": "bench", "backends": [{"label": 3}]}')
    refused(run(str(model), "-o", str(tmp_path / "r4"), "--bench", str(tmp_path / "broken.json"),
                "--latency-budget-ms", "5"), "is not valid")


def test_a_real_bench_result_drives_the_batching(tmp_path: Path) -> None:
    from resnet_deploy.bench import BackendSpec, BenchConfig, run_benchmark
    from resnet_deploy.bench.config import Warmup
    from resnet_deploy.bench.report import save

    model = conv_model(tmp_path / "m.onnx")
    report = run_benchmark(BenchConfig(backends=[BackendSpec("ort-cpu", artifact=model)], batch_sizes=[1, 2],
                                       iterations=20, duration_s=None, warmup=Warmup(iterations=2), threads=1))
    save(report.to_dict(), json_path=tmp_path / "bench.json")
    result = run(str(model), "-o", str(tmp_path / "repo"), "--bench", str(tmp_path / "bench.json"),
                 "--latency-budget-ms", "1000")
    assert result.exit_code == 0, result.output
    p99 = report.backends[0].results[1].latency_ms.get("p99")
    assert p99 is not None
    batching = parse(tmp_path / "repo" / "m").dynamic_batching
    assert list(batching.preferred_batch_size) == [2]
    assert batching.max_queue_delay_microseconds == int((1000 - p99) * 1000)


def test_output_folder_problems_are_refused(tmp_path: Path) -> None:
    model = conv_model(tmp_path / "m.onnx")
    (tmp_path / "file").write_text("x")
    refused(run(str(model), "-o", str(tmp_path / "file")), "is not a folder")
    refused(run(str(model), "-o", str(tmp_path / "missing" / "repo")), "does not exist")
    refused(run(str(model), "-o", str(model)), "is not a folder")
    refused(run(str(model), str(model), "-o", str(tmp_path / "repo")), "would both be model 'm'")
    refused(run(str(model), "-o", str(tmp_path / "repo"), "--name", "bad/name"), "--name")
    assert run(str(model), "-o", str(tmp_path / "repo")).exit_code == 0
    refused(run(str(model), "-o", str(tmp_path / "repo")), "--replace")


def test_replace_swaps_the_folder_and_never_overwrites_an_input(tmp_path: Path) -> None:
    model = conv_model(tmp_path / "m.onnx")
    repo = tmp_path / "repo"
    assert run(str(model), "-o", str(repo), "--max-batch", "4").exit_code == 0
    assert run(str(model), "-o", str(repo), "--max-batch", "8", "--replace").exit_code == 0
    assert parse(repo / "m").max_batch_size == 8
    assert sorted(p.name for p in repo.iterdir()) == ["m"]
    inside = repo / "m" / "1" / "model.onnx"
    before = inside.read_bytes()
    refused(run(str(inside), "-o", str(repo), "--name", "m", "--replace"), "lies inside model folder")
    assert inside.read_bytes() == before


def test_a_failed_check_leaves_no_model_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from resnet_deploy.serving import triton_repo
    from resnet_deploy.serving.triton_repo import RepoOptions, build_triton_repo

    model = conv_model(tmp_path / "m.onnx")
    monkeypatch.setattr(triton_repo, "check_model_config", lambda *a, **k: ["dims differ"])
    with pytest.raises(ArtifactError, match="does not match it: dims differ"):
        build_triton_repo([model], tmp_path / "repo", RepoOptions())
    assert list((tmp_path / "repo").iterdir()) == []  # neither the model folder nor its temporary folder


def test_checker_finds_a_hand_edited_mismatch(tmp_path: Path) -> None:
    from resnet_deploy.serving.triton_repo import check_model_folder

    model = conv_model(tmp_path / "m.onnx")
    assert run(str(model), "-o", str(tmp_path / "repo")).exit_code == 0
    path = tmp_path / "repo" / "m" / "config.pbtxt"
    path.write_text(path.read_text().replace("dims: [3, 8, 8]", "dims: [3, 8, 9]").replace("TYPE_FP32", "TYPE_FP16", 1))
    problems = check_model_folder(tmp_path / "repo" / "m")
    assert any("dims [3, 8, 9]" in p for p in problems) and any("TYPE_FP16" in p for p in problems)


def test_json_output_lists_the_models(tmp_path: Path) -> None:
    model = conv_model(tmp_path / "m.onnx")
    plan = plan_with(tmp_path / "plans")
    result = run(str(model), str(plan), "-o", str(tmp_path / "repo"), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {(m["name"], m["backend"], m["max_batch_size"]) for m in data["models"]} == \
        {("m", "onnxruntime", 32), ("r50_fp16", "tensorrt", 256)}


def test_plan_sidecar_that_does_not_match_the_plan_is_refused(tmp_path: Path) -> None:
    plan = plan_with(tmp_path)
    plan.write_bytes(b"another engine" + np.arange(10, dtype=np.uint8).tobytes())  # the sidecar is for the old one
    refused(run(str(plan), "-o", str(tmp_path / "repo")), "does not match the sha256")


def test_without_tritonclient_it_is_a_missing_dependency(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = conv_model(tmp_path / "m.onnx")
    monkeypatch.setitem(sys.modules, "tritonclient.grpc", None)  # import fails as if not installed
    result = run(str(model), "-o", str(tmp_path / "repo"))
    assert result.exit_code == 3, result.output
    assert "tritonclient" in result.output and "install it" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "repo").exists()


def test_external_weights_travel_with_the_model(tmp_path: Path) -> None:
    import onnxruntime as ort

    source = conv_model(tmp_path / "tmp.onnx")
    model = onnx.load(str(source))
    (tmp_path / "big").mkdir()
    onnx.save_model(model, str(tmp_path / "big" / "m.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="m.onnx.data", size_threshold=0)
    assert run(str(tmp_path / "big" / "m.onnx"), "-o", str(tmp_path / "repo")).exit_code == 0
    version = tmp_path / "repo" / "m" / "1"
    assert sorted(p.name for p in version.iterdir()) == ["m.onnx.data", "model.onnx"]
    session = ort.InferenceSession(str(version / "model.onnx"), providers=["CPUExecutionProvider"])
    x = np.ones((2, 3, 8, 8), np.float32)
    reference = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(session.run(None, {"input": x})[0], reference.run(None, {"input": x})[0])


def test_the_old_backend_flag_still_works_with_one_deprecation_line(tmp_path: Path) -> None:
    """`--backend` meant a Triton backend here and one of ours everywhere else: it is now
    `--triton-backend`; the old spelling is hidden, works, and says so once."""
    model = conv_model(tmp_path / "m.onnx")
    result = run(str(model), "-o", str(tmp_path / "ov"), "--backend", "openvino")
    assert result.exit_code == 0, result.output
    assert parse(tmp_path / "ov" / "m").backend == "openvino"
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        "warning: triton-repo --backend is deprecated; use --triton-backend (a Triton backend, not one of "
        "resnet-deploy's)"]
    assert "--triton-backend" in run("--help").output and "--backend" not in run("--help").output
    disagree = run(str(model), "-o", str(tmp_path / "x"), "--backend", "openvino", "--triton-backend", "onnxruntime")
    assert disagree.exit_code == 2 and "disagree" in disagree.stderr
