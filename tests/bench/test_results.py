"""Bench results as typed objects: recorded results still load, a fresh run round-trips,
broken files are one line, and the readers (report, plots, README generator) use them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from benchmarks import update_readme
from resnet_deploy.bench import BackendSpec, BenchConfig, Warmup, run_benchmark
from resnet_deploy.bench.result import BenchResult, LatencyStats, as_result, load_result
from resnet_deploy.errors import ArtifactError
from tests.bench.helpers import FakeRunner


def _is_bench_result(path: Path) -> bool:
    """A recorded bench result (the results tree also holds other JSON, e.g. LoadGen's lists)."""
    data = json.loads(path.read_text())
    return isinstance(data, dict) and data.get("kind") == "bench"


RECORDED = sorted(p for p in (Path(__file__).resolve().parents[2] / "benchmarks" / "results").rglob("*.json")
                  if _is_bench_result(p))


def _run(labels: list[str], batches: list[int], percentiles: tuple[float, ...] = (90.0, 95.0, 99.0)) -> BenchResult:
    config = BenchConfig([BackendSpec("ort-cpu", label=label) for label in labels], batch_sizes=batches, iterations=3,
                         duration_s=None, warmup=Warmup(iterations=0), percentiles=percentiles)
    return run_benchmark(config, runner_factory=lambda spec, cfg: FakeRunner(limits=(1, None)))


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.name)
def test_recorded_results_load_and_round_trip(path: Path) -> None:
    raw = json.loads(path.read_text())
    result = load_result(path)
    assert result.backends and all(b.results for b in result.backends)
    row = result.backends[0].results[0]
    assert row.latency_ms.median == raw["backends"][0]["results"][0]["latency_ms"]["median"]
    assert row.latency_ms.get("p99") == raw["backends"][0]["results"][0]["latency_ms"]["p99"]
    assert result.to_dict()["backends"] == raw["backends"]  # nothing lost, same layout
    assert (result.model_extra or {}).get("suite_notes") == raw.get("suite_notes")


def test_a_fresh_run_is_typed_and_its_json_reads_back_equal(tmp_path: Path) -> None:
    result = _run(["a"], [1, 2], percentiles=(50.0, 99.9))
    row = result.backends[0].results[1]
    assert row.batch == 2 and row.latency_ms.get("p99.9") is not None and row.compute_ms is None
    data = result.to_dict()
    assert list(data["backends"][0]["results"][0]["latency_ms"])[:6] == ["samples", "min", "mean", "median", "p50",
                                                                         "p99.9"]
    assert "compute_ms" not in data["backends"][0]["results"][0]
    path = tmp_path / "r.json"
    path.write_text(result.to_json())
    assert load_result(path).to_dict() == data


def test_latency_stats_keep_percentiles_flat() -> None:
    stats = LatencyStats.model_validate({"samples": 3, "min": 1.0, "mean": 2.0, "median": 2.0, "p90": 2.8, "max": 3.0,
                                         "std": 0.8})
    assert stats.percentiles == {"p90": 2.8} and stats.get("p90") == 2.8 and stats.get("median") == 2.0
    assert stats.model_dump() == {"samples": 3, "min": 1.0, "mean": 2.0, "median": 2.0, "p90": 2.8, "max": 3.0,
                                  "std": 0.8, "cv": None}


@pytest.mark.parametrize(("data", "message"), [
    ({"kind": "bench", "backends": [{}]}, "backends.0.label"),
    ({"kind": "bench", "backends": 5}, "backends"),
    ({"kind": "bench"}, "backends"),
    ({"kind": "other", "backends": []}, "kind must be 'bench'"),
    ({"kind": "bench", "backends": [{"label": "x", "backend": "b", "results": [{"batch": 0}]}]}, "batch"),
])
def test_invalid_results_are_one_artifact_error_line(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ArtifactError) as info:
        as_result(data)
    assert message in str(info.value) and "\n" not in str(info.value) and info.value.exit_code == 2


def test_update_readme_reads_the_recorded_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not RECORDED:
        pytest.skip("no recorded results in this checkout")
    root = Path(update_readme.__file__).resolve().parent
    shutil.copytree(root / "results", tmp_path / "results")
    readme = tmp_path / "README.md"
    readme.write_text(f"# B\n\n{update_readme.START}\nold\n{update_readme.END}\n")
    monkeypatch.setattr(update_readme, "ROOT", tmp_path)
    assert update_readme.main([]) == 0
    text = readme.read_text()
    for path in RECORDED:
        assert f"#### {path.stem}" in text
    assert "| backend | batch | median ms | p99 ms | img/s | warning |" in text


def test_plots_keep_each_chart_readable() -> None:
    from resnet_deploy.bench import plots

    result = _run([f"backend {i}" for i in range(8)], [1, 2, 4], percentiles=(50.0, 90.0, 95.0, 99.0, 99.9, 99.99))
    backends = [b for b in result.backends if b.results]
    stats = plots._statistics(result.config.percentile_keys())
    for figure in (plots._latency(backends, stats, "t"), plots._throughput(backends, "t")):
        visible = [ax for ax in figure.axes if ax.get_visible()]
        assert len(visible) == 8  # small multiples: one chart per backend
        assert all(len(ax.lines) <= plots.MAX_LINES for ax in visible)
    few = plots._throughput(backends[:3], None)
    assert len(few.axes) == 1 and len(few.axes[0].lines) == 3


def test_compare_notes_a_different_machine_but_not_a_missing_isa_record() -> None:
    from resnet_deploy.bench.compare import compare_results

    a = _run(["m"], [1])
    b = a.model_copy(deep=True)
    b.environment.cpu.isa = None  # recorded before the ISA was
    assert not any("different machines" in w for w in compare_results(a, b).warnings)
    b.environment.cpu.model = "Another CPU"
    assert any("different machines" in w for w in compare_results(a, b).warnings)


def test_percentiles_read_as_attributes_and_artifacts_are_typed(tmp_path: Path) -> None:
    from tests.bench.helpers import tiny_onnx

    model = tiny_onnx(tmp_path / "m.onnx", size=8)
    config = BenchConfig([BackendSpec("ort-cpu", artifact=model)], batch_sizes=[1], iterations=3, duration_s=None,
                         warmup=Warmup(iterations=0))
    result = run_benchmark(config, runner_factory=lambda spec, cfg: FakeRunner(limits=(1, None)))
    backend = result.backends[0]
    assert backend.artifact is not None and backend.artifact.sha256 and backend.artifact.path == str(model)
    stats = backend.results[0].latency_ms
    assert stats.p99 == stats.get("p99") == stats.percentiles["p99"]  # type: ignore[attr-defined]
    assert "sidecar_mismatch" not in result.to_dict()["backends"][0]["artifact"]


def test_warning_summary_is_one_line_per_backend_naming_the_points() -> None:
    """A busy machine flags every point: the summary says each kind once per backend, with the
    batch sizes it concerns, and each kind once in full; warnings() keeps every line."""
    result = _run(["ort-cpu fp32", "openvino fp32"], [1, 8, 32])
    unstable = "latency unstable: coefficient of variation 25.0% is over 10% (other load on the machine)"
    for backend in result.backends:
        for row in backend.results:
            row.warnings = [unstable] + (["run too short to trust: 0.20 s measured"] if row.batch == 32 else [])
    result.backends[1].notes.append("a note")
    summary = result.warning_summary()
    assert summary.lines == [
        "ort-cpu fp32: latency unstable at batches 1, 8 and 32; run too short to trust at batch 32",
        "openvino fp32: a note",
        "openvino fp32: latency unstable at batches 1, 8 and 32; run too short to trust at batch 32"]
    assert summary.kinds == [
        "latency unstable (first seen on ort-cpu fp32, batch 1): coefficient of variation 25.0% is over 10% "
        "(other load on the machine)",
        "run too short to trust (first seen on ort-cpu fp32, batch 32): 0.20 s measured"]
    assert len(result.warnings()) == 9  # the note and every point's warnings, in full
