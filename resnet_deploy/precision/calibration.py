"""Calibration data and per-tensor ranges, with a cache so a rebuild does not recalibrate.

Data comes from the same readers as training (digits, mnist, cifar10, cifar100, imagefolder,
with the evaluation transform: no augmentation) or from a .npy array, and is checked against
the model's input before anything runs. Ranges come from onnxruntime's calibrators (max,
entropy, percentile) over every float tensor, so one cache serves both INT8 layouts.

The cache (JSON, plus its sidecar) is keyed by the model's sha256, the data's sha256, the
method and the sample count: any change recalibrates, nothing else does.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resnet_deploy.artifacts import (
    atomic_write_text,
    new_sidecar,
    require_file,
    sidecar_path,
    write_sidecar,
)
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.precision._model import SourceModel

log = logging.getLogger(__name__)

METHODS = ("max", "entropy", "percentile")
DATASETS = ("digits", "mnist", "cifar10", "cifar100", "imagefolder")
PERCENTILE = 99.99  # NVIDIA's pytorch-quantization default for CNN activations
HISTOGRAM_BINS = 2048  # as TensorRT's entropy calibrator
CACHE_VERSION = 4


@dataclass(frozen=True)
class CalibrationData:
    array: np.ndarray  # float32 NCHW, already normalized as the model expects
    source: str  # dataset name or .npy path
    sha256: str

    @property
    def samples(self) -> int:
        return int(self.array.shape[0])


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise InvalidInputError(f"unknown calibration method {method!r}; valid: {', '.join(METHODS)}")


def _check_array(array: np.ndarray, source: SourceModel, what: str) -> None:
    if array.dtype != np.float32:
        raise InvalidInputError(f"{what} has dtype {array.dtype}; calibration data must be float32 "
                                f"(normalized NCHW images, as the model's input)")
    shape = source.input_shape
    if array.ndim != len(shape):
        raise InvalidInputError(f"{what} has shape {array.shape}; the model's input '{source.input_name}' needs "
                                f"{len(shape)} dimensions (N, C, H, W)")
    if len(shape) >= 2 and shape[1] is not None and array.shape[1] != shape[1]:
        raise InvalidInputError(f"{what} has {array.shape[1]} channels; the model expects {shape[1]} "
                                f"(shape {array.shape} vs model input {_shape_text(shape)})")
    for axis in range(2, len(shape)):
        if shape[axis] is not None and array.shape[axis] != shape[axis]:
            raise InvalidInputError(f"{what} has shape {array.shape}; the model's input is {_shape_text(shape)}")
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{what} contains NaN or Inf values")


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("N" if d is None else str(d) for d in shape) + ")"


def _input_size(source: SourceModel) -> int | None:
    """The model's (square) image size, for the dataset readers' resize."""
    shape = source.input_shape
    if len(shape) == 4 and shape[2] is not None and shape[2] == shape[3]:
        return int(shape[2])
    spec = source.input_spec
    if spec and spec.get("height") == spec.get("width"):
        return int(spec["height"])
    return None


def load_calibration_data(calib: str, source: SourceModel, *, samples: int, data_dir: str | os.PathLike[str] | None = None) -> CalibrationData:
    """`samples` images for `source` from a dataset name (training split, evaluation transform)
    or a .npy file; refuses the wrong shape, channel count or dtype and too few samples."""
    if samples < 1:
        raise InvalidInputError(f"--calib-samples must be positive, got {samples}")
    if calib.endswith(".npy") or Path(calib).suffix == ".npy":
        path = require_file(calib, "calibration array")
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InvalidInputError(f"'{path}' is not a readable .npy array ({exc})") from exc
        what = f"calibration array '{path}'"
        _check_array(array, source, what)
        if array.shape[0] < samples:
            raise InvalidInputError(f"{what} has {array.shape[0]} samples, fewer than the {samples} asked for; "
                                    f"pass --calib-samples {array.shape[0]} or more data")
        array = np.ascontiguousarray(array[:samples])
        label = str(path)
    elif calib in DATASETS:
        from resnet_deploy.data import eval_arrays

        # Calibrate on the training split: the validation split is kept for measuring accuracy.
        array, _ = eval_arrays(calib, data_dir=data_dir, split="train", limit=samples, input_size=_input_size(source))
        array = np.ascontiguousarray(array)
        what = f"dataset '{calib}' (train split)"
        _check_array(array, source, what)
        if array.shape[0] < samples:
            raise InvalidInputError(f"{what} has {array.shape[0]} samples, fewer than the {samples} asked for; "
                                    f"pass a smaller --calib-samples")
        label = calib
    else:
        raise InvalidInputError(f"unknown calibration data {calib!r}: give a .npy file or one of {', '.join(DATASETS)}")
    return CalibrationData(array, label, hashlib.sha256(array.tobytes()).hexdigest())


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over an in-memory array."""

    def __init__(self, input_name: str, array: np.ndarray, batch_size: int) -> None:
        self.input_name, self.array, self.batch_size = input_name, array, batch_size
        self._batches: Iterator[dict[str, np.ndarray]] = self._iterate()

    def _iterate(self) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, len(self.array), self.batch_size):
            yield {self.input_name: self.array[start:start + self.batch_size]}

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)

    def rewind(self) -> None:
        self._batches = self._iterate()


def cache_key(model_sha256: str, data: CalibrationData, method: str) -> str:
    text = json.dumps([CACHE_VERSION, model_sha256, data.sha256, data.samples, method, PERCENTILE, HISTOGRAM_BINS])
    return hashlib.sha256(text.encode()).hexdigest()


def _read_cache(path: Path, key: str) -> dict[str, tuple[float, float]] | None:
    if not path.is_file():
        return None
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        log.warning("calibration cache %s is unreadable; recalibrating", path)
        return None
    if not isinstance(cached, dict) or cached.get("key") != key:
        log.info("calibration cache %s is for another model, data, method or sample count; recalibrating", path)
        return None
    return {name: (float(lo), float(hi)) for name, (lo, hi) in cached["ranges"].items()}


def _calibrate(source: SourceModel, data: CalibrationData, method: str, batch_size: int) -> dict[str, tuple[float, float]]:
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator

    methods = {"max": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    extra: dict[str, Any] = {}
    if method == "percentile":
        extra = {"percentile": PERCENTILE, "num_bins": HISTOGRAM_BINS}
    elif method == "entropy":
        # onnxruntime's default (128 bins for 128 quantized bins) leaves the KL search nothing
        # to choose, so the threshold is always the maximum; TensorRT's calibrator uses 2048.
        # (Matching TensorRT's |x| histogram exactly, 4096 signed bins for 255 levels, was
        # measured far worse with onnxruntime's search: see docs/precision.md.)
        extra = {"num_bins": HISTOGRAM_BINS, "num_quantized_bins": 128}
    batch = source.input_shape[0] or batch_size
    op_types = sorted({n.op_type for n in source.model.graph.node})
    chatter = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="calib.") as tmp, contextlib.redirect_stdout(chatter):
        calibrator = create_calibrator(source.path, op_types, augmented_model_path=str(Path(tmp) / "augmented.onnx"),
                                       calibrate_method=methods[method], extra_options=extra)
        calibrator.collect_data(_Reader(source.input_name, data.array, batch))
        tensors = calibrator.compute_data()
        del calibrator
    if chatter.getvalue().strip():
        log.debug("calibrator: %s", chatter.getvalue().strip())
    ranges = {}
    for name, value in tensors.data.items():
        lo, hi = value.range_value
        ranges[name] = (float(np.asarray(lo).reshape(-1)[0]), float(np.asarray(hi).reshape(-1)[0]))
    return ranges


def tensor_ranges(source: SourceModel, data: CalibrationData, *, method: str, batch_size: int = 32,
                  cache_path: str | os.PathLike[str] | None = None) -> tuple[dict[str, tuple[float, float]], bool]:
    """(ranges per float tensor, whether they came from the cache). Calibrates and writes the
    cache only when it is missing or was made for another model/data/method/sample count."""
    _check_method(method)
    key = cache_key(source.sha256, data, method)
    cache = Path(cache_path) if cache_path is not None else None
    if cache is not None:
        cached = _read_cache(cache, key)
        if cached is not None:
            log.info("calibration ranges from cache %s", cache)
            return cached, True
    ranges = _calibrate(source, data, method, batch_size)
    if cache is not None:
        payload = {"kind": "calibration-cache", "version": CACHE_VERSION, "key": key, "model_sha256": source.sha256,
                   "data": data.source, "data_sha256": data.sha256, "samples": data.samples, "method": method,
                   "percentile": PERCENTILE if method == "percentile" else None,
                   "ranges": {name: [lo, hi] for name, (lo, hi) in sorted(ranges.items())}}
        atomic_write_text(cache, json.dumps(payload, indent=1) + "\n")
        write_sidecar(cache, new_sidecar("calibration-cache", cache, source=str(source.path),
                                         source_sha256=source.sha256, method=method, samples=data.samples,
                                         data=data.source))
        log.info("calibration cache written to %s (sidecar %s)", cache, sidecar_path(cache).name)
    return ranges, False
