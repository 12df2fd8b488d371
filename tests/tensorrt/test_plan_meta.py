"""Sidecar compatibility checks that run before a plan is deserialized (pure: no TensorRT)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resnet_deploy.errors import ArtifactError
from resnet_deploy.runtime.plan_meta import (
    GpuRecord,
    check_compatibility,
    hardware_problem,
    load_plan_meta,
    require_compatible,
    version_problem,
)
from resnet_deploy.sidecar import sidecar_path
from tests.tensorrt.helpers import fake_plan, plan_meta

A6000 = ("NVIDIA RTX A6000", "8.6")


def test_exact_version_required_by_default() -> None:
    assert version_problem("10.13.0.35", "10.13.0.35", False) is None
    assert version_problem("10.13.0.35", "10.13.0.36", False) is None  # same major.minor.patch
    problem = version_problem("10.13.0.35", "10.14.1.48", False)
    assert problem and "built with TensorRT 10.13.0.35 but TensorRT 10.14.1.48 is installed" in problem
    assert "version-compatible" in problem


def test_version_compatible_rules() -> None:
    assert version_problem("10.13.0.35", "10.16.1.11", True) is None
    assert version_problem("10.13.0.35", "11.1.0.7", True) is None  # 10.x -> 11.x is supported
    older = version_problem("10.13.0.35", "10.8.0.43", True)
    assert older and "newer than the installed" in older
    assert version_problem("11.0.0.1", "12.0.0.1", True) is not None
    assert version_problem("garbage", "10.13.0.35", False) is not None


def test_hardware_rules() -> None:
    built = GpuRecord(name="NVIDIA RTX A6000", compute_capability="8.6")
    assert hardware_problem(built, *A6000, "none") == (None, None)
    problem, _ = hardware_problem(built, "NVIDIA H100 80GB HBM3", "9.0", "none")
    assert problem and "compute capability 8.6" in problem and "H100" in problem
    problem, warning = hardware_problem(built, "NVIDIA GeForce RTX 3090", "8.6", "none")
    assert problem is None and warning and "tuned for the other GPU" in warning
    assert hardware_problem(built, "NVIDIA GeForce RTX 3090", "8.6", "same_compute_capability") == (None, None)
    assert hardware_problem(built, "NVIDIA H100 80GB HBM3", "9.0", "ampere_plus") == (None, None)
    problem, _ = hardware_problem(built, "Tesla T4", "7.5", "ampere_plus")
    assert problem and ">= 8.0" in problem


def test_check_compatibility_collects_problems() -> None:
    assert check_compatibility(plan_meta(), tensorrt_version="10.13.0.35", gpu_name=A6000[0], gpu_cc=A6000[1])
    bad = check_compatibility(plan_meta(), tensorrt_version="11.0.0.2", gpu_name="Tesla T4", gpu_cc="7.5")
    assert not bad and len(bad.problems) == 2
    assert not check_compatibility({"kind": "plan"}, tensorrt_version="10.13.0.35", gpu_name=A6000[0], gpu_cc=A6000[1])
    with pytest.raises(ArtifactError, match=r"r50\.plan': the plan was built with TensorRT 10\.13\.0\.35"):
        require_compatible(plan_meta(), "r50.plan", tensorrt_version="10.14.1.48", gpu_name=A6000[0], gpu_cc=A6000[1])
    warnings = require_compatible(plan_meta(), "r50.plan", tensorrt_version="10.13.0.35",
                                  gpu_name="NVIDIA GeForce RTX 3090", gpu_cc="8.6")
    assert len(warnings) == 1


def test_load_plan_meta_refuses_bad_artifacts(tmp_path: Path) -> None:
    plan = fake_plan(tmp_path)
    assert load_plan_meta(plan).precision == "fp16"
    with pytest.raises(ArtifactError, match="does not exist"):
        load_plan_meta(tmp_path / "missing.plan")
    plan.write_bytes(plan.read_bytes()[:100])  # truncated after the build
    with pytest.raises(ArtifactError, match="sha256"):
        load_plan_meta(plan)
    empty = tmp_path / "empty.plan"
    empty.write_bytes(b"")
    with pytest.raises(ArtifactError, match="empty"):
        load_plan_meta(empty)
    orphan = tmp_path / "orphan.plan"
    orphan.write_bytes(b"x" * 10)
    with pytest.raises(ArtifactError, match="no sidecar"):
        load_plan_meta(orphan)
    other = fake_plan(tmp_path, "other.plan")
    meta = json.loads(sidecar_path(other).read_text())
    sidecar_path(other).write_text(json.dumps({**meta, "kind": "onnx"}))
    with pytest.raises(ArtifactError, match="expected 'plan'"):
        load_plan_meta(other)
    sidecar_path(other).write_text("{broken")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_plan_meta(other)
    sidecar_path(other).write_text(json.dumps({"kind": "plan", "sha256": meta["sha256"]}))
    with pytest.raises(ArtifactError, match="lacks tensorrt_version"):
        load_plan_meta(other)
