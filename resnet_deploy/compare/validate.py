"""`validate`: does this artifact, on this runtime, give the answers of the model it came from?

MODEL and its reference are each an ONNX model, a TensorRT plan, a checkpoint or a model
name, each run by any backend that runs that kind of artifact. By default the reference is
what MODEL's metadata records (an ONNX model's checkpoint, or the seeded network an untrained
export holds; a plan's source ONNX model) and each side runs on its artifact's natural
runtime. The same inputs (seeded random, a dataset split or an .npz) go to both; MODEL runs at
each requested batch size (so a dynamic batch axis is really exercised), and every output is
judged with the tolerances of the less exact of the two precisions.

    report = validate("r20.int8.onnx", backend="openvino", reference="r20.onnx")
    if not report: print(report.failures())

`reference` may also be a saved-outputs file (compare/saved_outputs.py): its inputs are fed to
MODEL and its outputs are the reference, so a GPU machine checks what a CPU machine recorded;
`save_outputs` writes one. `per_layer` compares every Conv/Gemm output of the two sides and
names the first divergent layer (compare/per_layer.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from resnet_deploy.backends.registry import get_backend, open_runner, require_available
from resnet_deploy.compare.comparator import (
    CHUNK,
    Comparator,
    ComparisonReport,
    PairComparison,
    RunResult,
)
from resnet_deploy.compare.inputs import ComparisonInputs, load_inputs
from resnet_deploy.compare.per_layer import LayerSide, LayerTap, PerLayerReport, compare_sides
from resnet_deploy.compare.saved_outputs import (
    SavedOutputs,
    check_identity,
    is_saved_outputs,
    load_saved_outputs,
)
from resnet_deploy.compare.saved_outputs import (
    save_outputs as write_saved_outputs,
)
from resnet_deploy.compare.stats import Tolerance, lower_precision
from resnet_deploy.compare.targets import (
    Target,
    check_same_model,
    comparison_spec,
    default_reference,
    describe_target,
)
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.jsontypes import JsonObject

log = logging.getLogger(__name__)

PER_LAYER_SAMPLES = 4


@dataclass
class ValidationReport:
    """Truthy when every output at every batch size (and every layer, with per_layer) passes."""

    model: Target
    reference: Target | JsonObject  # a saved-outputs reference: its description
    tolerance: Tolerance
    inputs: JsonObject  # ComparisonInputs.description
    comparisons: list[PairComparison]
    reference_accuracy: float | None = None
    per_layer: PerLayerReport | None = None
    runners: dict[str, JsonObject] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    judged_precision: str | None = None  # the precision whose limits judged the pair

    @property
    def passed(self) -> bool:
        return bool(ComparisonReport(self.comparisons)) and (self.per_layer is None or bool(self.per_layer))

    def __bool__(self) -> bool:
        return self.passed

    @property
    def precision(self) -> str:
        return self.judged_precision or self.model.judged_precision

    def failures(self) -> list[str]:
        lines = [f"batch {p.batch_size}, {name}: {'; '.join(c.failures)}"
                 for p in self.comparisons for name, c in p.outputs.items() if not c]
        if self.per_layer is not None and self.per_layer.disturbed:
            lines += [f"per layer: not judged: {why}" for why in self.per_layer.disturbed]
        if self.per_layer is not None and self.per_layer.first_divergent is not None:
            first = self.per_layer.first_divergent
            lines.append(f"first divergent layer: {first.reference_layer} ({self.per_layer.candidate}: "
                         f"{first.candidate_layer}): "
                         f"{'; '.join(first.comparison.failures)}")
        return lines

    def to_dict(self) -> JsonObject:
        return {"model": self.model.describe(), "reference": self.reference.describe() if isinstance(self.reference, Target) else self.reference, "passed": self.passed,
                "precision": self.precision, "tolerance": asdict(self.tolerance), "inputs": self.inputs,
                "reference_accuracy": self.reference_accuracy, "runners": self.runners,
                "comparisons": [c.to_dict() for c in self.comparisons],
                "per_layer": self.per_layer.to_dict() if self.per_layer is not None else None,
                "failures": self.failures(), "notes": self.notes}


def render_report(report: ValidationReport) -> str:
    """The report as people read it: what was compared with what, the limits, one row per
    batch and output, then notes."""
    from resnet_deploy.render import Column, render_table

    data = report.to_dict()
    model, reference, tolerance = data["model"], data["reference"], data["tolerance"]
    lines = [f"{model['source']} ({model['precision']}) on {model['backend']}  vs  {reference['source']} "
             f"({reference['precision']}) on {reference['backend']}",
             f"inputs: {_inputs(data['inputs'])}",
             f"limits ({report.precision}): max error <= {tolerance['max_error']:g} x the reference's RMS, "
             f"cosine >= {tolerance['min_cosine']}, top-1 agreement >= {tolerance['min_top1']:.1%}", ""]
    columns = [Column("batch"), Column("output"), Column("max abs", ".3g"), Column("max error / RMS", ".3g"),
               Column("cosine", ".6f"), Column("top-1 agree", ".2%"), Column("top-5 agree", ".2%"),
               Column("top-1 accuracy", ".2%"), Column("result")]
    rows = [[pair.batch_size, name, c.max_abs, c.max_error, c.cosine, c.top1_agreement, c.top5_agreement,
             pair.accuracy, "pass" if c else "FAIL"]
            for pair in report.comparisons for name, c in pair.outputs.items()]
    lines.append(render_table(columns, rows))
    if report.reference_accuracy is not None:
        lines.append(f"reference top-1 accuracy on these images: {report.reference_accuracy:.2%}")
    if report.per_layer is not None:
        layers = report.per_layer
        first = layers.first_divergent
        lines.append(f"per layer: {layers.candidate} against {layers.reference}")
        if layers.disturbed:
            lines += [f"per layer: NOT JUDGED: {why}" for why in layers.disturbed]
        elif first is None:
            lines.append(f"per layer: all {len(layers.layers)} paired layers agree")
        else:
            lines.append(f"per layer: first divergent layer is {first.reference_layer} ({first.candidate_layer}, "
                         f"{first.op}): max error {first.comparison.max_error:.3g}, cosine {first.comparison.cosine:.6f}")
        if layers.unmatched_candidate:
            lines.append(f"per layer: {len(layers.unmatched_candidate)} layers not paired: "
                         f"{', '.join(layers.unmatched_candidate[:5])}")
        lines += [f"per layer: {note}" for note in layers.notes]
    lines += [f"note: {note}" for note in report.notes]
    lines.append("PASS" if report else "FAIL")
    return "\n".join(lines)


def _inputs(inputs: JsonObject) -> str:
    if inputs["kind"] == "dataset":
        return f"{inputs['samples']} {inputs['dataset']} {inputs['split']} images"
    if inputs["kind"] == "npz":
        return f"{inputs['samples']} inputs from {inputs['path']}"
    return f"{inputs['samples']} random inputs (seed {inputs['seed']})"


def _check_batch_sizes(batch_sizes: Sequence[int]) -> list[int]:
    sizes = [int(b) for b in batch_sizes]
    if not sizes or any(b < 1 for b in sizes):
        raise InvalidInputError(f"`batch_sizes` must be positive integers, got {list(batch_sizes)}", param="batch_sizes")
    return sizes


def validate(model: str | os.PathLike[str], *, backend: str | None = None, reference: str | os.PathLike[str] | None = None,
             reference_backend: str | None = None, dataset: str | None = None,
             data_dir: str | os.PathLike[str] | None = None, random: int | None = None, limit: int | None = None,
             batch_sizes: Sequence[int] = (1, 8), tolerance: Tolerance | None = None, per_layer: bool = False,
             threads: int | None = None, seed: int = 0, precision: str | None = None,
             input_size: tuple[int, int] | None = None, max_error: float | None = None,
             min_cosine: float | None = None, min_top1: float | None = None,
             save_outputs: str | os.PathLike[str] | None = None, layer_taps: Mapping[str, LayerTap] | None = None,
             progress: Callable[[str], None] | None = None) -> ValidationReport:
    """Compare `model` on `backend` with `reference` on `reference_backend`; see the module
    docstring. `dataset` is a dataset name or an .npz path (else `random` seeded inputs);
    `input_size` (H, W) is the size fed to a model whose height/width are dynamic.
    `precision` is a run precision `backend` computes the model in (bf16 on OpenVINO or
    torch). The limits are `tolerance`, else the defaults of the less exact of what the two
    sides really ran (read back from the runners), with `max_error`, `min_cosine` and
    `min_top1` replacing the ones given.
    `save_outputs`: write MODEL's inputs and outputs there. `layer_taps`: per-layer runners
    by backend for sides this layer cannot open itself (TensorRT's debug build)."""
    sizes = _check_batch_sizes(batch_sizes)
    notes: list[str] = []
    target = describe_target(model, backend)
    target.ask_precision(precision)
    if reference is not None and is_saved_outputs(reference):
        if reference_backend is not None or dataset is not None or random is not None or per_layer:
            raise InvalidInputError("a saved-outputs reference brings its own inputs and outputs: drop "
                                    "`reference_backend`, `dataset`, `random` and `per_layer`", param="reference")
        return _against_saved(target, load_saved_outputs(reference), sizes, tolerance, max_error, min_cosine, min_top1, threads,
                              limit, save_outputs, notes, progress)
    ref_kwargs: dict[str, Any] = {}
    if reference is None:
        reference, ref_kwargs = default_reference(target, notes)
    ref = describe_target(reference, reference_backend, ref_kwargs or None)
    ref.features = ref.features or target.features
    require_available(target.backend)
    require_available(ref.backend)
    check_same_model(target, ref)
    if os.path.realpath(target.source) == os.path.realpath(ref.source) and target.backend == ref.backend:
        raise InvalidInputError("the model and its reference are the same artifact on the same backend; name another "
                                "`backend` or `reference`", param="reference")
    spec = comparison_spec(target, ref, input_size)
    inputs = load_inputs(dataset, spec, data_dir=data_dir, limit=limit, random=random, seed=seed)

    # Keyed by role, not by file name: the two sides may share a name in different folders.
    labels = {"model": f"model: {target.label}", "reference": f"reference: {ref.label}"}
    runners = {labels["reference"]: open_runner(ref.backend, ref.source, ref.run_options(threads, spec)),
               labels["model"]: open_runner(target.backend, target.source, target.run_options(threads, spec))}
    results = Comparator.run(runners, inputs, {labels["reference"]: (CHUNK,), labels["model"]: sizes},
                             progress=progress)
    for result in results:
        notes.extend(n for n in result.notes if n not in notes)
    by_label = {r.label: r for r in results}
    target.learn_ran(by_label[labels["model"]].runner)
    ref.learn_ran(by_label[labels["reference"]].runner)
    if target.run_precision and target.ran_precision and target.ran_precision != target.run_precision:
        notes.append(f"asked {target.backend} for {target.run_precision}; it ran {target.ran_precision}")
    judged = lower_precision(target.judged_precision, ref.judged_precision)
    tolerance = (tolerance or Tolerance.for_precision(judged)).overridden(
        max_error=max_error, min_cosine=min_cosine, min_top1=min_top1)
    compared = Comparator.compare(results, reference=labels["reference"], tolerance=tolerance, labels=inputs.labels)
    ref_result = next(r for r in results if r.label == labels["reference"])
    described = {r.label: r.runner for r in results}

    layer_report = None
    if per_layer:
        layer_report = _per_layer(target, ref, inputs.x, tolerance, threads, layer_taps or {})
    if save_outputs is not None:
        model_result = next(r for r in results if r.label == labels["model"])
        write_saved_outputs(save_outputs, target, inputs.x, inputs.labels, model_result.outputs)
        notes.append(f"saved the inputs and {target.label}'s outputs to {save_outputs}")
    report = ValidationReport(target, ref, tolerance, {**inputs.description},
                              compared.pairs, ref_result.top1_accuracy(inputs.labels), layer_report, described, notes,
                              judged)
    log.info("validation of %s: %s", target.source, "passed" if report else "FAILED")
    return report


def _against_saved(target: Target, saved: SavedOutputs, sizes: list[int], tolerance: Tolerance | None,
                   max_error: float | None, min_cosine: float | None,
                   min_top1: float | None, threads: int | None, limit: int | None,
                   save_outputs: str | os.PathLike[str] | None, notes: list[str],
                   progress: Callable[[str], None] | None) -> ValidationReport:
    """MODEL on the saved inputs, against the saved outputs (refused unless related by identity)."""
    require_available(target.backend)
    check_identity(saved, target)
    x, labels, outputs = saved.x, saved.labels, saved.outputs
    if limit is not None:
        x, labels = x[:limit], None if labels is None else labels[:limit]
        outputs = {name: value[:limit] for name, value in outputs.items()}
    inputs = ComparisonInputs(x, labels, {"kind": "npz", "path": saved.path, "samples": len(x)})
    spec = target.input_spec
    label = f"model: {target.label}"
    runner = open_runner(target.backend, target.source, target.run_options(threads, spec))
    results = Comparator.run({label: runner}, inputs, {label: sizes}, progress=progress)
    for result in results:
        notes.extend(n for n in result.notes if n not in notes)
    ref_label = f"reference: {saved.label}"
    recorded = RunResult(ref_label, len(x), dict(outputs), {"backend": saved.backend, **saved.recorded}, 0.0)
    target.learn_ran(results[0].runner)
    judged = lower_precision(target.judged_precision, saved.identity.precision)
    tolerance = (tolerance or Tolerance.for_precision(judged)).overridden(
        max_error=max_error, min_cosine=min_cosine, min_top1=min_top1)
    compared = Comparator.compare([recorded, *results], reference=ref_label, tolerance=tolerance, labels=labels)
    notes.append(f"reference: outputs of {saved.identity.source} on {saved.backend}, recorded on "
                 f"{saved.recorded.get('host')} by resnet-deploy {saved.recorded.get('toolkit_version')}")
    if save_outputs is not None:
        write_saved_outputs(save_outputs, target, x, labels, results[0].outputs)
    reference = {"source": saved.path, "kind": "saved outputs", "backend": saved.backend,
                 "precision": saved.identity.precision, "architecture": saved.identity.architecture,
                 "recorded_from": saved.identity.to_dict()}
    report = ValidationReport(target, reference, tolerance, {**inputs.description}, compared.pairs,
                              recorded.top1_accuracy(labels), None, {r.label: r.runner for r in results}, notes,
                              judged)
    log.info("validation of %s against %s: %s", target.source, saved.path, "passed" if report else "FAILED")
    return report


def _layer_side(side: Target, x: np.ndarray, threads: int | None, taps: Mapping[str, LayerTap],
                role: str) -> LayerSide:
    """The per-layer outputs of one side: PyTorch hooks for a checkpoint or model name, extra
    graph outputs for an ONNX model (on its runtime), a debug build of the plan's source model
    for a TensorRT plan (through `taps["tensorrt"]`)."""
    from resnet_deploy.compare.per_layer import onnx_side, runner_tap, torch_side
    from resnet_deploy.export.loader import load_onnx_model

    label = f"{role} {Path(side.source).name} on {side.backend}"
    if side.kind == "checkpoint":
        if not get_backend(side.backend).eager_modules:
            raise InvalidInputError(f"per-layer comparison hooks PyTorch modules in eager mode; run the {role} on "
                                    f"backend torch, not {side.backend}", param="per_layer")
        from resnet_deploy.model_source import load_model_source

        if Path(side.source).exists():
            source = load_model_source(checkpoint=side.source)
        else:
            source = load_model_source(model=side.source, **{k: v for k, v in side.model_kwargs.items()
                                                              if k in ("num_classes", "in_channels")})
        return torch_side(source.model, x, label)
    if side.kind == "plan":
        from resnet_deploy.sidecar import resolve_recorded

        tap = taps.get(side.backend)
        if tap is None:
            raise InvalidInputError("per-layer comparison of a TensorRT plan builds a debug engine with every layer "
                                    "output marked; that runner comes from the TensorRT layer (the CLI passes it: "
                                    "`layer_taps`)", param="per_layer")
        recorded = (side.meta.get("source_onnx") or {}).get("path")
        onnx_path = resolve_recorded(str(recorded), side.source) if recorded else None
        if onnx_path is None or not onnx_path.is_file():
            raise InvalidInputError(f"per-layer comparison of '{side.source}' needs the ONNX model it was built from, "
                                    f"which its sidecar records as {recorded!r} and is not there", param="per_layer")
        # A plan's debug engine differs from the plan by design (marked outputs stop fusions; the
        # note says so), and a second engine build to check that would cost minutes: no check.
        result = onnx_side(load_onnx_model(onnx_path), x, tap, label, check_unchanged=False)
        result.notes.append(f"{role}: a debug TensorRT engine built from {onnx_path.name} with every Conv/Gemm output "
                            "marked as a network output; marking an output stops TensorRT fusing that layer with "
                            "the next, so this engine is not the plan itself: a divergence caused only by a fusion "
                            "can hide from it")
        return result
    tap = taps.get(side.backend) or runner_tap(side.backend, threads)
    return onnx_side(load_onnx_model(side.source), x, tap, label)


def _per_layer(target: Target, ref: Target, x: np.ndarray, tolerance: Tolerance, threads: int | None,
               taps: Mapping[str, LayerTap]) -> PerLayerReport:
    """Every Conv/Gemm output of MODEL against the reference's, on their own runtimes."""
    batches = []
    for side in (target, ref):
        recorded = str((side.meta.get("props") or {}).get("batch", "")) if side.kind == "onnx" else ""
        if recorded.isdigit():
            batches.append(int(recorded))
        elif side.kind == "plan":
            low, _, high = _plan_batch_range(side)
            if low == high:
                batches.append(low)
    fixed = set(batches)
    if len(fixed) > 1:
        raise InvalidInputError(f"per-layer: the two sides take different fixed batches {sorted(fixed)}")
    batch = fixed.pop() if fixed else 0  # a fixed batch, or 0 for dynamic ones
    sample = x[:batch] if batch else x[:PER_LAYER_SAMPLES]
    if batch and len(sample) < batch:
        raise InvalidInputError(f"per-layer comparison of a fixed-batch model needs at least {batch} inputs, got {len(x)}")
    reference = _layer_side(ref, sample, threads, taps, "reference")
    candidate = _layer_side(target, sample, threads, taps, "model")
    report = compare_sides(reference, candidate, tolerance)
    if target.run_precision:
        report.notes.append(f"the layer outputs come from each side's own precision: the run precision "
                            f"{target.run_precision} asked of the model is not applied to them")
    return report


def _plan_batch_range(side: Target) -> tuple[int, int, int]:
    profile = side.meta.get("profile") or {}
    first = next(iter(profile.values()), None) if isinstance(profile, dict) else None
    if not isinstance(first, dict):
        return (1, 0, 0)
    return (int(first["min"][0]), int(first["opt"][0]), int(first["max"][0]))


def validate_onnx(model_path: str | os.PathLike[str], *, checkpoint: str | os.PathLike[str] | None = None,
                  dataset: str | None = None, data_dir: str | os.PathLike[str] | None = None, random: int | None = None,
                  backend: str | None = None, batch_sizes: Sequence[int] = (1, 8), tolerance: Tolerance | None = None,
                  per_layer: bool = False, limit: int | None = None, threads: int | None = None) -> ValidationReport:
    """An ONNX model on onnxruntime (or `backend`) against its PyTorch source: `checkpoint`,
    or the one recorded in the model (see `validate`)."""
    return validate(model_path, backend=backend, reference=checkpoint, dataset=dataset, data_dir=data_dir,
                    random=random, limit=limit, batch_sizes=batch_sizes, tolerance=tolerance, per_layer=per_layer,
                    threads=threads)
