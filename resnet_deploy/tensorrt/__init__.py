"""TensorRT engines: build a plan from ONNX, check it, inspect it, run it.

    from resnet_deploy.tensorrt import build_engine, Engine
    result = build_engine("model.fp16.onnx", "r50_fp16.plan", min_batch=1, opt_batch=32, max_batch=256)
    with Engine.load("r50_fp16.plan") as engine:
        logits = engine(images)

One code path for TensorRT 10.x and 11.x (strongly typed networks; precision from the ONNX
graph). TensorRT itself is imported only when a build or a run starts; without it those
raise MissingDependencyError (exit 3), while the sidecar checks, the profile rules and the
inspector-report parsing work anywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from resnet_deploy.optional import lazy_exports

if TYPE_CHECKING:
    from resnet_deploy.runtime.engine import Engine, ExecutionSlot, InferRequest
    from resnet_deploy.runtime.inspector import (
        EngineReport,
        PrecisionCheck,
        check_layer_precision,
        parse_engine_information,
    )
    from resnet_deploy.runtime.plan_meta import Compatibility, check_compatibility, load_plan_meta
    from resnet_deploy.runtime.profiles import TensorProfile, build_profile
    from resnet_deploy.tensorrt.builder import BuildResult, build_engine
    from resnet_deploy.tensorrt.inspect_plan import format_plan_report, plan_report

# The build side lives here; running a plan lives below the runners, in resnet_deploy.runtime.
_LAZY = {
    "BuildResult": "resnet_deploy.tensorrt.builder", "build_engine": "resnet_deploy.tensorrt.builder",
    "Engine": "resnet_deploy.runtime.engine", "ExecutionSlot": "resnet_deploy.runtime.engine", "InferRequest": "resnet_deploy.runtime.engine",
    "format_plan_report": "resnet_deploy.tensorrt.inspect_plan", "plan_report": "resnet_deploy.tensorrt.inspect_plan",
    "EngineReport": "resnet_deploy.runtime.inspector", "PrecisionCheck": "resnet_deploy.runtime.inspector",
    "check_layer_precision": "resnet_deploy.runtime.inspector", "parse_engine_information": "resnet_deploy.runtime.inspector",
    "Compatibility": "resnet_deploy.runtime.plan_meta", "check_compatibility": "resnet_deploy.runtime.plan_meta",
    "load_plan_meta": "resnet_deploy.runtime.plan_meta",
    "TensorProfile": "resnet_deploy.runtime.profiles", "build_profile": "resnet_deploy.runtime.profiles",
}

__all__ = ["BuildResult", "Compatibility", "Engine", "EngineReport", "ExecutionSlot", "InferRequest", "PrecisionCheck", "TensorProfile",
           "build_engine", "build_profile", "check_compatibility", "check_layer_precision", "format_plan_report",
           "load_plan_meta", "parse_engine_information", "plan_report"]


__getattr__ = lazy_exports(__name__, _LAZY)
