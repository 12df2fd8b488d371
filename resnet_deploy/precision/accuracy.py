"""Accuracy of FP16/INT8 models against their FP32 reference, on real labelled data.

Every model (reference included) runs with onnxruntime on the CPU over the same validation
images, so a drop is the model's, not the runtime's. Per model: top-1, top-5, top-1 agreement
with the reference, logit cosine (per image, averaged) and the top-1 drop in points. The
report is truthy when no drop exceeds `max_drop`; `record=True` writes the figures into each
model's sidecar, so an artifact carries its measured accuracy.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from resnet_deploy.artifacts import read_sidecar, require_file, sha256_file, write_sidecar
from resnet_deploy.compare import compare_outputs
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.precision.detect import detect_precision

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelAccuracy:
    model: str
    precision: str
    top1: float  # percent
    top5: float  # percent
    top1_agreement: float  # percent of images whose top-1 matches the reference
    cosine: float  # mean per-image cosine of logits vs the reference
    min_cosine: float
    drop: float  # reference top-1 minus this top-1, in points
    passed: bool


@dataclass
class AccuracyReport:
    dataset: str
    split: str
    samples: int
    reference: ModelAccuracy
    models: list[ModelAccuracy]
    max_drop: float | None
    failures: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "split": self.split, "samples": self.samples, "max_drop": self.max_drop,
                "passed": bool(self), "failures": list(self.failures), "reference": asdict(self.reference),
                "models": [asdict(m) for m in self.models]}


def _input_size(path: Path) -> int | None:
    from resnet_deploy.export import read_onnx_metadata

    spec = read_onnx_metadata(path).get("input_spec")
    if not spec:
        return None
    height, width = int(spec["height"]), int(spec["width"])
    return height if height == width else None


def load_eval_data(dataset: str, *, data_dir: str | os.PathLike[str] | None, limit: int | None,
                   input_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The validation split of a dataset (evaluation transform), or an .npz file holding
    `x` (float32 NCHW, normalized) and `labels` (int)."""
    if dataset.endswith(".npz"):
        path = require_file(dataset, "evaluation data")
        with np.load(path, allow_pickle=False) as data:
            if "x" not in data or "labels" not in data:
                raise InvalidInputError(f"'{path}' must hold arrays 'x' and 'labels', it has {sorted(data.keys())}")
            x, labels = data["x"], data["labels"]
        if limit is not None:
            x, labels = x[:limit], labels[:limit]
    else:
        from resnet_deploy.data import eval_arrays

        x, labels = eval_arrays(dataset, data_dir=data_dir, split="val", limit=limit, input_size=input_size)
    x, labels = np.ascontiguousarray(x, dtype=np.float32), np.asarray(labels, dtype=np.int64)
    if x.ndim != 4 or len(x) != len(labels) or len(x) == 0:
        raise InvalidInputError(f"evaluation data must be N images (N,C,H,W) with N labels, got {x.shape} and {labels.shape}")
    return x, labels


def run_logits(path: Path, x: np.ndarray, *, batch_size: int = 64, threads: int | None = None) -> np.ndarray:
    """The model's first output over `x`, batch by batch, with onnxruntime on the CPU."""
    from resnet_deploy.backends.onnxruntime_runner import OnnxRuntimeRunner

    with OnnxRuntimeRunner(path, provider="cpu", threads=threads) as runner:
        info = runner.inputs()[0]
        fixed = runner.batch_limits()[1]
        step = fixed or batch_size
        chunks = []
        for start in range(0, len(x), step):
            batch = x[start:start + step]
            valid = len(batch)
            if fixed and valid < fixed:  # a static-batch model: pad the last batch
                batch = np.concatenate([batch, np.repeat(batch[-1:], fixed - valid, axis=0)])
            out = runner.infer({info.name: batch.astype(info.dtype, copy=False)})
            chunks.append(np.asarray(next(iter(out.values())), dtype=np.float32)[:valid])
    logits = np.concatenate(chunks)
    if logits.ndim != 2:
        raise InvalidInputError(f"'{path}' outputs shape {logits.shape}; accuracy needs classification logits (N, classes)")
    return logits


def _topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    k = min(k, logits.shape[1])
    top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=1)) * 100)


def _row_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    norms = np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)
    return np.where(norms > 0, np.sum(a64 * b64, axis=1) / np.maximum(norms, 1e-300), 1.0)


def _measure(path: Path, logits: np.ndarray, labels: np.ndarray, ref_logits: np.ndarray, ref_top1: float,
             max_drop: float | None) -> ModelAccuracy:
    if logits.shape != ref_logits.shape:
        raise InvalidInputError(f"'{path}' outputs {logits.shape}, the reference {ref_logits.shape}: not the same model")
    top1 = _topk_accuracy(logits, labels, 1)
    comparison = compare_outputs(ref_logits, logits, name=path.name)
    cosines = _row_cosine(ref_logits, logits)
    drop = ref_top1 - top1
    return ModelAccuracy(str(path), detect_precision(str(path)).precision, top1, _topk_accuracy(logits, labels, 5),
                         float((comparison.top1_agreement or 0.0) * 100), float(cosines.mean()), float(cosines.min()),
                         drop, max_drop is None or drop <= max_drop)


def evaluate_accuracy(models: Sequence[str | os.PathLike[str]], *, dataset: str, reference: str | os.PathLike[str],
                      data_dir: str | os.PathLike[str] | None = None, limit: int | None = None,
                      max_drop: float | None = None, batch_size: int = 64, threads: int | None = None,
                      record: bool = True) -> AccuracyReport:
    """Evaluate `models` and `reference` on the validation split of `dataset` (a dataset
    name or an .npz with x/labels). `max_drop` is in top-1 points. With `record`, each
    model's sidecar (when it has one) gets an "accuracy" entry."""
    if not models:
        raise InvalidInputError("give at least one model to evaluate")
    if max_drop is not None and max_drop < 0:
        raise InvalidInputError(f"--max-drop must be >= 0 points, got {max_drop}")
    ref_path = Path(reference)
    paths = [Path(m) for m in models]
    x, labels = load_eval_data(dataset, data_dir=data_dir, limit=limit, input_size=_input_size(ref_path))
    log.info("evaluating %d model(s) on %d images of %s", len(paths), len(x), dataset)
    ref_logits = run_logits(ref_path, x, batch_size=batch_size, threads=threads)
    if labels.min() < 0 or labels.max() >= ref_logits.shape[1]:
        raise InvalidInputError(f"labels range {labels.min()}..{labels.max()} does not fit the model's "
                                f"{ref_logits.shape[1]} classes: wrong dataset for this model?")
    ref_top1 = _topk_accuracy(ref_logits, labels, 1)
    ref_row = _measure(ref_path, ref_logits, labels, ref_logits, ref_top1, None)
    rows = [_measure(p, run_logits(p, x, batch_size=batch_size, threads=threads), labels, ref_logits, ref_top1, max_drop)
            for p in paths]
    failures = [f"{Path(r.model).name}: top-1 drop {r.drop:.2f} points > {max_drop:g}" for r in rows if not r.passed]
    report = AccuracyReport(dataset, "val", len(x), ref_row, rows, max_drop, failures)
    if record:
        _record(report, ref_path)
    return report


def _record(report: AccuracyReport, ref_path: Path) -> None:
    """Add the measured figures to each evaluated model's sidecar (models without one are left alone)."""
    when = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    ref_sha = sha256_file(ref_path)
    for row in [report.reference, *report.models]:
        path = Path(row.model)
        meta = read_sidecar(path, required=False)
        if meta is None or meta.get("kind") != "onnx" or meta.get("sha256") != sha256_file(path):
            continue
        entry = {"dataset": report.dataset, "split": report.split, "samples": report.samples,
                 "top1": round(row.top1, 3), "top5": round(row.top5, 3),
                 "top1_agreement": round(row.top1_agreement, 3), "cosine": round(row.cosine, 6),
                 "drop_points": round(row.drop, 3), "reference": str(ref_path), "reference_sha256": ref_sha,
                 "measured": when, "runtime": "onnxruntime-cpu"}
        meta["accuracy"] = entry
        write_sidecar(path, meta)
