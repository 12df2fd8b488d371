"""INT8 post-training quantization: calibrate, then write an ONNX model with Q/DQ nodes.

Two layouts from the same calibration ranges:
- target "tensorrt": signed symmetric INT8, per-channel weights, per-tensor activations,
  Q/DQ on the inputs of every Conv/Gemm and both inputs of each residual Add (qdq.py);
- target "cpu": onnxruntime's QDQ quantizer with unsigned 8-bit activations (asymmetric,
  so a ReLU output uses all 256 levels and onnxruntime fuses Q/DQ into U8S8 QLinearConv,
  which is what its x86 kernels and OpenVINO's run fastest), per-channel INT8 weights.

Weights are 8-bit (|w| <= 127) where the CPU's INT8 kernels sum exactly (VNNI) and 7-bit
(|w| <= 64, onnxruntime's `reduce_range`) where they add u8 x s8 products in saturating
16-bit pairs (x86 without VNNI: 255 x 64 x 2 fits in 16 bits, 255 x 127 x 2 does not).
Target "cpu" is made for the CPU it runs on (cpu_isa.detect_isa, or `isa`); target
"tensorrt" is made for GPUs (8-bit) unless `isa` names a CPU it must also run on exactly.
The model records which (metadata `int8_isa`, `int8_weight_bits`; docs/precision.md).

The engine is onnxruntime.quantization (calibrators and the CPU quantizer), not NVIDIA Model
Optimizer's ONNX PTQ: Model Optimizer pins onnxruntime-gpu, which cannot be installed beside
onnxruntime (both provide the `onnxruntime` module), and everything here must run on a CPU.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx

from resnet_deploy import cpu_isa
from resnet_deploy.atomic import temp_folder
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.export.metadata import set_metadata
from resnet_deploy.precision._model import (
    SourceModel,
    load_source,
    output_meta,
    prepare_output,
    require_fp32,
    write_model,
)
from resnet_deploy.precision.calibration import (
    METHODS,
    load_calibration_data,
    tensor_ranges_with_batch,
)
from resnet_deploy.precision.exclude import resolve_exclusions
from resnet_deploy.precision.qdq import check_tensorrt_placement, insert_qdq_tensorrt
from resnet_deploy.precision.result import QuantizeResult

if TYPE_CHECKING:
    from resnet_deploy.precision.sensitivity import FallbackSearch, SpeedProbe

log = logging.getLogger(__name__)

TARGETS = ("tensorrt", "cpu")
WEIGHT_MAX = {8: 127.0, 7: 64.0}  # largest |weight| per weight range (onnxruntime's reduced range for 7)
CPU_FORMATS = ("qdq", "qoperator")


class _DropPreprocessHint(logging.Filter):
    """onnxruntime's quantizer logs on the root logger: a pre-processing hint (our graphs come
    from the exporter with BatchNorm folded and shapes known) and "Expected bias ... to be an
    initializer" for biases the exporter shares between convolutions (they stay FP32, which
    is correct). Both are noise for our users."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("pre-processing before quantization" in message or message.startswith("Expected bias"))


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    root = logging.getLogger()
    hint = _DropPreprocessHint()
    root.addFilter(hint)
    try:
        yield
    finally:
        root.removeFilter(hint)


def _quantize_cpu(source: SourceModel, ranges: dict[str, tuple[float, float]], method: str, output: Path,
                  cpu_format: str, weight_bits: int, exclude: Sequence[str] = ()) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import (
        CalibrationMethod,
        TensorData,
        TensorsData,
        save_tensors_data,
    )

    methods = {"max": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    data = {name: TensorData(lowest=np.array(lo, np.float32), highest=np.array(hi, np.float32))
            for name, (lo, hi) in ranges.items()}
    with tempfile.TemporaryDirectory(prefix="quant.") as tmp, _quiet_quantizer():
        # Hand our (cached) ranges to onnxruntime through its own cache file: no recalibration.
        ort_cache = Path(tmp) / "ranges.json"
        save_tensors_data(TensorsData(methods[method], data), ort_cache)
        quantize_static(str(source.path), str(output), calibration_data_reader=None,
                        quant_format=QuantFormat.QDQ if cpu_format == "qdq" else QuantFormat.QOperator,
                        per_channel=True, reduce_range=weight_bits == 7, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=methods[method],
                        calibration_cache_path=str(ort_cache), nodes_to_exclude=list(exclude),
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})


def build_int8(source: SourceModel, ranges: dict[str, tuple[float, float]], exclude: frozenset[str], *,
               method: str, target: str, weight_bits: int, cpu_format: str, scratch: Path) -> onnx.ModelProto:
    """The INT8 graph of `source` in `target`'s layout with the nodes in `exclude` left in
    float; `scratch` is a folder for the CPU quantizer's file (it writes to disk)."""
    if target == "tensorrt":
        model = insert_qdq_tensorrt(source.model, ranges, weight_max=WEIGHT_MAX[weight_bits], exclude=exclude)
        placement = check_tensorrt_placement(model, exclude=exclude)
        if not placement.ok:
            raise InvalidInputError(f"Q/DQ placement check failed: {placement.problems[0]}")
        return model
    path = scratch / "int8.onnx"
    _quantize_cpu(source, ranges, method, path, cpu_format, weight_bits, sorted(exclude))
    return onnx.load(str(path))


def _target_isa(target: str, isa: str | None) -> tuple[cpu_isa.CpuIsa | None, int]:
    """(the CPU the model is made for, or None for a GPU-only TensorRT model; weight bits)."""
    if isa is None and target == "tensorrt":
        return None, 8
    cpu = cpu_isa.detect_isa() if isa is None else cpu_isa.named_isa(isa, "parameter isa")
    return cpu, cpu.weight_bits


def quantize_int8(input_path: str | os.PathLike[str], output_path: str | os.PathLike[str] | None = None, *,
                  calib: str, data_dir: str | os.PathLike[str] | None = None, samples: int | None = None,
                  method: str = "max", target: str = "tensorrt", cache_path: str | os.PathLike[str] | None = None,
                  batch_size: int = 32, cpu_format: str = "qdq", isa: str | None = None, exclude: Sequence[str] = (),
                  max_drop: float | None = None, dataset: str | None = None,
                  dataset_dir: str | os.PathLike[str] | None = None, search_images: int | None = None,
                  speed_probe: SpeedProbe | None = None, input_size: tuple[int, int] | None = None) -> QuantizeResult:
    """Write an INT8 Q/DQ model of an FP32 ONNX model.

    `calib` is a dataset name (training split), a .npy array of normalized float32
    images (NCHW, or the model's own layout), or "random" (speed work only; so is a 1-channel dataset for a 3-channel model,
    converted: both warn). `samples` of them are used: by default up to 512, or all the data
    holds when fewer (with a warning); an explicit count the data cannot meet is refused.
    `cache_path` (default `<output>.calib.json`) holds the ranges: a rebuild with the same
    model, data, method and sample count reuses them. `batch_size` caps the images per
    calibration batch (a memory budget may lower it). `cpu_format` (target cpu only) picks
    QDQ or QOperator nodes. `isa` (one of cpu_isa.ISA_NAMES) is the CPU the model must run
    on exactly: for target cpu it defaults to this CPU; for target tensorrt to none (GPUs).
    `input_size` (H, W) sizes the calibration images of a model whose height/width are dynamic.

    `exclude` (node names, globs, op types: precision/exclude.py) keeps nodes in float.
    `max_drop` (top-1 points) searches for the fewest layers to keep in float so the drop on
    a held-out part of `dataset`'s training split is at most that, and reports the drop on
    its test split before and after (precision/sensitivity.py; `dataset_dir` is its folder,
    default `data_dir`; `search_images` the held-out images); `speed_probe` times the INT8
    models before and after (the CLI passes the bench harness's).
    """
    start = time.perf_counter()
    if method not in METHODS:
        raise InvalidInputError(f"unknown calibration method {method!r}; valid: {', '.join(METHODS)}", param="method")
    if target not in TARGETS:
        raise InvalidInputError(f"unknown INT8 target {target!r}; valid: {', '.join(TARGETS)}", param="target")
    if cpu_format not in CPU_FORMATS:
        raise InvalidInputError(f"unknown CPU INT8 format {cpu_format!r}; valid: {', '.join(CPU_FORMATS)}",
                                param="cpu_format")
    if batch_size < 1:
        raise InvalidInputError(f"calibration batch size must be positive, got {batch_size}", param="batch_size")
    if max_drop is not None and (dataset is None or dataset == "random" or dataset.endswith((".npy", ".npz"))):
        raise InvalidInputError("`max_drop` needs labelled images to measure the drop: give `dataset` a dataset name "
                                "(its training split is searched, its test split reported)", param="max_drop")
    if max_drop is not None and not 0 <= max_drop < float("inf"):
        raise InvalidInputError(f"`max_drop` must be a finite number of points >= 0, got {max_drop}", param="max_drop")
    made_for, weight_bits = _target_isa(target, isa)
    source = load_source(input_path)
    require_fp32(source, "INT8 quantization")
    excluded = resolve_exclusions(source.model, exclude)
    output = prepare_output(source, output_path, "int8")
    cache = Path(cache_path) if cache_path is not None else output.with_name(output.name + ".calib.json")
    data = load_calibration_data(calib, source, samples=samples, data_dir=data_dir, input_size=input_size)
    ranges, cache_hit, calib_batch = tensor_ranges_with_batch(source, data, method=method, batch_size=batch_size,
                                                              cache_path=cache)
    isa_name = made_for.name if made_for is not None else cpu_isa.GPU

    search: FallbackSearch | None = None
    with temp_folder(output) as folder:
        build: Callable[[frozenset[str]], onnx.ModelProto] = functools.partial(
            build_int8, source, ranges, method=method, target=target, weight_bits=weight_bits, cpu_format=cpu_format,
            scratch=folder)
        if max_drop is not None and dataset is not None:
            from resnet_deploy.precision.sensitivity import search_fallback

            search = search_fallback(source, build, frozenset(excluded), max_drop=max_drop, dataset=dataset,
                                     data_dir=dataset_dir if dataset_dir is not None else data_dir,
                                     images=search_images, avoid=data.samples if calib == dataset else None,
                                     scratch=folder, speed_probe=speed_probe)
            excluded = search.kept_float
        model = build(frozenset(excluded))
    fallback = {"int8_excluded": json.dumps(list(excluded))}
    if search is not None:
        fallback["int8_fallback"] = json.dumps(search.metadata())
    set_metadata(model, {"precision": "int8", "int8_target": target, "calibration_method": method,
                         "calibration_samples": str(data.samples), "calibration_data": data.describe(),
                         cpu_isa.ISA_KEY: isa_name, cpu_isa.WEIGHT_BITS_KEY: str(weight_bits),
                         "source_sha256": source.sha256, **fallback})
    seconds = time.perf_counter() - start
    weights = f"int8 symmetric per-channel, {weight_bits}-bit range [-{int(WEIGHT_MAX[weight_bits])}, {int(WEIGHT_MAX[weight_bits])}]"
    layout = ({"activations": "int8 symmetric per-tensor", "weights": weights,
               "qdq_on": "inputs of Conv/Gemm and both inputs of residual Add", "bias": "fp32"}
              if target == "tensorrt" else
              {"activations": "uint8 asymmetric per-tensor", "weights": weights,
               "format": cpu_format, "quantizer": "onnxruntime.quantization.quantize_static"})
    details = {"target": target,
               "calibration": {"method": method, "samples": data.samples, "data": data.source,
                               "conversion": data.conversion, "representative": data.representative,
                               "data_sha256": data.sha256, "batch": calib_batch, "cache": str(cache),
                               "cache_hit": cache_hit},
               "cpu_isa": {"made_for": isa_name, "weight_bits": weight_bits,
                           "flags": list(made_for.flags) if made_for is not None else [],
                           "source": made_for.source if made_for is not None else "target tensorrt (GPU)"},
               "layout": layout,
               # Nodes kept out of INT8 run in FP32 (for TensorRT: no Q/DQ on their inputs, so the
               # strongly typed network runs them in FP32; FP16 for them is not written here).
               "excluded": list(excluded), "excluded_precision": "fp32",
               **({"fallback": search.to_dict()} if search is not None else {})}
    sidecar = write_model(output, model, output_meta(source, "int8", **details))
    log.info("INT8 (%s, for %s) model %s written in %.1f s", target, isa_name, output, seconds)
    return QuantizeResult(output, sidecar, "int8", source.path, source.sha256, seconds, details, fallback=search)
