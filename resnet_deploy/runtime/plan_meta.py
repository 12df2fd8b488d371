"""A plan's sidecar, and the checks that run BEFORE TensorRT deserializes the plan.

A plan is only valid for the TensorRT version and the GPU it was built for (unless built
version- or hardware-compatible). Deserializing a mismatched plan gives a long TensorRT
error or a crash; reading the sidecar first gives one clear line (exit 2) saying what was
built for what and how to rebuild. The checks are pure functions, unit-tested without a GPU.

Rules (TensorRT's engine-compatibility documentation):
- version: by default the runtime must be the exact TensorRT version that built the plan
  (major.minor.patch compared). A version-compatible plan runs on the same or a later
  runtime of the same major version, and a 10.x one also on 11.x; never on an older runtime.
- hardware: by default the GPU must have the compute capability the plan was built on (a
  different GPU model with the same compute capability is allowed, with a warning);
  SAME_COMPUTE_CAPABILITY needs the same compute capability; AMPERE_PLUS runs on compute
  capability 8.0 and newer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from resnet_deploy.errors import ArtifactError
from resnet_deploy.export.plan_record import (  # noqa: F401  (the sidecar's records, re-exported)
    PLAN_KIND,
    GpuRecord,
    IOTensorRecord,
    PlanSidecar,
    ShapeRange,
    load_plan_meta,
    parse_plan_sidecar,
)
from resnet_deploy.runtime.trt import parse_version

HARDWARE_LEVELS = ("none", "same_compute_capability", "ampere_plus")


@dataclass(frozen=True)
class Compatibility:
    """The result of comparing a plan's sidecar with this machine; truthy when it can run."""

    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def __bool__(self) -> bool:
        return not self.problems


def normalize_hardware_level(value: str | None) -> str:
    text = (value or "none").strip().lower().replace("-", "_")
    if text in ("", "none", "false", "0"):
        return "none"
    if text not in HARDWARE_LEVELS:
        raise ArtifactError(f"unknown hardware compatibility level {value!r}; valid: {', '.join(HARDWARE_LEVELS)}")
    return text


def _cc(text: Any) -> tuple[int, int] | None:
    try:
        major, minor = str(text).split(".")[:2]
        return int(major), int(minor)
    except (ValueError, TypeError):
        return None


def version_problem(built: str, runtime: str, version_compatible: bool) -> str | None:
    """Why a plan built with TensorRT `built` cannot run on `runtime`, or None."""
    b, r = parse_version(built), parse_version(runtime)
    if len(b) < 2 or len(r) < 2:
        return f"cannot compare TensorRT versions {built!r} (plan) and {runtime!r} (installed)"
    if not version_compatible:
        if b[:3] != r[:3]:
            return (f"the plan was built with TensorRT {built} but TensorRT {runtime} is installed; plans run only "
                    f"on the TensorRT version that built them: rebuild it here (resnet-deploy build), or install "
                    f"TensorRT {'.'.join(map(str, b[:3]))}, or build it version-compatible")
        return None
    if r < b:
        return (f"the plan was built with TensorRT {built}, newer than the installed {runtime}; a version-compatible "
                "plan runs only on the same or a later TensorRT: upgrade TensorRT or rebuild the plan here")
    if r[0] != b[0] and not (b[0] == 10 and r[0] == 11):
        return (f"the plan was built with TensorRT {built}; version compatibility does not reach TensorRT {runtime} "
                "(only within a major version, and from 10.x to 11.x): rebuild the plan here")
    return None


def hardware_problem(built_gpu: GpuRecord, gpu_name: str, gpu_cc: str, level: str) -> tuple[str | None, str | None]:
    """(problem, warning) for running a plan built on `built_gpu` on this GPU at `level`."""
    level = normalize_hardware_level(level)
    here = _cc(gpu_cc)
    if here is None:
        return f"cannot read this GPU's compute capability ({gpu_cc!r})", None
    if level == "ampere_plus":
        if here < (8, 0):
            return (f"the plan was built hardware-compatible for Ampere and newer (compute capability >= 8.0); this "
                    f"{gpu_name} has {gpu_cc}: rebuild the plan on this GPU"), None
        return None, None
    built_cc = _cc(built_gpu.compute_capability)
    built_name = str(built_gpu.name or "unknown GPU")
    if built_cc is None:
        return "the plan's sidecar does not record the GPU's compute capability; rebuild the plan with resnet-deploy build", None
    if built_cc != here:
        return (f"the plan was built for a {built_name} (compute capability {built_cc[0]}.{built_cc[1]}) but this GPU "
                f"is a {gpu_name} ({gpu_cc}); plans run only on the compute capability they were built for: "
                "rebuild it on this GPU (or build it with hardware compatibility ampere_plus)"), None
    if level == "none" and built_name != gpu_name:
        return None, (f"the plan was built on a {built_name} and runs on a {gpu_name} (same compute capability "
                      f"{gpu_cc}); TensorRT allows it but tactics were tuned for the other GPU")
    return None, None


def check_compatibility(meta: Mapping[str, Any] | PlanSidecar, *, tensorrt_version: str, gpu_name: str,
                        gpu_cc: str) -> Compatibility:
    """Compare a plan sidecar with the installed TensorRT and the present GPU (pure)."""
    try:
        sidecar = parse_plan_sidecar(meta)
    except ArtifactError as exc:
        return Compatibility((str(exc),))
    problems: list[str] = []
    warnings: list[str] = []
    problem = version_problem(sidecar.tensorrt_version, tensorrt_version, sidecar.version_compatible)
    if problem:
        problems.append(problem)
    try:
        hw_problem, warning = hardware_problem(sidecar.gpu, gpu_name, gpu_cc,
                                               sidecar.hardware_compatibility or "none")
    except ArtifactError as exc:
        hw_problem, warning = str(exc), None
    if hw_problem:
        problems.append(hw_problem)
    if warning:
        warnings.append(warning)
    return Compatibility(tuple(problems), tuple(warnings))


def require_compatible(meta: Mapping[str, Any] | PlanSidecar, path: str | os.PathLike[str], *, tensorrt_version: str, gpu_name: str,
                       gpu_cc: str) -> tuple[str, ...]:
    """ArtifactError (exit 2) naming the first incompatibility; returns the warnings."""
    result = check_compatibility(meta, tensorrt_version=tensorrt_version, gpu_name=gpu_name, gpu_cc=gpu_cc)
    if not result:
        raise ArtifactError(f"plan '{path}': {result.problems[0]}")
    return result.warnings
