"""The summary stage of scripts/gpu_check.py (run in a subprocess once the wheels are installed):
merge the sweep results into one benchmark result (JSON, CSV, Markdown, PNG) and write
summary.md: which stages ran, failed (with the error) or were skipped (with the reason), the
best images/s and its fraction of the GPU's dense FP16 tensor peak, the training throughput
and the validation verdicts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.gpu_peaks import fp16_peak  # noqa: E402
from resnet_deploy.atomic import atomic_write_text  # noqa: E402
from resnet_deploy.bench import report as rep  # noqa: E402
from resnet_deploy.errors import ArtifactError  # noqa: E402
from resnet_deploy.jsonfile import read_json_model  # noqa: E402
from resnet_deploy.render import Column, markdown_table  # noqa: E402


class StageRecord(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    what: str = ""
    status: str
    detail: str = ""
    seconds: float = 0.0
    timeout_s: int = 0


class StagesFile(BaseModel):
    model_config = ConfigDict(extra="allow")
    budget_s: int
    elapsed_s: float
    prerequisites: dict[str, Any]
    stages: list[StageRecord]


class BenchFile(BaseModel):
    model_config = ConfigDict(extra="allow")
    kind: str
    config: dict[str, Any]
    environment: dict[str, Any] = {}
    backends: list[dict[str, Any]]


class TrainFile(BaseModel):
    model_config = ConfigDict(extra="allow")
    gpu: str
    batch: int
    amp: str
    channels_last: bool
    images_per_second: float
    max_memory_gib: float | None = None


class ValidateFile(BaseModel):
    model_config = ConfigDict(extra="allow")


LABELS = {"torch-eager-fp16": "torch eager fp16 channels_last", "torch-cudagraph-fp16": "torch-cudagraph fp16",
          "torch-compile-fp16": "torch.compile fp16", "ort-cuda-fp32": "ort-cuda fp32", "ort-cuda-fp16": "ort-cuda fp16",
          "tensorrt-fp16": "tensorrt fp16"}


def merge_sweeps(out: Path) -> dict[str, Any] | None:
    """One bench result with every backend the sweep stages measured, relabelled by stage."""
    merged: dict[str, Any] | None = None
    for path in sorted((out / "sweep").glob("*.json")):
        try:
            data = read_json_model(path, BenchFile, what="sweep result").model_dump()
        except ArtifactError as exc:
            print(f"note: {exc}")
            continue
        for backend in data["backends"]:
            backend["label"] = LABELS.get(path.stem, path.stem)
        if merged is None:
            merged = data
        else:
            merged["backends"] += data["backends"]
    return merged


def best_row(data: dict[str, Any]) -> tuple[float, str, int] | None:
    rows = [(float(r["throughput_ips"]), str(b["label"]), int(r["batch"])) for b in data["backends"]
            for r in b.get("results", [])]
    return max(rows) if rows else None


def write_summary(out: Path) -> int:
    out = out.resolve()
    record = read_json_model(out / "stages.json", StagesFile, what="gpu_check stage record")
    facts = record.prerequisites
    gpu = str(facts.get("gpu") or "no GPU")
    lines = ["# GPU check", "",
             f"GPU: {gpu}; Python {facts.get('python')}, torch {facts.get('torch')}, onnxruntime "
             f"{(facts.get('onnxruntime') or {}).get('version')} ({', '.join((facts.get('onnxruntime') or {}).get('providers') or [])}), "
             f"TensorRT {facts.get('tensorrt') or 'not installed'}. Whole run {record.elapsed_s:.0f} s "
             f"(budget {record.budget_s} s).", "", "## Stages", ""]
    rows = [[s.name, s.status, s.seconds, s.detail or s.what] for s in record.stages]
    lines.append(markdown_table([Column("stage"), Column("result"), Column("seconds", ".1f"), Column("detail")], rows))
    merged = merge_sweeps(out)
    lines += ["", "## ResNet-50 batch sweep (224x224)", ""]
    if merged is None:
        lines.append("No sweep stage produced a result.")
    else:
        rep.save(merged, json_path=out / "gpu_sweep_resnet50.json", csv_path=out / "gpu_sweep_resnet50.csv",
                 markdown_path=out / "gpu_sweep_resnet50.md", plot_dir=out, plot_prefix="gpu_sweep_resnet50_",
                 plot_title=f"ResNet-50 224x224 on {gpu}")
        lines.append("Each point: about 1 s measured after 0.3 s of warm-up (short, to fit the 9-minute budget: the "
                     "table flags samples it finds too few); torch.compile at 1, 32 and 256 only (one compilation "
                     "per batch size), onnxruntime at 1, 8, 64 and 256. Full table: gpu_sweep_resnet50.md.")
        best = best_row(merged)
        if best is not None:
            from resnet_deploy.models import model_cost

            images, label, batch = best
            tflops = images * 2 * model_cost("resnet50").macs / 1e12
            peak = fp16_peak(gpu)
            lines += ["", f"Best: **{images:,.0f} images/s** ({label}, batch {batch}) = {tflops:.1f} TFLOP/s "
                      "(2 x 4.09 G MACs per image)"
                      + (f", **{tflops / peak[0]:.1%} of the dense FP16 tensor peak** ({peak[0]:g} TFLOP/s: {peak[1]})."
                         if peak else f"; no dense FP16 peak known for '{gpu}' (benchmarks/gpu_peaks.py).")]
        best_per_backend = [[b["label"], max((r["throughput_ips"] for r in b.get("results", [])), default=None),
                             next((r["batch"] for r in sorted(b.get("results", []), key=lambda r: -r["throughput_ips"])), None)]
                            for b in merged["backends"]]
        lines += ["", markdown_table([Column("backend"), Column("best images/s", ",.0f"), Column("at batch")],
                                     best_per_backend)]
    train = out / "train" / "train_resnet50_synthetic.json"
    lines += ["", "## Training throughput", ""]
    if train.is_file():
        t = read_json_model(train, TrainFile, what="training benchmark result")
        lines.append(f"ResNet-50, synthetic data, batch {t.batch}, AMP {t.amp}, channels_last {t.channels_last}: "
                     f"**{t.images_per_second:,.0f} images/s** (peak memory {t.max_memory_gib} GiB).")
    else:
        lines.append("Not measured (see the train stage).")
    lines += ["", "## Validation against onnxruntime CPU", ""]
    verdicts = []
    for path in sorted((out / "validate").glob("*.json")):
        try:
            data = read_json_model(path, ValidateFile, what="validate report").model_dump()
        except ArtifactError as exc:
            verdicts.append([path.stem, f"unreadable: {exc}"])
            continue
        ok = data.get("passed", data.get("ok"))
        verdicts.append([path.stem, "pass" if ok else "FAIL" if ok is not None else "see the JSON"])
    lines.append(markdown_table([Column("comparison"), Column("result")], verdicts) if verdicts
                 else "No validation ran (see the validate stages).")
    lines += ["", "Logs: logs/<stage>.log; stage record: stages.json; prerequisites: prerequisites.json.", ""]
    atomic_write_text(out / "summary.md", "\n".join(lines))
    print(f"wrote {out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(write_summary(Path(sys.argv[1])))
    except (ArtifactError, ValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
