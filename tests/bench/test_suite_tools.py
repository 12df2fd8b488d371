"""benchmarks/: the GPU peak table lookup and the README generator (tables come from results files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import update_readme
from benchmarks.run_suite import peak_tflops
from resnet_deploy.bench import BackendSpec, BenchConfig, Warmup, run_benchmark
from tests.bench.helpers import FakeRunner


def test_peak_table_prefers_the_most_specific_name() -> None:
    assert peak_tflops("NVIDIA H100 80GB HBM3") == 989.4
    assert peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert peak_tflops("NVIDIA H200") == 989.4
    assert peak_tflops("NVIDIA L4") == 121.0
    assert peak_tflops("Some Future GPU") is None


def test_readme_tables_are_generated_from_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = BenchConfig([BackendSpec("ort-cpu", label="fake fp32")], batch_sizes=[1, 2], iterations=3,
                         duration_s=None, warmup=Warmup(iterations=0))
    data = run_benchmark(config, runner_factory=lambda spec, cfg: FakeRunner(limits=(1, None))).to_dict()
    device = tmp_path / "results" / "cpu-2core"
    device.mkdir(parents=True)
    (device / "cpu_comparison_resnet50.json").write_text(json.dumps(data))
    readme = tmp_path / "README.md"
    readme.write_text(f"# B\n\n{update_readme.START}\nold text\n{update_readme.END}\ntail\n")
    monkeypatch.setattr(update_readme, "ROOT", tmp_path)
    assert update_readme.main([]) == 0
    text = readme.read_text()
    assert "old text" not in text and text.endswith("tail\n")
    assert "### cpu-2core" in text and "#### cpu_comparison_resnet50" in text
    row = data["backends"][0]["results"][1]
    line = next(line for line in text.splitlines() if line.startswith("| fake fp32 | 2 | "))
    shown = line.split("|")[3].strip()
    decimals = len(shown.split(".")[1]) if "." in shown else 0
    assert float(shown) == round(row["latency_ms"]["median"], decimals)
    assert "Machine: CPU " in text


@pytest.mark.parametrize("script", sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "benchmarks").glob("*.py")
                                          if p.stem != "__init__"))
def test_every_benchmark_script_imports(script: str) -> None:
    """A benchmark script that no longer matches the library fails here, not the day someone
    re-records its figures."""
    import importlib

    module = importlib.import_module(f"benchmarks.{script}")
    assert module.__doc__, f"benchmarks/{script}.py says nothing about what it measures"


def test_forward_timing_writes_its_figures_and_the_machine(tmp_path: Path) -> None:
    """The script end to end at a tiny size: one row per model and backend with a positive
    mean, the same rows in the Markdown table, and the machine the figures came from."""
    from benchmarks import forward_timing

    assert forward_timing.main(["--models", "resnet20", "--backends", "torch,ort-cpu", "--steps", "3",
                                "--burn-in", "1", "--threads", "1", "--out", str(tmp_path)]) == 0
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    data = json.loads((folder / "forward_timing.json").read_text())
    assert data["kind"] == "forward-timing" and data["environment"]["cpu"]
    assert [(r["model"], r["backend"]) for r in data["rows"]] == [("resnet20", "torch"), ("resnet20", "ort-cpu")]
    assert all(r["mean_ms"] > 0 and len(r["samples_ms"]) == 3 for r in data["rows"])
    markdown = (folder / "forward_timing.md").read_text()
    assert "Machine: CPU " in markdown
    assert sum(line.startswith("| resnet20 |") for line in markdown.splitlines()) == 2
