"""Per-tensor calibration ranges in bounded memory, with a cache so a rebuild does not recalibrate.

Ranges come from onnxruntime's calibrators (max, entropy, percentile) over every float
tensor, so one cache serves both INT8 layouts; images come from calibration_data.py.

Memory. Handing onnxruntime's calibrators all the data at once kept every batch's outputs
(histogram methods: ResNet-50 at 224 has 106 MB of calibrated tensors per image) and ran a session
whose memory pattern doubled its arena: ResNet-50 peaked at 4.0 GB with 32 samples and 7.4 GB
with 128 even for max. Here the data goes through in batches sized to a memory budget, in a
session without a memory pattern, and
- max: one pass; onnxruntime's augmented model reduces each tensor to its min and max inside
  the graph, and the batches' extremes merge into exactly the all-at-once ranges;
- entropy, percentile: the max pass first, then a second pass adds each batch's counts into
  a histogram over the final range, the one a one-shot collection would use (entropy: signed
  values over [-t, t], t = max(|min|, |max|); percentile: |x| over [min |x|, max |x|], 2048
  bins). Counts add up, so the histograms — and the thresholds onnxruntime's
  HistogramCollector computes from them — are the all-at-once ones (percentile: the lower
  edge is 0 where the range holds 0, so thresholds agree to about 1e-5), without its memory.
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
from pathlib import Path
from typing import Any

import numpy as np

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.precision._model import SourceModel
from resnet_deploy.precision.calibration_cache import read_cache, write_cache
from resnet_deploy.precision.calibration_data import (
    DATASETS,
    CalibrationData,
    check_array,
    load_calibration_data,
)

log = logging.getLogger(__name__)

__all__ = ["DATASETS", "HISTOGRAM_BINS", "METHODS", "PERCENTILE", "CalibrationData", "calibration_batch",
           "check_array", "collect_extremes", "collect_histograms", "collect_ranges", "load_calibration_data",
           "tensor_ranges"]

METHODS = ("max", "entropy", "percentile")
PERCENTILE = 99.99  # NVIDIA's pytorch-quantization default for CNN activations
HISTOGRAM_BINS = 2048  # as TensorRT's entropy calibrator
ENTROPY_QUANTIZED_BINS = 128
CACHE_VERSION = 5
# Bytes of calibrated tensors one batch may produce: bounds the session's arena (max pass)
# and the outputs held at once (histogram pass). ResNet-50 at 224 has 106 MB of calibrated
# float tensors per image, so it calibrates 7 images at a time.
ACTIVATION_BUDGET = 768 * 2**20

Ranges = dict[str, tuple[float, float]]


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise InvalidInputError(f"unknown calibration method {method!r}; valid: {', '.join(METHODS)}", param="method")


def cache_key(model_sha256: str, data: CalibrationData, method: str) -> str:
    text = json.dumps([CACHE_VERSION, model_sha256, data.sha256, data.samples, method, PERCENTILE, HISTOGRAM_BINS])
    return hashlib.sha256(text.encode()).hexdigest()


def _session(model_path: str) -> Any:
    """A CPU session as onnxruntime's calibrators make it (no graph optimization: every tensor
    stays as in the model), without the memory pattern that doubles the arena's peak."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.enable_mem_pattern = False
    return ort.InferenceSession(model_path, sess_options=options, providers=["CPUExecutionProvider"])


def _per_image_bytes(value_infos: dict[str, Any], tensors: set[str]) -> int:
    """Bytes of the calibrated tensors for one image (batch axis left out; unknown dims count 1)."""
    total = 0
    for name in tensors:
        info = value_infos.get(name)
        if info is None:
            continue
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1
                for d in info.type.tensor_type.shape.dim[1:]]
        total += 4 * int(np.prod(dims, dtype=np.int64))
    return total


def calibration_batch(per_image_bytes: int, batch_size: int, fixed_batch: int | None) -> int:
    """Images per calibration batch: the model's fixed batch, else as many as the budget holds
    (at least 1, at most `batch_size`)."""
    if fixed_batch:
        return fixed_batch
    return max(1, min(batch_size, ACTIVATION_BUDGET // max(1, per_image_bytes)))


def _batches(array: np.ndarray, batch: int) -> Iterator[np.ndarray]:
    for start in range(0, len(array), batch):
        yield array[start:start + batch]


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over an in-memory array."""

    def __init__(self, input_name: str, array: np.ndarray, batch: int) -> None:
        self._batches = ({input_name: chunk} for chunk in _batches(array, batch))

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def _usable(data: CalibrationData, fixed_batch: int | None) -> np.ndarray:
    """The samples a fixed-batch model can take (whole batches)."""
    if not fixed_batch or data.samples % fixed_batch == 0:
        return data.array
    whole = data.samples - data.samples % fixed_batch
    if whole == 0:
        raise InvalidInputError(f"the model's batch is fixed at {fixed_batch}; calibration needs at least that many "
                                f"samples, got {data.samples}", param="samples")
    log.warning("the model's batch is fixed at %d: calibrating on %d of the %d samples", fixed_batch, whole, data.samples)
    return data.array[:whole]


def collect_ranges(source: SourceModel, data: CalibrationData, method: str, batch_size: int = 32) -> tuple[Ranges, int]:
    """(ranges per float tensor, images per batch used), in bounded memory (module docstring)."""
    _check_method(method)
    if method == "max":
        extremes, batch = collect_extremes(source, data, batch_size)
        return {name: (float(lo), float(hi)) for name, (lo, hi) in extremes.items()}, batch
    collector, batch = collect_histograms(source, data, method, batch_size)
    with contextlib.redirect_stdout(io.StringIO()):  # onnxruntime prints its progress
        thresholds = collector.compute_collection_result()
    return {name: (float(np.asarray(value[0]).reshape(-1)[0]), float(np.asarray(value[1]).reshape(-1)[0]))
            for name, value in thresholds.items()}, batch


def _augmented(calibrator: Any) -> Any:
    """Augment the calibrator's model (its progress printing kept off stdout) and open our session on it."""
    chatter = io.StringIO()
    with contextlib.redirect_stdout(chatter):
        calibrator.augment_graph()
    if chatter.getvalue().strip():
        log.debug("calibrator: %s", chatter.getvalue().strip()[-2000:])
    return _session(calibrator.augmented_model_path)


def collect_extremes(source: SourceModel, data: CalibrationData,
                     batch_size: int = 32) -> tuple[dict[str, tuple[np.float32, np.float32]], int]:
    """Every float tensor's min and max over all the data (onnxruntime's MinMax calibrator,
    fed batch by batch), and the images per batch used."""
    from onnxruntime.quantization.calibrate import MinMaxCalibrater

    op_types = sorted({n.op_type for n in source.model.graph.node})
    fixed_batch = source.input.dim(0)
    array = _usable(data, fixed_batch)
    with tempfile.TemporaryDirectory(prefix="calib.") as tmp:
        minmax = MinMaxCalibrater(source.path, op_types, augmented_model_path=str(Path(tmp) / "minmax.onnx"))
        tensors, value_infos = minmax.select_tensors_to_calibrate(minmax.model)
        batch = calibration_batch(_per_image_bytes(value_infos, tensors), batch_size, fixed_batch)
        minmax.infer_session = _augmented(minmax)
        minmax.collect_data(_Reader(source.input.name, array, batch))
        extremes = {name: (np.float32(np.asarray(v.range_value[0]).reshape(-1)[0]),
                           np.float32(np.asarray(v.range_value[1]).reshape(-1)[0]))
                    for name, v in minmax.compute_data().data.items()}
    return extremes, batch


def collect_histograms(source: SourceModel, data: CalibrationData, method: str, batch_size: int = 32) -> tuple[Any, int]:
    """onnxruntime's HistogramCollector filled as its one-shot collection would fill it (the
    max pass gives each tensor's final range, a second pass adds each batch's counts), and
    the images per batch used. `compute_collection_result()` gives the thresholds."""
    from onnxruntime.quantization.calibrate import HistogramCalibrater, HistogramCollector

    if method not in ("entropy", "percentile"):
        raise InvalidInputError(f"histogram calibration is entropy or percentile, got {method!r}", param="method")
    extremes, batch = collect_extremes(source, data, batch_size)
    op_types = sorted({n.op_type for n in source.model.graph.node})
    array = _usable(data, source.input.dim(0))
    with tempfile.TemporaryDirectory(prefix="calib.") as tmp:
        histograms = HistogramCalibrater(source.path, op_types, augmented_model_path=str(Path(tmp) / "hist.onnx"),
                                         method=method, num_bins=HISTOGRAM_BINS,
                                         num_quantized_bins=ENTROPY_QUANTIZED_BINS, percentile=PERCENTILE)
        session = _augmented(histograms)
        names = sorted(n for n in histograms.tensors_to_calibrate if n in extremes)
        del histograms
        # onnxruntime's defaults, kept from before: entropy over signed values, percentile
        # symmetric (over |x|).
        absolute = method == "percentile"
        collector = HistogramCollector(method=method, symmetric=absolute, num_bins=HISTOGRAM_BINS,
                                       num_quantized_bins=ENTROPY_QUANTIZED_BINS, percentile=PERCENTILE,
                                       scenario="same")
        collector.histogram_dict = _histograms(session, source.input.name, array, batch, names, extremes, absolute)
        del session
    return collector, batch


def _histograms(session: Any, input_name: str, array: np.ndarray, batch: int, names: list[str],
                extremes: dict[str, tuple[np.float32, np.float32]], absolute: bool) -> dict[str, tuple[Any, ...]]:
    """HistogramCollector's entries as its one-shot collection makes them from all the data,
    accumulated one batch at a time over the final range:
    - signed values (entropy): (counts, edges, min, max, threshold) over [-t, t], t = max(|min|, |max|);
    - absolute values (percentile, symmetric): (counts, edges, min, max) over [min |x|, max |x|].
      min |x| is 0 for a range that holds 0 — exact when 0 occurs (ReLU outputs), within
      min |x| otherwise; every other bin edge is the one-shot collection's."""
    counts: dict[str, np.ndarray] = {}
    edges: dict[str, np.ndarray] = {}
    bounds: dict[str, Any] = {}
    for name, (lo, hi) in extremes.items():
        if absolute:
            inside = lo <= 0 <= hi
            bounds[name] = (0.0 if inside else float(min(abs(lo), abs(hi))), float(max(abs(lo), abs(hi))))
        else:
            threshold = np.array(max(abs(lo), abs(hi)), dtype=np.float32)
            bounds[name] = (-threshold, threshold)
    for chunk in _batches(array, batch):
        outputs = session.run(names, {input_name: chunk})
        for name, value in zip(names, outputs, strict=True):
            flat = np.absolute(value.reshape(-1)) if absolute else value.reshape(-1)
            hist, hist_edges = np.histogram(flat, HISTOGRAM_BINS, range=bounds[name])
            if name in counts:
                counts[name] += hist
            else:
                counts[name], edges[name] = hist, hist_edges.astype(np.float32)
        del outputs
    if absolute:
        return {name: (counts[name], edges[name], extremes[name][0], extremes[name][1]) for name in names}
    return {name: (counts[name], edges[name], extremes[name][0], extremes[name][1], bounds[name][1]) for name in names}


def tensor_ranges(source: SourceModel, data: CalibrationData, *, method: str, batch_size: int = 32,
                  cache_path: str | os.PathLike[str] | None = None) -> tuple[Ranges, bool]:
    """(ranges per float tensor, whether they came from the cache). Calibrates and writes the
    cache only when it is missing, was made for another model/data/method/sample count, or is
    an invalid copy of ours (calibration_cache.py says which files are refused instead)."""
    ranges, hit, _ = tensor_ranges_with_batch(source, data, method=method, batch_size=batch_size, cache_path=cache_path)
    return ranges, hit


def tensor_ranges_with_batch(source: SourceModel, data: CalibrationData, *, method: str, batch_size: int = 32,
                             cache_path: str | os.PathLike[str] | None = None) -> tuple[Ranges, bool, int | None]:
    """tensor_ranges plus the images per batch the calibration used (None on a cache hit)."""
    _check_method(method)
    if batch_size < 1:
        raise InvalidInputError(f"calibration batch size must be positive, got {batch_size}", param="batch_size")
    key = cache_key(source.sha256, data, method)
    cache = Path(cache_path) if cache_path is not None else None
    if cache is not None:
        cached = read_cache(cache, key)
        if cached is not None:
            log.info("calibration ranges from cache %s", cache)
            return cached, True, None
    ranges, batch = collect_ranges(source, data, method, batch_size)
    if cache is not None:
        write_cache(cache, key, ranges, model_sha256=source.sha256, source=str(source.path), data=data.describe(),
                    data_sha256=data.sha256, samples=data.samples, method=method,
                    percentile=PERCENTILE if method == "percentile" else None)
    return ranges, False, batch
