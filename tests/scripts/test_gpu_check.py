"""scripts/gpu_check.sh: the dry run works on this CPU machine (a missing GPU is a skip reason,
not a failure), checks split wheels and the validate interface; the summary merges sweep
results and puts the best images/s in proportion to the GPU's peak. The real run needs a GPU."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"


def _wheels(folder: Path, *, corrupt: bool = False, drop_part: bool = False) -> Path:
    """A .whl/ folder as fetch_gpu_wheels.sh writes it: one small wheel kept whole, one split."""
    folder.mkdir()
    small, big = b"small wheel bytes", bytes(range(256)) * 100
    (folder / "pydantic-2.14.3-py3-none-any.whl").write_bytes(small)
    name = "onnxruntime_gpu-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl"
    parts = [big[:10000], big[10000:20000], big[20000:]]
    for i, part in enumerate(parts):
        if drop_part and i == 1:
            continue
        (folder / f"{name}.part-{i:03d}").write_bytes(part[:-1] + b"x" if corrupt and i == 2 else part)
    sums = [f"{hashlib.sha256(small).hexdigest()}  pydantic-2.14.3-py3-none-any.whl",
            f"{hashlib.sha256(big).hexdigest()}  {name}"]
    (folder / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    return folder


def _dry_run(tmp_path: Path, wheels: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": sys.executable, "RD_WHEELS": str(wheels)}
    return subprocess.run(["bash", str(SCRIPT), "--dry-run", str(tmp_path / "out")], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120, check=False)


def test_dry_run_checks_prerequisites_and_prints_the_plan(tmp_path: Path) -> None:
    result = _dry_run(tmp_path, _wheels(tmp_path / "whl"))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "onnxruntime_gpu-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl" in out  # re-joined and checksum-checked
    assert "--no-index --no-deps --target" in out
    assert "validate interface: " in out  # ok or MISSING, whichever this checkout's validate offers
    for stage in ("environment", "pytest-gpu", "export", "sweep-torch-eager-fp16", "sweep-torch-cudagraph-fp16",
                  "sweep-torch-compile-fp16", "sweep-ort-cuda-fp32", "sweep-ort-cuda-fp16", "tensorrt-build",
                  "sweep-tensorrt-fp16", "cpp-tensorrt", "train", "validate-ort-cuda-fp32", "validate-tensorrt-fp16", "summary",
                  "profile-ort-cuda-fp16", "profile-tensorrt-fp16", "validate-tensorrt-per-layer",
                  "mlperf-tensorrt-offline", "mlperf-tensorrt-server", "mlperf-ort-cuda-fp16",
                  "sweep-torch-eager-bf16", *(f"{step}-{precision}" for precision in ("bf16", "fp8")
                                              for step in ("quantize", "tensorrt-build", "validate-tensorrt",
                                                           "sweep-tensorrt", "validate-ort-cuda", "sweep-ort-cuda"))):
        assert f"  {stage} " in out, stage
    import torch

    if not torch.cuda.is_available():
        assert "would skip: no CUDA device visible" in out
    assert not (tmp_path / "out").exists()  # a dry run writes nothing


@pytest.mark.parametrize(("damage", "problem"), [({"corrupt": True}, "sha256 does not match"),
                                                 ({"drop_part": True}, "one is missing")])
def test_dry_run_refuses_damaged_wheels(tmp_path: Path, damage: dict[str, bool], problem: str) -> None:
    result = _dry_run(tmp_path, _wheels(tmp_path / "whl", **damage))
    assert result.returncode == 2 and problem in result.stderr


def test_dry_run_without_wheels_says_what_is_missing(tmp_path: Path) -> None:
    result = _dry_run(tmp_path, tmp_path / "nowhere")
    assert result.returncode == 0 and "fetch_gpu_wheels.sh" in result.stdout


def test_summary_merges_sweeps_and_states_the_fraction_of_peak(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from gpu_check_summary import write_summary
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    out = tmp_path / "out"
    (out / "sweep").mkdir(parents=True)
    lat = {"samples": 12, "min": 10.0, "mean": 10.5, "median": 10.4, "p90": 11.0, "p95": 11.2, "p99": 11.5,
           "max": 12.0, "std": 0.4, "cv": 0.04}
    for stem, ips in (("tensorrt-fp16", 24000.0), ("torch-eager-fp16", 3000.0)):
        data = {"kind": "bench", "config": {"percentiles": [90, 95, 99]}, "environment": {},
                "backends": [{"label": "raw", "backend": stem, "results": [
                    {"batch": 256, "latency_ms": lat, "throughput_ips": ips, "warnings": []},
                    {"batch": 1, "latency_ms": lat, "throughput_ips": ips / 10, "warnings": []}], "notes": []}]}
        (out / "sweep" / f"{stem}.json").write_text(json.dumps(data))
    stages = {"budget_s": 525, "elapsed_s": 480.0, "prerequisites": {"gpu": "NVIDIA H100 80GB HBM3", "python": "3.12.3",
                                                                       "torch": "2.11.0+cu130", "onnxruntime": {}},
              "stages": [{"name": "sweep-tensorrt-fp16", "status": "ran", "seconds": 20.0},
                         {"name": "tensorrt-build", "status": "failed", "detail": "exit 1: out of memory"},
                         {"name": "train", "status": "skipped", "detail": "the 9-minute budget ran out"}]}
    (out / "stages.json").write_text(json.dumps(stages))
    assert write_summary(out) == 0
    summary = (out / "summary.md").read_text()
    # 24,000 img/s x 2 x 4.089 G MACs = 196 TFLOP/s = 19.8% of the H100 SXM's 989.4
    assert "**24,000 images/s** (tensorrt fp16, batch 256)" in summary and "19.8% of the dense FP16" in summary
    assert "| tensorrt-build | failed |" in summary and "out of memory" in summary
    assert "the 9-minute budget ran out" in summary
    for suffix in ("json", "csv", "md"):
        assert (out / f"gpu_sweep_resnet50.{suffix}").is_file()
    assert list(out.glob("gpu_sweep_resnet50_*.png"))
    merged = json.loads((out / "gpu_sweep_resnet50.json").read_text())
    assert [b["label"] for b in merged["backends"]] == ["tensorrt fp16", "torch eager fp16 channels_last"]


def test_peak_table_matches_cuda_names() -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks.gpu_peaks import fp16_peak

    assert fp16_peak("NVIDIA H100 80GB HBM3")[0] == 989.4  # type: ignore[index]
    assert fp16_peak("NVIDIA H100 PCIe")[0] == 756.0  # type: ignore[index]
    assert fp16_peak("NVIDIA H200 NVL")[0] == 835.5  # type: ignore[index]
    assert fp16_peak("NVIDIA H200")[0] == 989.4  # type: ignore[index]
    assert fp16_peak("NVIDIA L40S")[0] == 362.05 and fp16_peak("NVIDIA L4")[0] == 121.0  # type: ignore[index]
    assert fp16_peak("NVIDIA A100-SXM4-80GB")[0] == 312.0  # type: ignore[index]
    assert fp16_peak("Some Future GPU") is None
