"""Accuracy of FP16/INT8 models against their FP32 reference, on real labelled data, on the
runtime that will serve them.

Every model runs on `backend` (by default its kind's: ort-cpu for ONNX, tensorrt for plans) over
the same validation images; the reference runs on `reference_backend` (by default the same
runtime when it runs the reference's kind of artifact). Per model: top-1, top-5, top-1
agreement with the reference, logit cosine (per image, averaged) and the top-1 drop in
points with its 95% interval from the paired outcomes (compare/paired.py). A model fails
when its drop exceeds its limit: `max_drop` when given, else the default for its precision
(DEFAULT_MAX_DROP, measured: docs/precision.md); a drop within the limit whose interval
reaches past it is "inconclusive", with a line saying about how many images would decide
(docs/validate.md). `record=True` writes the figures, the runtime and the CPU into each
model's sidecar.
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
from pydantic import ValidationError

from resnet_deploy.backends.registry import artifact_kind, default_backend, get_backend, open_runner
from resnet_deploy.compare.comparator import Comparator, RunResult
from resnet_deploy.compare.inputs import load_inputs
from resnet_deploy.compare.paired import paired_drop
from resnet_deploy.compare.targets import Target, check_same_model, comparison_spec, describe_target
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.export.onnx_record import ONNX_KIND, OnnxSidecar
from resnet_deploy.export.plan_record import PLAN_KIND, PlanSidecar, parse_plan_sidecar
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.render import Column
from resnet_deploy.sidecar import AccuracyRecord, artifact_meta, sha256_file, write_sidecar
from resnet_deploy.topk import top_k_hits

log = logging.getLogger(__name__)

# Largest top-1 drop (points) a model of each precision may show against its FP32 reference.
# BF16 and FP8 from benchmarks/results/cpu-2core/tolerances.bf16_fp8.*.md and
# precision_accuracy.*.md: BF16 dropped 0.00 points (digits), FP8 1.11-1.39 (digits, 360
# images: 4-5 of them) with max calibration; FP8's limit leaves that margin.
DEFAULT_MAX_DROP = {"fp32": 0.1, "fp16": 0.2, "bf16": 0.5, "int8": 1.0, "fp8": 2.0}


@dataclass(frozen=True)
class ModelAccuracy:
    model: str
    backend: str
    precision: str
    top1: float  # percent
    top5: float  # percent
    top1_agreement: float  # percent of images whose top-1 matches the reference
    cosine: float  # mean per-image cosine of logits vs the reference
    min_cosine: float
    drop: float  # reference top-1 minus this top-1, in points
    max_drop: float | None  # the limit this model was judged by (None for the reference)
    passed: bool  # drop <= max_drop (the point estimate)
    drop_low: float = 0.0  # 95% interval of the drop, points (Tango's paired score interval)
    drop_high: float = 0.0
    lost: int = 0  # images the reference gets right and this model wrong
    gained: int = 0  # images this model gets right and the reference wrong
    verdict: str = "-"  # pass (interval within the limit), inconclusive (interval straddles it), fail
    images_needed: int | None = None  # about how many images would resolve the limit, when these cannot
    resolution: str | None = None  # the line saying so


@dataclass
class AccuracyReport:
    dataset: str
    split: str
    samples: int
    reference: ModelAccuracy
    models: list[ModelAccuracy]
    machine: JsonObject
    failures: list[str] = field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        """One line per model whose limit these images cannot resolve."""
        return [f"{Path(m.model).name}: {m.resolution}" for m in self.models if m.resolution]

    def __bool__(self) -> bool:
        return not self.failures

    @classmethod
    def from_dict(cls, data: JsonObject) -> AccuracyReport:
        """The report `to_dict` wrote (`resnet-deploy pipeline` keeps one in pipeline.json)."""
        return cls(data["dataset"], data["split"], data["samples"], ModelAccuracy(**data["reference"]),
                   [ModelAccuracy(**m) for m in data["models"]], dict(data.get("machine") or {}),
                   list(data.get("failures") or []))

    def to_dict(self) -> JsonObject:
        return {"dataset": self.dataset, "split": self.split, "samples": self.samples, "machine": self.machine,
                "passed": bool(self), "failures": list(self.failures), "notes": self.notes,
                "interval": "95% Tango score interval on paired outcomes", "reference": asdict(self.reference),
                "models": [asdict(m) for m in self.models]}


# The gate: FAIL when the drop exceeds the limit; "ok" when its whole 95% interval is within;
# "ok (inconclusive)" when the drop is within but the interval reaches past the limit.
VERDICTS = {"pass": "ok", "inconclusive": "ok (inconclusive)", "fail": "FAIL"}


def report_table(report: AccuracyReport) -> tuple[list[Column], list[list[Any]]]:
    """The table of a report, one row per model (the reference first): the terminal report
    and the pipeline's Markdown report show the same columns, limits and results."""
    columns = [Column("model"), Column("backend"), Column("precision"), Column("top-1 %", ".2f"),
               Column("top-5 %", ".2f"), Column("agreement %", ".2f"), Column("mean cosine", ".5f"),
               Column("drop (points)", "+.2f"), Column("95% CI"), Column("limit", ".2f"), Column("result")]
    rows: list[list[Any]] = [[Path(report.reference.model).name, report.reference.backend, report.reference.precision,
                              report.reference.top1, report.reference.top5, None, None, None, None, None, "reference"]]
    rows += [[Path(m.model).name, m.backend, m.precision, m.top1, m.top5, m.top1_agreement, m.cosine, m.drop,
              f"{m.drop_low:+.2f} to {m.drop_high:+.2f}", m.max_drop, VERDICTS.get(m.verdict, m.verdict)]
             for m in report.models]
    return columns, rows


def render_report(report: AccuracyReport) -> str:
    """The report as people read it: one row per model (the reference first), then the notes."""
    from resnet_deploy.render import render_table

    machine = report.machine
    cpu = str(machine.get("cpu", "?")) + (f" ({machine['isa']})" if machine.get("isa") else "")
    lines = [f"{report.dataset} ({report.split}, {report.samples} images); models on {machine['backend']}, reference on "
             f"{machine['reference_backend']}; CPU {cpu}", ""]
    lines.append(render_table(*report_table(report)))
    lines += report.notes
    return "\n".join(lines)


def _logits(result: RunResult) -> np.ndarray:
    logits = result.outputs.get("logits")
    if logits is None and len(result.outputs) == 1:
        logits = next(iter(result.outputs.values()))
    if logits is None or logits.ndim != 2:
        raise InvalidInputError(f"{result.label} outputs {sorted(result.outputs)}; accuracy needs classification "
                                "logits (N, classes)")
    return logits


def _topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    return float(np.mean(top_k_hits(logits, labels, k)) * 100)


def _row_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    norms = np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)
    return np.where(norms > 0, np.sum(a64 * b64, axis=1) / np.maximum(norms, 1e-300), 1.0)


def _measure(target: Target, logits: np.ndarray, labels: np.ndarray, ref_logits: np.ndarray, ref_top1: float,
             max_drop: float | None) -> ModelAccuracy:
    if logits.shape != ref_logits.shape:
        raise InvalidInputError(f"'{target.source}' outputs {logits.shape}, the reference {ref_logits.shape}: not the "
                                "same model")
    top1 = _topk_accuracy(logits, labels, 1)
    cosines = _row_cosine(ref_logits, logits)
    agreement = float(np.mean(ref_logits.argmax(-1) == logits.argmax(-1)) * 100)
    paired = paired_drop(ref_logits.argmax(-1) == labels, logits.argmax(-1) == labels, max_drop)
    return ModelAccuracy(target.source, target.backend, target.judged_precision, top1,
                         _topk_accuracy(logits, labels, 5), agreement, float(cosines.mean()), float(cosines.min()),
                         paired.drop, max_drop, max_drop is None or paired.drop <= max_drop, paired.low, paired.high,
                         paired.lost, paired.gained, paired.verdict, paired.images_needed, paired.resolution_note())


def machine() -> JsonObject:
    """The CPU (model and instruction set) the figures were measured on: INT8 numerics
    differ between CPUs with and without VNNI, BF16 speed with and without native BF16."""
    from resnet_deploy.cpu_isa import detect_isa
    from resnet_deploy.environment import cpu_model

    isa = detect_isa()
    return {"cpu": cpu_model(), "isa": isa.name, "vnni": isa.vnni, "bf16": isa.bf16}


def evaluate_accuracy(models: Sequence[str | os.PathLike[str]], *, dataset: str, reference: str | os.PathLike[str],
                      backend: str | None = None, reference_backend: str | None = None,
                      data_dir: str | os.PathLike[str] | None = None, limit: int | None = None,
                      max_drop: float | None = None, batch_size: int = 64, threads: int | None = None,
                      record: bool = True, precision: str | None = None,
                      input_size: tuple[int, int] | None = None) -> AccuracyReport:
    """Evaluate `models` on `backend` and `reference` on `reference_backend` over the
    validation split of `dataset` (a dataset name or an .npz with x and labels). `max_drop`
    (top-1 points) overrides the per-precision defaults. `precision` is a run precision
    `backend` computes the models in (bf16 on OpenVINO); each model is named and judged by the
    precision that really ran (read back from its runner). With `record`, each model's
    sidecar (when it has one that matches it) gets an "accuracy" entry. `input_size` (H, W)
    is the size images are fed at when the models' height/width are dynamic."""
    if not models:
        raise InvalidInputError("give at least one model to evaluate", param="models")
    if max_drop is not None and not 0 <= max_drop < float("inf"):
        raise InvalidInputError(f"`max_drop` must be a finite number of points >= 0, got {max_drop}", param="max_drop")
    if batch_size < 1:
        raise InvalidInputError(f"`batch_size` must be positive, got {batch_size}", param="batch_size")
    backend = backend or default_backend(artifact_kind(os.fspath(models[0])))
    targets = [describe_target(m, backend) for m in models]
    for target in targets:
        target.ask_precision(precision)
    ref_kind = artifact_kind(os.fspath(reference))
    if reference_backend is None:
        reference_backend = backend if get_backend(backend).artifact == ref_kind else default_backend(ref_kind)
    ref = describe_target(reference, reference_backend)
    for target in targets:
        check_same_model(target, ref)
    spec = comparison_spec(ref, targets[0], input_size)
    inputs = load_inputs(dataset, spec, data_dir=data_dir, limit=limit)
    labels = inputs.labels
    if labels is None:
        raise InvalidInputError(f"'{dataset}' has no labels; accuracy needs labelled images", param="dataset")
    log.info("evaluating %d model(s) on %d images of %s", len(targets), inputs.samples, dataset)
    runs = [(os.path.realpath(t.source), t.backend, t.run_precision) for t in [ref, *targets]]
    if len(set(runs)) != len(runs):
        raise InvalidInputError("the same model is named twice (or is the reference) on the same backend; name each "
                                "model once", param="models")
    # Keys by position: two models may share a file name in different folders.
    ref_label = f"reference: {ref.label}"
    runners = {ref_label: open_runner(ref.backend, ref.source, ref.run_options(threads, spec))}
    keys = [f"model {i}: {target.label}" for i, target in enumerate(targets)]
    for key, target in zip(keys, targets, strict=True):
        runners[key] = open_runner(target.backend, target.source, target.run_options(threads, spec))
    results = {r.label: r for r in Comparator.run(runners, inputs, (batch_size,))}
    ref.learn_ran(results[ref_label].runner)
    for key, target in zip(keys, targets, strict=True):
        target.learn_ran(results[key].runner)
    ref_logits = _logits(results[ref_label])
    if labels.min() < 0 or labels.max() >= ref_logits.shape[1]:
        raise InvalidInputError(f"labels range {labels.min()}..{labels.max()} does not fit the model's "
                                f"{ref_logits.shape[1]} classes: wrong dataset for this model?", param="dataset")
    ref_top1 = _topk_accuracy(ref_logits, labels, 1)
    ref_row = _measure(ref, ref_logits, labels, ref_logits, ref_top1, None)
    rows = []
    for key, target in zip(keys, targets, strict=True):
        limit_points = max_drop if max_drop is not None else DEFAULT_MAX_DROP.get(target.judged_precision, 0.0)
        rows.append(_measure(target, _logits(results[key]), labels, ref_logits, ref_top1, limit_points))
    failures = [f"{Path(r.model).name}: top-1 drop {r.drop:.2f} points (95% CI {r.drop_low:+.2f} to "
                f"{r.drop_high:+.2f}) > {r.max_drop:g} ({r.precision} limit)" for r in rows if not r.passed]
    described = {"backend": backend, "reference_backend": reference_backend,
                 "runner": results[keys[0]].runner, **machine()}
    report = AccuracyReport(inputs.description.get("dataset", dataset), inputs.description.get("split", "given"),
                            inputs.samples, ref_row, rows, described, failures)
    if record:
        _record(report, ref)
    return report


def _record(report: AccuracyReport, ref: Target) -> None:
    """Add the measured figures to each evaluated model's sidecar (models without a sidecar
    that matches their bytes, or whose sidecar does not read as its kind's, are left alone)."""
    when = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    for row in report.models:
        path = Path(row.model)
        if not path.is_file():
            continue
        try:
            meta = artifact_meta(path, required=False)
            if meta is None or meta.kind not in (ONNX_KIND, PLAN_KIND):
                continue
            record: OnnxSidecar | PlanSidecar = (meta.as_kind(OnnxSidecar) if meta.kind == ONNX_KIND
                                                 else parse_plan_sidecar(meta))
        except (InvalidInputError, ValidationError):
            continue
        record.accuracy = AccuracyRecord(
            dataset=report.dataset, split=report.split, samples=report.samples, top1=round(row.top1, 3),
            top5=round(row.top5, 3), top1_agreement=round(row.top1_agreement, 3), cosine=round(row.cosine, 6),
            drop_points=round(row.drop, 3), max_drop=row.max_drop, passed=row.passed,
            drop_ci95=[round(row.drop_low, 3), round(row.drop_high, 3)], verdict=row.verdict, reference=ref.source,
            reference_sha256=sha256_file(ref.source) if Path(ref.source).is_file() else None, measured=when,
            backend=row.backend, machine=report.machine)
        write_sidecar(path, record)
