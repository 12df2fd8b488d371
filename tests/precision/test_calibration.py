"""Calibration: ranges streamed in bounded memory equal onnxruntime's all-at-once ranges;
sources for models without a matching dataset; the cache never gives wrong ranges."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import onnx
import pytest

from resnet_deploy.errors import ArtifactError, InvalidInputError
from resnet_deploy.precision import calibration, quantize_int8
from resnet_deploy.precision._model import load_source
from resnet_deploy.precision.calibration_cache import ranges_sha256
from tests.precision.conftest import export_tiny


def _all_at_once(model: Path, array: np.ndarray, method: str) -> object:
    """What the project did before: onnxruntime's calibrator handed every batch at once.
    Returns the calibrator after collection (ranges: compute_data(); histograms: .collector)."""
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator

    methods = {"max": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    extra = {"max": {}, "percentile": {"percentile": calibration.PERCENTILE, "num_bins": calibration.HISTOGRAM_BINS},
             "entropy": {"num_bins": calibration.HISTOGRAM_BINS, "num_quantized_bins": 128}}[method]
    source = load_source(model)
    batches = iter([{"input": array[i:i + 32]} for i in range(0, len(array), 32)])

    class Reader:
        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(batches, None)

    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        calibrator = create_calibrator(model, sorted({n.op_type for n in source.model.graph.node}),
                                       augmented_model_path=str(Path(tmp) / "a.onnx"),
                                       calibrate_method=methods[method], extra_options=extra)
        calibrator.collect_data(Reader())
    return calibrator


def _ranges(calibrator: object) -> dict[str, tuple[float, float]]:
    with contextlib.redirect_stdout(io.StringIO()):
        data = calibrator.compute_data().data  # type: ignore[attr-defined]
    return {k: (float(np.asarray(v.range_value[0]).reshape(-1)[0]), float(np.asarray(v.range_value[1]).reshape(-1)[0]))
            for k, v in data.items()}


@pytest.mark.parametrize("batch_size", [32, 5])
def test_streamed_max_ranges_equal_the_all_at_once_ranges(fp32_model: Path, calib_npy: Path, batch_size: int) -> None:
    source = load_source(fp32_model)
    data = calibration.load_calibration_data(str(calib_npy), source, samples=24)
    ranges, used = calibration.collect_ranges(source, data, "max", batch_size)
    assert used == batch_size and len(ranges) > 40
    assert ranges == _ranges(_all_at_once(fp32_model, data.array, "max"))


@pytest.mark.parametrize("batch_size", [32, 5])
def test_streamed_entropy_histograms_equal_the_all_at_once_histograms(fp32_model: Path, calib_npy: Path,
                                                                       batch_size: int) -> None:
    """Entropy thresholds are a function of the histograms alone (onnxruntime's KL search,
    about a minute per model here, so it is not run twice): equal histograms, equal ranges."""
    source = load_source(fp32_model)
    data = calibration.load_calibration_data(str(calib_npy), source, samples=24)
    collector, _ = calibration.collect_histograms(source, data, "entropy", batch_size)
    expected = _all_at_once(fp32_model, data.array, "entropy").collector.histogram_dict  # type: ignore[attr-defined]
    assert set(collector.histogram_dict) == set(expected) and len(expected) > 40
    for name, (counts, edges, low, high, threshold) in expected.items():
        got = collector.histogram_dict[name]
        np.testing.assert_array_equal(got[0], counts, err_msg=name)
        np.testing.assert_array_equal(got[1], edges, err_msg=name)
        assert (got[2], got[3], got[4]) == (low, high, threshold), name


@pytest.mark.parametrize("batch_size", [32, 5])
def test_streamed_percentile_ranges_match_the_all_at_once_ranges(fp32_model: Path, calib_npy: Path,
                                                                  batch_size: int) -> None:
    source = load_source(fp32_model)
    data = calibration.load_calibration_data(str(calib_npy), source, samples=24)
    ranges, _ = calibration.collect_ranges(source, data, "percentile", batch_size)
    expected = _ranges(_all_at_once(fp32_model, data.array, "percentile"))
    assert set(ranges) == set(expected)
    for name, (lo, hi) in expected.items():  # the |x| histogram's lower edge: 0, not min |x| (docstring)
        assert ranges[name] == pytest.approx((lo, hi), rel=1e-4, abs=1e-5), name


def test_calibration_memory_does_not_grow_with_the_sample_count(tmp_path: Path) -> None:
    """Python-side allocations (every tensor's outputs, the histograms) are those of one batch:
    6x the samples may not cost 6x. Before, the histogram methods kept every batch's outputs."""
    model = export_tiny(tmp_path / "m.onnx")
    source = load_source(model)
    peaks = []
    for samples in (16, 96):
        array = np.random.default_rng(0).standard_normal((samples, 1, 32, 32)).astype(np.float32)
        np.save(tmp_path / f"c{samples}.npy", array)
        data = calibration.load_calibration_data(str(tmp_path / f"c{samples}.npy"), source, samples=samples)
        tracemalloc.start()
        calibration.collect_histograms(source, data, "entropy", batch_size=8)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.5 * peaks[0], f"peak {peaks[0] / 1e6:.1f} MB at 16 samples, {peaks[1] / 1e6:.1f} MB at 96"


def test_batch_follows_the_memory_budget() -> None:
    resnet50_224 = 106_393_504  # bytes of its calibrated float tensors per image at 224x224
    assert calibration.calibration_batch(resnet50_224, 32, None) == 7
    assert calibration.calibration_batch(10 * calibration.ACTIVATION_BUDGET, 32, None) == 1
    assert calibration.calibration_batch(200_000, 32, None) == 32  # a ResNet-20 on 32x32: the cap
    assert calibration.calibration_batch(resnet50_224, 32, 4) == 4  # a fixed batch axis wins


# -- sources for models without a matching dataset ------------------------------------------------

@pytest.fixture(scope="module")
def rgb_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_tiny(tmp_path_factory.mktemp("rgb") / "rgb.onnx", in_channels=3)


@pytest.mark.parametrize(("calib", "conversion"), [("digits", "grey 1 -> 3 channels, 32 -> 32 px"),
                                                    ("random", "standard normal")])
def test_three_channel_model_calibrates_without_a_dataset_and_says_so(rgb_model: Path, tmp_path: Path, calib: str,
                                                                      conversion: str,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        result = quantize_int8(rgb_model, tmp_path / "q.onnx", calib=calib, samples=24, target="cpu")
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "good for speed work, not for accuracy" in warning
    details = result.details["calibration"]
    assert details["data"] == calib and conversion in details["conversion"] and details["representative"] is False
    meta = {p.key: p.value for p in onnx.load(str(result.output)).metadata_props}
    assert meta["calibration_data"].startswith(calib) and "not representative" in meta["calibration_data"]
    sidecar = json.loads(Path(str(result.output) + ".json").read_text())
    assert sidecar["calibration"]["representative"] is False


def test_converted_digits_are_the_fixed_subset_normalised_as_the_model(rgb_model: Path) -> None:
    from resnet_deploy.data import eval_arrays
    from resnet_deploy.input_spec import IMAGENET_MEAN, IMAGENET_STD

    data = calibration.load_calibration_data("digits", load_source(rgb_model), samples=10)
    grey, _ = eval_arrays("digits", split="train", limit=10)
    assert data.array.shape == (10, 3, 32, 32) and data.array.dtype == np.float32
    pixels = data.array * np.float32(IMAGENET_STD[0]) + np.float32(IMAGENET_MEAN[0])  # channel 0 back to [0, 1]
    np.testing.assert_allclose(pixels[:, 0], pixels[:, 0].clip(0, 1), atol=1e-6)
    channels = data.array * np.asarray(IMAGENET_STD, np.float32)[:, None, None] + np.asarray(IMAGENET_MEAN, np.float32)[:, None, None]
    np.testing.assert_allclose(channels[:, 0], channels[:, 2], atol=1e-5)  # the same grey in every channel
    assert np.corrcoef(channels[:, 0].ravel(), grey[:, 0].ravel())[0, 1] > 0.999


def test_sample_count_default_takes_what_the_data_holds_and_an_explicit_one_is_a_promise(
        fp32_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    small = tmp_path / "small.npy"
    np.save(small, np.random.default_rng(0).standard_normal((12, 1, 32, 32)).astype(np.float32))
    with caplog.at_level(logging.WARNING):
        result = quantize_int8(fp32_model, tmp_path / "q.onnx", calib=str(small))  # samples left at the default
    assert result.details["calibration"]["samples"] == 12
    assert any("fewer than the default 512: calibrating on all 12" in r.getMessage() for r in caplog.records)
    with pytest.raises(InvalidInputError, match="has 12 samples, fewer than the 20 asked for") as err:
        quantize_int8(fp32_model, tmp_path / "r.onnx", calib=str(small), samples=20)
    assert err.value.param == "samples" and "--" not in str(err.value)


def test_a_three_channel_dataset_for_a_grey_model_is_refused_with_the_parameter(fp32_model: Path, tmp_path: Path) -> None:
    from tests.data.conftest import write_imagefolder

    root = write_imagefolder(tmp_path / "images")
    with pytest.raises(InvalidInputError, match=r"has 3 channels; the model expects 1.*calib='random'") as err:
        quantize_int8(fp32_model, tmp_path / "q.onnx", calib="imagefolder", data_dir=root, samples=4)
    assert err.value.param == "calib"
    with pytest.raises(InvalidInputError, match="samples must be positive") as err:
        quantize_int8(fp32_model, tmp_path / "q.onnx", calib="random", samples=0)
    assert err.value.param == "samples"


# -- the cache --------------------------------------------------------------------------------------

def _quantize(model: Path, calib: Path, out: Path, cache: Path) -> dict[str, object]:
    return quantize_int8(model, out, calib=str(calib), samples=8, cache_path=cache).details["calibration"]  # type: ignore[return-value]


def _qdq_scales(path: Path) -> dict[str, float]:
    from onnx import numpy_helper

    model = onnx.load(str(path))
    return {i.name: float(numpy_helper.to_array(i)) for i in model.graph.initializer
            if i.name.endswith("_scale") and not i.dims}


@pytest.mark.parametrize("damage", ["one-element range", "edited value", "low above high", "truncated"])
def test_an_invalid_cache_of_ours_is_ignored_with_a_warning_and_rewritten(
        fp32_model: Path, calib_npy: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str) -> None:
    cache = tmp_path / "c.calib.json"
    _quantize(fp32_model, calib_npy, tmp_path / "a.onnx", cache)
    good = json.loads(cache.read_text())
    name = sorted(good["ranges"])[3]
    if damage == "truncated":
        cache.write_text(cache.read_text()[:200])
    else:
        edited = json.loads(cache.read_text())
        edited["ranges"][name] = {"one-element range": [0.5], "edited value": [good["ranges"][name][0], 100.0],
                                  "low above high": [2.0, 1.0]}[damage]
        cache.write_text(json.dumps(edited))
    with caplog.at_level(logging.WARNING):
        details = _quantize(fp32_model, calib_npy, tmp_path / "b.onnx", cache)
    assert not details["cache_hit"]
    warning = next(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "calibration cache" in warning and "invalid" in warning and "recalibrating" in warning
    assert json.loads(cache.read_text())["ranges"] == good["ranges"]  # recomputed, never the edited value
    assert _qdq_scales(tmp_path / "b.onnx") == _qdq_scales(tmp_path / "a.onnx")


def test_a_file_that_is_not_our_cache_is_refused_and_left_alone(fp32_model: Path, calib_npy: Path,
                                                                 tmp_path: Path) -> None:
    for content in (b"garbage", b'{"kind": "onnx", "ranges": 5}'):
        cache = tmp_path / "notes.json"
        cache.write_bytes(content)
        with pytest.raises(ArtifactError, match=r"'.*notes.json' is not a calibration cache .*remove it or choose") as err:
            _quantize(fp32_model, calib_npy, tmp_path / "q.onnx", cache)
        assert err.value.param == "cache_path" and "\n" not in str(err.value)
        assert cache.read_bytes() == content and not (tmp_path / "q.onnx").exists()


def test_cache_checksum_covers_every_range() -> None:
    ranges = {"a": (0.0, 1.5), "b": (-2.0, 2.0)}
    assert ranges_sha256(ranges) == ranges_sha256(dict(reversed(ranges.items())))
    assert ranges_sha256(ranges) != ranges_sha256({**ranges, "b": (-2.0, 2.0000001)})
