"""`resnet-deploy inspect r50_int8.plan`: what a plan is and which precision each layer got.

Read from the plan's sidecar, which the builder filled from TensorRT's engine inspector, so
the report works on any machine (no TensorRT, no GPU needed). When TensorRT is installed the
report also says whether the plan can run here (same checks as loading it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.runtime.inspector import EngineReport, LayerReport
from resnet_deploy.runtime.plan_meta import PlanSidecar, check_compatibility, load_plan_meta


def _runs_here(meta: PlanSidecar) -> JsonObject:
    from resnet_deploy.errors import MissingDependencyError
    from resnet_deploy.optional import tensorrt_module

    trt = tensorrt_module()
    if trt is None:
        return {"checked": False, "reason": "TensorRT is not installed here"}
    try:
        from resnet_deploy.runtime.cuda import gpu_properties

        gpu = gpu_properties(0)
    except MissingDependencyError as exc:
        return {"checked": False, "reason": str(exc)}
    result = check_compatibility(meta, tensorrt_version=str(trt.__version__), gpu_name=gpu.name,
                                 gpu_cc=gpu.compute_capability)
    return {"checked": True, "ok": bool(result), "problems": list(result.problems), "warnings": list(result.warnings)}


def plan_report(path: str | os.PathLike[str]) -> JsonObject:
    """The plan's build facts and per-layer report as a JSON-ready dict (exit 2 for a
    missing, corrupt or hand-edited plan or sidecar)."""
    path = Path(path)
    meta = load_plan_meta(path)
    engine = EngineReport.from_record(meta.layers) if meta.layers is not None else EngineReport((), (), False)
    return {
        "plan": str(path),
        "size_bytes": path.stat().st_size,
        "tensorrt_version": meta.tensorrt_version,
        "gpu": meta.gpu.model_dump(exclude_none=True),
        "version_compatible": meta.version_compatible,
        "hardware_compatibility": meta.hardware_compatibility,
        "precision": meta.precision,
        "precision_step": meta.precision_step,
        "architecture": meta.architecture,
        "input_spec": meta.input_spec,
        "source_onnx": meta.source_onnx,
        "profile": {name: shapes.model_dump() for name, shapes in meta.profile.items()},
        "io_tensors": [tensor.model_dump() for tensor in meta.io_tensors],
        "build_seconds": meta.build_seconds,
        "created": meta.created,
        "precision_check": meta.precision_check,
        "precision_counts": engine.precision_counts(),
        "convolution_precision_counts": engine.precision_counts(convolutions_only=True),
        "layers": [_row(layer) for layer in engine.layers],
        "runs_here": _runs_here(meta),
    }


def _row(layer: LayerReport) -> JsonObject:
    return {"name": layer.name, "type": layer.layer_type, "precision": layer.precision,
            "convolution": layer.is_convolution, "tactic": layer.tactic}


def _short(text: Any, width: int) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= width else text[: width - 3] + "..."


def format_plan_report(report: JsonObject, *, max_layers: int | None = None) -> str:
    """The report as text for people: facts, profile, I/O, precision summary, layer table."""
    from resnet_deploy.render import Column, render_table

    gpu = report.get("gpu") or {}
    lines = [f"plan: {report['plan']} ({report.get('size_bytes', 0) / 1e6:.1f} MB)",
             f"TensorRT {report.get('tensorrt_version')} on {gpu.get('name', '?')} (compute capability "
             f"{gpu.get('compute_capability', '?')}); version-compatible: {bool(report.get('version_compatible'))}; "
             f"hardware compatibility: {report.get('hardware_compatibility') or 'none'}",
             f"precision: {report.get('precision')} (read from the ONNX graph)"
             + (f"; precision step: {report['precision_step'].get('ran')}" if report.get("precision_step") else "")]
    if report.get("architecture"):
        lines.append(f"model: {report['architecture']}")
    if report.get("source_onnx"):
        lines.append(f"built from: {report['source_onnx'].get('path')} (sha256 {str(report['source_onnx'].get('sha256'))[:12]})")
    for name, shapes in (report.get("profile") or {}).items():
        lines.append(f"profile {name}: min {shapes.get('min')}  opt {shapes.get('opt')}  max {shapes.get('max')}")
    for tensor in report.get("io_tensors") or []:
        lines.append(f"{tensor.get('mode')} {tensor.get('name')}: {tensor.get('dtype')} {tensor.get('shape')}")
    check = report.get("precision_check") or {}
    if check:
        status = "ok" if check.get("ok") else "FAILED"
        lines.append(f"precision check: {status}: {check.get('matching')}/{check.get('convolutions')} convolutions in "
                     f"{check.get('expected')}" + (f" ({check['note']})" if check.get("note") else ""))
    counts = report.get("convolution_precision_counts") or {}
    if counts:
        lines.append("convolutions by precision: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    runs = report.get("runs_here") or {}
    if runs.get("checked"):
        lines.append("runs here: yes" if runs.get("ok") else f"runs here: NO: {'; '.join(runs.get('problems', []))}")
    elif runs:
        lines.append(f"runs here: not checked ({runs.get('reason')})")
    layers = report.get("layers") or []
    shown = layers if max_layers is None else layers[:max_layers]
    if shown:
        rows = [[i, _short(layer["name"], 60), _short(layer["type"], 22), layer.get("precision") or "?",
                 "yes" if layer.get("convolution") else "no", _short(layer.get("tactic"), 48)]
                for i, layer in enumerate(shown)]
        columns = [Column("#", "d"), Column("layer"), Column("type"), Column("precision"), Column("convolution"),
                   Column("tactic")]
        lines += ["", render_table(columns, rows)]
        if len(shown) < len(layers):
            lines.append(f"... {len(layers) - len(shown)} more layers (the JSON report has all)")
    return "\n".join(lines)
