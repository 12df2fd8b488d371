"""ONNX -> TensorRT plan, one code path for TensorRT 10.x and 11.x.

The network is strongly typed: every layer runs in the type the ONNX graph gives it (FP32,
FP16 from a mixed-precision model, INT8 from explicit Q/DQ nodes). TensorRT 11 removed the
precision builder flags and the INT8 calibrators, so precision is decided before TensorRT
sees the model (resnet_deploy.precision) and read back from the graph here, never guessed.
After the build the engine inspector's per-layer precisions are checked against what the
graph asked for: when most convolutions of an FP16/INT8 model fell back to a wider type (a
Q/DQ placement TensorRT cannot fuse, a residual branch without Q/DQ), the build fails with
the layer names instead of shipping a slower engine under the requested name.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resnet_deploy.atomic import (
    atomic_write_bytes,
    check_output_dir,
    guard_outputs,
    write_json,
)
from resnet_deploy.errors import (
    ArtifactError,
    CheckFailedError,
    InvalidInputError,
    MissingDependencyError,
)
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.optional import require_tensorrt
from resnet_deploy.runtime.inspector import (
    EngineReport,
    PrecisionCheck,
    check_layer_precision,
    parse_engine_information,
)
from resnet_deploy.runtime.plan_meta import PLAN_KIND, PlanSidecar, normalize_hardware_level
from resnet_deploy.runtime.profiles import (
    TensorProfile,
    build_profile,
    onnx_input_shapes,
    parse_shapes,
    profile_to_dict,
)
from resnet_deploy.runtime.trt import (
    TRT_DTYPE_NAMES,
    CapturingLogger,
    dims_list,
    last_error,
    strongly_typed_flags,
    trt,
)
from resnet_deploy.sidecar import (
    require_file,
    sha256_file,
    sidecar_path,
    write_artifact,
)

log = logging.getLogger(__name__)

PRECISIONS = ("fp16", "bf16", "int8", "fp8")
# The oldest GPU whose tensor cores compute each precision TensorRT is asked to build: BF16
# from Ampere (8.0), FP8 from Ada (8.9) and Hopper (9.0). Older GPUs are refused before
# anything is built or converted.
MIN_COMPUTE_CAPABILITY = {"bf16": (8, 0), "fp8": (8, 9)}


def require_compute_capability(precision: str, gpu_name: str, capability: tuple[int, int]) -> None:
    """Refuse (exit 3: the device lacks it) a precision this GPU has no tensor cores for."""
    needed = MIN_COMPUTE_CAPABILITY.get(precision)
    if needed is not None and capability < needed:
        raise MissingDependencyError(
            f"{precision} engines need a GPU of compute capability {needed[0]}.{needed[1]} or later; {gpu_name} is "
            f"{capability[0]}.{capability[1]}; build the fp16 or int8 model for it instead")
MAX_OPT_LEVEL = 5


@dataclass
class BuildResult:
    """What build_engine made, and how."""

    plan: Path
    sidecar: Path
    precision: str
    onnx: Path
    profile: dict[str, TensorProfile]
    build_seconds: float
    tensorrt_version: str
    gpu: JsonObject  # the sidecar's GpuRecord, as written
    report: EngineReport
    check: PrecisionCheck
    precision_step: JsonObject | None = None
    timing_cache: Path | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> JsonObject:
        return {"plan": str(self.plan), "sidecar": str(self.sidecar), "precision": self.precision,
                "onnx": str(self.onnx), "profile": profile_to_dict(self.profile),
                "build_seconds": round(self.build_seconds, 2), "tensorrt_version": self.tensorrt_version,
                "gpu": self.gpu, "precision_check": self.check.to_dict(), "precision_step": self.precision_step,
                "timing_cache": str(self.timing_cache) if self.timing_cache else None, "warnings": self.warnings,
                "convolution_precision_counts": self.report.precision_counts(convolutions_only=True)}


def parse_size(value: int | str | None) -> int | None:
    """`workspace`: "4G", "512M", "64K", or a plain number of MiB (as trtexec) -> bytes."""
    if value is None:
        return None
    if isinstance(value, int):
        return value << 20
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgKMG]?)(?:i?[bB])?\s*", str(value))
    if not match:
        raise InvalidInputError(f"workspace takes a size like 4G, 512M or 1024 (MiB), got {value!r}", param="workspace")
    number, unit = float(match.group(1)), match.group(2).upper()
    size = int(number * {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "": 1 << 20}[unit])
    if size <= 0:
        raise InvalidInputError(f"workspace must be positive, got {value!r}", param="workspace")
    return size


def parser_error_text(parser: trt.OnnxParser, onnx_path: Path) -> str:
    """Every parser error, with the ONNX node index, name and operator it came from."""
    errors = []
    for index in range(parser.num_errors):
        error = parser.get_error(index)
        where = f"node {error.node()}"
        name, operator = error.node_name(), error.node_operator()
        if name or operator:
            where += f" '{name}' ({operator})"
        errors.append(f"{error.desc()} [{where}]")
    joined = "; ".join(errors) if errors else "no error details from the parser"
    return f"TensorRT's ONNX parser could not read '{onnx_path}': {joined}"


def _tensor_dtype_name(dtype: trt.DataType) -> str:
    name = getattr(dtype, "name", str(dtype)).split(".")[-1]
    return TRT_DTYPE_NAMES.get(name, name.lower())


def engine_io_tensors(engine: trt.ICudaEngine) -> list[JsonObject]:
    """Name, mode (input/output), dtype and shape (-1 = dynamic) of each I/O tensor."""
    tensors = []
    for index in range(engine.num_io_tensors):
        name = engine.get_tensor_name(index)
        mode = "input" if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT else "output"
        tensors.append({"name": name, "mode": mode, "dtype": _tensor_dtype_name(engine.get_tensor_dtype(name)),
                        "shape": dims_list(engine.get_tensor_shape(name))})
    return tensors


def engine_information(engine: trt.ICudaEngine) -> str:
    """The engine inspector's JSON for the whole engine (layer, precision, tactic)."""
    inspector = engine.create_engine_inspector()
    return inspector.get_engine_information(trt.LayerInformationFormat.JSON)


def _load_timing_cache(config: trt.IBuilderConfig, path: Path | None,
                       logger: Any = None) -> tuple[trt.ITimingCache, str | None]:
    """A timing cache from `path` (or an empty one), and a warning when the file could not be used.

    A cache written by another TensorRT version or for another GPU is not fatal: TensorRT
    either fails to deserialize it (`create_timing_cache` raises, or returns None) or refuses
    to attach it (`set_timing_cache` returns False). Either way the build goes on with an
    empty cache, with a warning, and the file is replaced on save (Polygraphy does the same).
    """
    data = path.read_bytes() if path is not None and path.is_file() else b""
    problem: str | None = None
    if data:
        try:
            cache = config.create_timing_cache(data)
        except Exception as exc:  # the bindings raise for bytes they cannot deserialize
            cache, problem = None, f"TensorRT cannot read it ({exc})"
        if cache is None and problem is None:
            problem = f"TensorRT cannot read it ({last_error(logger)})"
        if cache is not None:
            if config.set_timing_cache(cache, False):
                log.info("reusing timing cache %s (%d bytes)", path, len(data))
                return cache, None
            problem = "it was made on another GPU or TensorRT version"
    fresh = config.create_timing_cache(b"")
    if fresh is None or not config.set_timing_cache(fresh, False):
        raise CheckFailedError(f"TensorRT could not create an empty timing cache: {last_error(logger)}")
    if problem is None:
        return fresh, None
    warning = f"timing cache '{path}' is not usable here: {problem}; starting an empty one (replaced on save)"
    log.warning(warning)
    return fresh, warning


def _save_timing_cache(config: trt.IBuilderConfig, path: Path) -> None:
    serialized = config.get_timing_cache().serialize()
    atomic_write_bytes(path, bytes(memoryview(serialized)))


# HardwareCompatibilityLevel.SAME_COMPUTE_CAPABILITY appeared in TensorRT 10.10 (AMPERE_PLUS in 8.6).
SAME_CC_MIN_VERSION = "10.10"


def _hardware_level(level: str, version: str) -> trt.HardwareCompatibilityLevel:
    """The enum member for `level`; one exit-2 line when this TensorRT does not have it."""
    name = "AMPERE_PLUS" if level == "ampere_plus" else "SAME_COMPUTE_CAPABILITY"
    member = getattr(trt.HardwareCompatibilityLevel, name, None)
    if member is None:
        needs = SAME_CC_MIN_VERSION if name == "SAME_COMPUTE_CAPABILITY" else "8.6"
        raise InvalidInputError(f"hardware_compatibility {level} needs TensorRT {needs} or later, but TensorRT {version} "
                                "is installed; upgrade TensorRT or build without it", param="hardware_compatibility")
    return member


def _precision_step(onnx_path: Path, graph_precision: str, requested: str | None, calib: str | None,
                    calib_samples: int) -> tuple[Path, JsonObject | None]:
    """Run FP16 conversion / INT8 Q/DQ quantization first when an FP32 model is asked to build
    in a lower precision; say so in the log and the sidecar."""
    if requested is None or requested == graph_precision:
        return onnx_path, None
    if graph_precision != "fp32":
        raise InvalidInputError(f"precision {requested}: '{onnx_path}' is already {graph_precision}; "
                                f"give the FP32 model to convert it to {requested}", param="precision")
    from resnet_deploy.precision import convert_fp16, quantize_int8
    from resnet_deploy.precision.bf16 import convert_bf16
    from resnet_deploy.precision.fp8 import quantize_fp8

    log.warning("'%s' is FP32: running the %s precision step before the build", onnx_path, requested)
    if requested in ("int8", "fp8") and not calib:
        raise InvalidInputError(f"precision {requested} on an FP32 model needs calibration data (calib: a dataset name "
                                "or images.npy)", param="calib")
    if requested == "fp16":
        result, ran = convert_fp16(onnx_path), "convert_fp16"
    elif requested == "bf16":
        result, ran = convert_bf16(onnx_path), "convert_bf16"
    elif requested == "fp8":
        assert calib is not None
        result, ran = quantize_fp8(onnx_path, calib=calib, samples=calib_samples), "quantize_fp8"
    else:
        assert calib is not None
        result, ran = quantize_int8(onnx_path, calib=calib, samples=calib_samples, target="tensorrt"), "quantize_int8"
    step = {"ran": ran, "from": str(onnx_path), "to": str(result.output), "details": result.to_dict()}
    return Path(result.output), step


def validate_options(onnx_path: str | os.PathLike[str], output: str | os.PathLike[str], *, opt_level: int | None,
                     hardware_compatibility: str | None, precision: str | None,
                     workspace: int | str | None) -> tuple[Path, Path, str, int | None]:
    """The checks that need neither TensorRT nor a GPU, run before anything else."""
    source = require_file(onnx_path, "ONNX model")
    plan = Path(output)
    guard_outputs(inputs=[source], outputs=[plan])
    if opt_level is not None and not 0 <= opt_level <= MAX_OPT_LEVEL:
        raise InvalidInputError(f"opt_level must be between 0 and {MAX_OPT_LEVEL}, got {opt_level}", param="opt_level")
    if precision is not None and precision not in PRECISIONS:
        raise InvalidInputError(f"precision must be one of {', '.join(PRECISIONS)} (an FP32 model needs none), got "
                                f"{precision!r}", param="precision")
    try:
        level = normalize_hardware_level(hardware_compatibility)
    except ArtifactError as exc:
        raise InvalidInputError(str(exc), param="hardware_compatibility") from None
    return source, plan, level, parse_size(workspace)


def build_engine(onnx_path: str | os.PathLike[str], output: str | os.PathLike[str], *, min_batch: int = 1,
                 opt_batch: int | None = None, max_batch: int | None = None, shapes: str | None = None,
                 workspace: int | str | None = None, opt_level: int | None = None,
                 timing_cache: str | os.PathLike[str] | None = None, version_compatible: bool = False,
                 hardware_compatibility: str | None = None, precision: str | None = None, calib: str | None = None,
                 calib_samples: int = 512, verbose: bool = False, check_precision: bool = True,
                 min_precision_fraction: float = 0.5, device: int = 0) -> BuildResult:
    """Build `output` (a TensorRT plan) and its sidecar from `onnx_path`.

    Batch range defaults: opt 32 and max 256 (clamped to the range; a fixed batch axis pins
    all three). `shapes` gives non-batch dynamic axes ("input:3x224x224"). `workspace` is
    "4G"/"512M" or MiB. `precision` fp16/bf16/int8/fp8 converts an FP32 model first (int8
    and fp8 need `calib`). BF16 needs a GPU of compute capability 8.0, FP8 8.9 (refused
    before anything is written, exit 3). Errors: bad input exit 2; TensorRT or a GPU missing
    (or too old for the precision) exit 3; precision check
    failed exit 1 (the plan is not written; the per-layer report goes to
    `<output>.rejected.json`).
    """
    from resnet_deploy.export.detect import detect_precision
    from resnet_deploy.export.loader import load_onnx_model
    from resnet_deploy.runtime.cuda import gpu_properties

    source, plan_path, level, workspace_bytes = validate_options(
        onnx_path, output, opt_level=opt_level, hardware_compatibility=hardware_compatibility,
        precision=precision, workspace=workspace)
    model = load_onnx_model(source, load_external_data=False, check=False)
    input_shapes = onnx_input_shapes(model)
    shape_flags = parse_shapes(shapes, list(input_shapes))
    profile = build_profile(input_shapes, min_batch=min_batch, opt_batch=opt_batch, max_batch=max_batch, shapes=shape_flags)
    graph_precision = detect_precision(model).precision

    trt_module = require_tensorrt("resnet-deploy build")
    gpu = gpu_properties(device)
    if device != 0:  # TensorRT builds on the CUDA runtime's current device
        from resnet_deploy.runtime.cuda import cuda_call, cudart

        cuda_call(cudart().cudaSetDevice(device), "cudaSetDevice")
    version = str(trt_module.__version__)
    hardware_level = _hardware_level(level, version) if level != "none" else None  # refused before any work
    require_compute_capability(precision or graph_precision, gpu.name, gpu.cc_tuple)  # before any step writes

    built_from, step = _precision_step(source, graph_precision, precision, calib, calib_samples)
    if step is not None:
        model = load_onnx_model(built_from, load_external_data=False, check=False)
        graph_precision = detect_precision(model).precision
        if graph_precision != precision:
            raise CheckFailedError(f"the {precision} precision step wrote '{built_from}', but its graph reads as "
                                   f"{graph_precision}; check resnet-deploy quantize's report")

    started = time.perf_counter()
    logger = CapturingLogger(verbose)
    builder = trt.Builder(logger)
    network = builder.create_network(strongly_typed_flags())
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(built_from)):
        raise ArtifactError(parser_error_text(parser, built_from))
    config = builder.create_builder_config()
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # per-layer precision and tactic
    if workspace_bytes is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if opt_level is not None:
        config.builder_optimization_level = opt_level
    if version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    if hardware_level is not None:
        config.hardware_compatibility_level = hardware_level
    optimization_profile = builder.create_optimization_profile()
    for name, tensor_profile in profile.items():
        optimization_profile.set_shape(name, trt.Dims(list(tensor_profile.min)), trt.Dims(list(tensor_profile.opt)),
                                       trt.Dims(list(tensor_profile.max)))
    if config.add_optimization_profile(optimization_profile) < 0:
        raise InvalidInputError(f"TensorRT refused the optimization profile {profile_to_dict(profile)}: {last_error(logger)}")
    warnings: list[str] = []
    cache_path = Path(timing_cache) if timing_cache is not None else None
    if cache_path is not None:
        check_output_dir(cache_path)
        _, cache_warning = _load_timing_cache(config, cache_path, logger)
        if cache_warning:
            warnings.append(cache_warning)

    log.info("building %s from %s (%s, batch %s..%s) on %s", plan_path, built_from, graph_precision,
             *next(iter(profile.values())).batch_range, gpu.name)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise CheckFailedError(f"TensorRT could not build an engine from '{built_from}': {last_error(logger)}")
    plan_bytes = bytes(memoryview(serialized))
    build_seconds = time.perf_counter() - started
    if cache_path is not None:
        _save_timing_cache(config, cache_path)

    runtime = trt.Runtime(logger)
    if version_compatible:
        runtime.engine_host_code_allowed = True  # the plan embeds its lean runtime; we built it ourselves
    engine = runtime.deserialize_cuda_engine(plan_bytes)
    if engine is None:
        raise CheckFailedError(f"TensorRT built '{plan_path}' but cannot load it back: {last_error(logger)}")
    report = parse_engine_information(engine_information(engine))
    io_tensors = engine_io_tensors(engine)
    check = check_layer_precision(report, graph_precision, min_precision_fraction)
    if check.note:
        warnings.append(check.note)

    meta = PlanSidecar.new(
        PLAN_KIND, None,
        tensorrt_version=version,
        gpu=gpu.to_dict(),
        version_compatible=bool(version_compatible),
        hardware_compatibility=level,
        precision=graph_precision,
        precision_source="onnx graph (resnet_deploy.export.detect)",
        precision_step=step,
        source_onnx={"path": str(built_from), "sha256": sha256_file(built_from)},
        original_onnx={"path": str(source), "sha256": sha256_file(source)} if step else None,
        profile=profile_to_dict(profile),
        io_tensors=io_tensors,
        build_seconds=round(build_seconds, 2),
        builder={"workspace_bytes": workspace_bytes, "opt_level": opt_level, "strongly_typed": True,
                 "timing_cache": str(cache_path) if cache_path else None},
        precision_check=check.to_dict(),
        **_model_fields(model),
        layers=report.to_dict(),
        warnings=warnings,
    )
    if not check and check_precision:
        rejected = plan_path.with_name(plan_path.name + ".rejected.json")
        write_json(rejected, meta.to_dict())
        raise CheckFailedError(f"{plan_path}: {check.message()}; the plan was not written (per-layer report: "
                               f"{rejected}); fix the model's Q/DQ placement or FP16 conversion, or build with "
                               "check_precision off", param="check_precision")
    write_artifact(plan_path, lambda tmp: tmp.write_bytes(plan_bytes), meta)
    log.info("wrote %s (%.1f MB) in %.1f s", plan_path, len(plan_bytes) / 1e6, build_seconds)
    return BuildResult(plan_path, sidecar_path(plan_path), graph_precision, built_from, profile, build_seconds, version,
                       gpu.to_dict(), report, check, step, cache_path, warnings)


def _model_fields(model: Any) -> JsonObject:
    """Architecture and input spec from the ONNX model's description, so the plan's sidecar
    carries them."""
    from resnet_deploy.export.artifact import describe_onnx

    try:
        artifact = describe_onnx(Path("model.onnx"), model, sidecar=False)
    except Exception as exc:  # metadata is informative; a foreign model may have none
        log.info("no resnet-deploy metadata in the ONNX model: %s", exc)
        return {"architecture": None, "input_spec": None}
    spec = artifact.input_spec
    return {"architecture": artifact.architecture, "model_kwargs": artifact.model_kwargs,
            "input_spec": spec.to_dict() if spec is not None else None}
