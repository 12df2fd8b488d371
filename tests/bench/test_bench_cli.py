"""`resnet-deploy bench` and `bench-compare` end to end on tiny ONNX models: outputs, several
artifacts, checks made before anything is timed, refused values, and the progress lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from resnet_deploy.cli import cli
from tests.bench.helpers import tiny_onnx

pytest.importorskip("onnxruntime")

FAST = ["--warmup", "2", "--iterations", "5"]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_onnx(tmp_path_factory.mktemp("bench") / "tiny.onnx", size=16)


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_onnx(tmp_path_factory.mktemp("bench") / "wide.onnx", size=16, width=16)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line_refusal(result: Any, code: int) -> str:
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_bench_writes_every_output(model: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["bench", "--onnx", str(model), "--batch-sizes", "1,4", *FAST,
                                      "--percentiles", "50,99", "--out", str(out), "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "img/s" in result.output and "p99 ms" in result.output
    data = json.loads((out / "bench.json").read_text())
    rows = data["backends"][0]["results"]
    assert [r["batch"] for r in rows] == [1, 4]
    assert {"p50", "p99"} <= set(rows[0]["latency_ms"])
    assert data["backends"][0]["artifact"]["sha256"]
    assert data["environment"]["library_versions"]["onnxruntime"]
    csv_lines = (out / "bench.csv").read_text().splitlines()
    assert csv_lines[0].startswith("backend,batch,samples") and len(csv_lines) == 3
    markdown = (out / "bench.md").read_text()
    assert "| backend | batch |" in markdown and "None" not in markdown
    assert "5 iterations per point after 2 iterations warm-up" in markdown
    for png in ("throughput.png", "latency.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_table_numbers_are_right_aligned_with_one_precision_per_column(model: Path) -> None:
    result = CliRunner().invoke(cli, ["bench", "--onnx", str(model), "--batch-sizes", "1,4", *FAST])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header, body = lines[0], lines[2:4]
    end = header.index("median ms") + len("median ms")
    medians = [line[:end].split()[-1] for line in body]
    assert all("." in m for m in medians) and len({len(m.split(".")[1]) for m in medians}) == 1  # same decimals
    assert all(line[end - 1] != " " for line in body)  # right-aligned under the header's end


def test_several_onnx_models_are_all_timed(model: Path, wide: Path) -> None:
    result = CliRunner().invoke(cli, ["bench", "--onnx", str(model), "--onnx", str(wide), "--backend", "ort-cpu",
                                      "--batch-sizes", "1", *FAST, "--json"])
    assert result.exit_code == 0, result.output
    labels = [b["label"] for b in json.loads(result.stdout)["backends"]]
    assert labels == ["ort-cpu (tiny.onnx)", "ort-cpu (wide.onnx)"]


def test_same_file_name_in_two_folders_gets_distinct_labels(model: Path, tmp_path: Path) -> None:
    other = tiny_onnx(tmp_path / "tiny.onnx", size=16)
    result = CliRunner().invoke(cli, ["bench", "--onnx", str(model), "--onnx", str(other), "--batch-sizes", "1",
                                      *FAST, "--json"])
    assert result.exit_code == 0, result.output
    labels = [b["label"] for b in json.loads(result.stdout)["backends"]]
    assert len(set(labels)) == 2 and str(other) in labels[1]


def test_side_by_side_backends_run_every_model(model: Path, wide: Path) -> None:
    pytest.importorskip("openvino")
    result = CliRunner().invoke(cli, ["bench", "--onnx", str(model), "--onnx", str(wide), "--backend", "ort-cpu",
                                      "--backend", "openvino", "--batch-sizes", "2", *FAST, "--json"])
    assert result.exit_code == 0, result.output
    runs = [(b["backend"], Path(b["spec"]["artifact"]).name) for b in json.loads(result.stdout)["backends"]]
    assert runs == [("ort-cpu", "tiny.onnx"), ("openvino", "tiny.onnx"), ("ort-cpu", "wide.onnx"),
                    ("openvino", "wide.onnx")]


def test_a_missing_backend_is_refused_before_anything_is_timed(model: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from resnet_deploy.backends import onnxruntime_runner, registry

    real = registry.unavailable_reason
    monkeypatch.setattr(registry, "unavailable_reason",
                        lambda name: "backend 'openvino' needs openvino, which is not installed" if name == "openvino"
                        else real(name))

    def never(self: Any) -> None:
        raise AssertionError("nothing may be timed")

    monkeypatch.setattr(onnxruntime_runner.OnnxRuntimeRunner, "_activate", never)
    out = tmp_path / "results"
    result = CliRunner().invoke(cli, ["bench", "--onnx", str(model), "--backend", "ort-cpu", "--backend", "openvino",
                                      *FAST, "--out", str(out)])
    line = _one_line_refusal(result, 3)
    assert "openvino" in line and "nothing was timed" in line
    assert not out.exists()


@pytest.mark.parametrize(("extra", "code", "message"), [
    (["--onnx", "missing.onnx"], 2, "missing.onnx"),
    (["--onnx", "{model}"], 2, "more than once"),
    (["--checkpoint", "c.safetensors"], 2, "not run by any --backend"),
    (["--precision", "bf16"], 2, "cannot compute bf16 from it; backends that can: torch, torch-compile"),
    (["--channels-last"], 2, "--channels-last applies to torch backends"),
    (["--markdown", "{tmp}/nodir/r.md"], 2, "nodir"),
])
def test_artifacts_are_checked_before_anything_is_timed(model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        extra: list[str], code: int, message: str) -> None:
    from resnet_deploy.backends import onnxruntime_runner

    def never(self: Any) -> None:
        raise AssertionError("nothing may be timed")

    monkeypatch.setattr(onnxruntime_runner.OnnxRuntimeRunner, "_activate", never)
    (tmp_path / "keep.txt").write_text("x")
    before = _snapshot(tmp_path)
    args = [a.replace("{model}", str(model)).replace("{tmp}", str(tmp_path)) for a in extra]
    result = CliRunner().invoke(cli, ["bench", "--onnx", str(model), *args, "--backend", "ort-cpu", *FAST,
                                      "--out", str(tmp_path / "out"), "--save-json", str(tmp_path / "r.json")])
    assert message in _one_line_refusal(result, code)
    assert _snapshot(tmp_path) == before and not (tmp_path / "out").exists()


def test_a_batch_that_cannot_fit_in_memory_is_refused_before_allocating(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from resnet_deploy.bench import harness

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no input may be allocated")

    monkeypatch.setattr(harness, "make_feeds", never)
    big = tiny_onnx(tmp_path / "big.onnx", size=224)
    before = _snapshot(tmp_path)
    result = CliRunner().invoke(cli, ["bench", "--onnx", str(big), "--batch-sizes", "1,100000", *FAST,
                                      "--out", str(tmp_path / "out")])
    line = _one_line_refusal(result, 2)
    assert "--batch-sizes" in line and "batch 100000" in line and "GiB" in line
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("args", [
    ["--percentiles", "nan"], ["--percentiles", "-5"], ["--percentiles", "101"], ["--percentiles", ","],
    ["--percentiles", "abc"], ["--cv-threshold", "0"], ["--cv-threshold", "-1"], ["--cv-threshold", "nan"],
    ["--warmup=-5s"], ["--warmup", "nans"], ["--duration", "0"], ["--duration", "inf"], ["--iterations", "0"],
    ["--batch-sizes", "0"], ["--batch-sizes", "-4"], ["--batch-sizes", "8-2"], ["--threads", "0"],
])
def test_bad_values_are_one_line_exit_2(model: Path, args: list[str]) -> None:
    result = CliRunner().invoke(cli, ["bench", "--onnx", str(model), *args, "--json"])
    _one_line_refusal(result, 2)


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--engine", "x.plan"], 3, "TensorRT"),
    (["--backend", "ort-cuda"], 3, "CUDAExecutionProvider"),
    (["--backend", "tensorrt"], 2, "--engine"),
])
def test_backend_exit_codes(model: Path, args: list[str], code: int, message: str) -> None:
    base = [] if "--engine" in args else ["--onnx", str(model)]
    if "--engine" in args:
        args = [*args, "--backend", "tensorrt"]
    result = CliRunner().invoke(cli, ["bench", *base, *args, *FAST])
    assert message in _one_line_refusal(result, code)


def test_non_image_onnx_is_exit_2(tmp_path: Path) -> None:
    flat = tiny_onnx(tmp_path / "flat.onnx", channels=4)
    result = CliRunner().invoke(cli, ["bench", "--onnx", str(flat), *FAST])
    assert "not an image model" in _one_line_refusal(result, 2)


def test_progress_says_what_is_timed_without_a_terminal(model: Path) -> None:
    result = CliRunner().invoke(cli, ["bench", "--onnx", str(model), "--batch-sizes", "1,2", *FAST])
    assert result.exit_code == 0, result.output
    assert "timing 1 backend (ort-cpu (tiny.onnx)) at batch 1, 2; 5 iterations per point" in result.stderr
    assert "timing ort-cpu (tiny.onnx) batch 2 (2/2)" in result.stderr
    assert "5 iterations in" in result.stderr
    assert "timing" not in result.stdout


def test_json_mode_prints_json_only(model: Path) -> None:
    result = CliRunner().invoke(cli, ["bench", "--onnx", str(model), "--batch-sizes", "1", *FAST, "--json"])
    assert result.exit_code == 0 and result.stderr == ""
    assert json.loads(result.stdout)["kind"] == "bench"


# -- bench-compare ---------------------------------------------------------------------------
def _save(model: Path, path: Path, batches: str) -> None:
    result = CliRunner().invoke(cli, ["bench", "--onnx", str(model), "--batch-sizes", batches, *FAST,
                                      "--save-json", str(path), "--json"])
    assert result.exit_code == 0, result.output


def test_compare_names_unmatched_rows_and_carries_warnings(model: Path, tmp_path: Path) -> None:
    _save(model, tmp_path / "a.json", "1,2")
    _save(model, tmp_path / "b.json", "2,4")
    result = CliRunner().invoke(cli, ["bench-compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert result.exit_code == 0, result.output
    assert "median change" in result.output and "img/s change" in result.output
    assert "not compared: ort-cpu (tiny.onnx) batch 1 (only in A)" in result.output
    assert "not compared: ort-cpu (tiny.onnx) batch 4 (only in B)" in result.output
    assert "A: ort-cpu (tiny.onnx) batch 1: WARNING run too short to trust" in result.output
    assert "B: ort-cpu (tiny.onnx) batch 4: WARNING run too short to trust" in result.output
    data = json.loads(CliRunner().invoke(cli, ["bench-compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                                               "--json"]).stdout)
    assert [r["batch"] for r in data["rows"]] == [2]
    assert len(data["unmatched"]) == 2 and any("WARNING" in w for w in data["warnings"])


def test_compare_with_nothing_in_common_is_exit_2_and_says_what_each_has(model: Path, tmp_path: Path) -> None:
    _save(model, tmp_path / "a.json", "1")
    _save(model, tmp_path / "b.json", "2")
    result = CliRunner().invoke(cli, ["bench-compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    line = _one_line_refusal(result, 2)
    assert "no backend and batch size in common" in line and "batch 1 (only in A)" in line


@pytest.mark.parametrize(("text", "message"), [
    ('{"kind":"bench","backends":[{}]}', "backends.0.label"),
    ('{"kind":"bench","backends":5}', "backends"),
    ('{"kind":"bench","backends":[{"label":"x","backend":"ort-cpu","results":[{"batch":"one"}]}]}', "batch"),
    ('{"kind":"validate","backends":[]}', "not a resnet-deploy benchmark result"),
    ('{"kind":"bench","backen', "not valid JSON"),
    ("[1, 2]", "not valid"),
    ("", "not valid JSON"),
])
def test_compare_refuses_broken_results_in_one_line(model: Path, tmp_path: Path, text: str, message: str) -> None:
    _save(model, tmp_path / "good.json", "1")
    (tmp_path / "bad.json").write_text(text)
    before = _snapshot(tmp_path)
    for args in (["good.json", "bad.json"], ["bad.json", "good.json"]):
        result = CliRunner().invoke(cli, ["bench-compare", *(str(tmp_path / a) for a in args)])
        line = _one_line_refusal(result, 2)
        assert message in line and "bad.json" in line
    assert _snapshot(tmp_path) == before


def test_compare_refuses_a_model_file(model: Path, tmp_path: Path) -> None:
    _save(model, tmp_path / "a.json", "1")
    _one_line_refusal(CliRunner().invoke(cli, ["bench-compare", str(tmp_path / "a.json"), str(model)]), 2)


def test_live_progress_draws_each_point_and_a_summary_line() -> None:
    import io

    from rich.console import Console

    from resnet_deploy.bench import BackendSpec, BenchConfig, Point
    from resnet_deploy.bench.result import BenchRow, LatencyStats
    from resnet_deploy.cli.progress import LiveProgress

    buffer = io.StringIO()
    live = LiveProgress(Console(file=buffer, width=120, force_terminal=False))
    config = BenchConfig([BackendSpec("ort-cpu", label="m")], batch_sizes=[8])
    point = Point("m", 8, 1, 1, 1, 1, False, None)
    live.planned(config.backends, config)
    live.point_started(point)
    live.iteration(12, 1.5, 1.5)
    task = live.progress.tasks[0]
    assert task.fields["status"] == "12 it, 1.5 s, ~1.5 s left" and task.total == 3.0
    stats = LatencyStats(samples=30, min=1.0, mean=1.2, median=1.1, max=2.0, std=0.1)
    live.point_done(point, BenchRow(batch=8, iterations=30, measured_s=3.0, latency_ms=stats, throughput_ips=6666.7))
    live.finished()
    assert not live.progress.tasks
    assert "m batch 8 (1/1): 30 it in 3.0 s, median 1.100 ms, 6,666.7 img/s" in buffer.getvalue()


def test_run_precision_goes_to_the_backends_that_compute_it_and_the_label_says_what_ran(tmp_path: Path) -> None:
    from resnet_deploy.backends.registry import RunOptions
    from resnet_deploy.bench.config import BackendSpec
    from resnet_deploy.bench.harness import _name_precision
    from resnet_deploy.bench.plan import Source, plan_specs
    from resnet_deploy.bench.result import BackendRun
    from resnet_deploy.errors import InvalidInputError

    model = tmp_path / "r50.onnx"
    bf16 = RunOptions(precision="bf16")
    specs = plan_specs([Source(model), Source("resnet20")], ("openvino", "torch"), options=bf16)
    assert {s.backend: s.options for s in specs} == {"openvino": bf16, "torch": bf16}
    assert specs[0].name == "openvino (r50.onnx, bf16)"
    with pytest.raises(InvalidInputError, match="backend 'ort-cpu' runs the precision its model holds"):
        plan_specs([Source(model)], ("openvino", "ort-cpu"), options=bf16)
    spec = BackendSpec("openvino", artifact=model, options=bf16)
    fell_back = BackendRun(label=spec.name, backend="openvino", runner={"precision": "fp32"})
    _name_precision(spec, fell_back)
    assert fell_back.label == "openvino (r50.onnx, fp32)" and fell_back.notes == ["asked for bf16, the runtime runs fp32"]
    ran = BackendRun(label=spec.name, backend="openvino", runner={"precision": "bf16"})
    _name_precision(spec, ran)
    assert ran.label == spec.name and not ran.notes
