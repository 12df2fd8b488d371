"""`quantize --max-drop`: the search finds the layer that costs the accuracy and keeps it in
float (on a trained digits model with one activation range deliberately ruined), and judges
on held-out training images while reporting on the test split."""

from __future__ import annotations

import functools
from pathlib import Path

from resnet_deploy.precision._model import load_source
from resnet_deploy.precision.calibration import load_calibration_data, tensor_ranges
from resnet_deploy.precision.int8 import build_int8
from resnet_deploy.precision.sensitivity import SpeedCost, search_fallback

RUINED = "/layer3/layer3.1/conv2/Conv"


def test_the_search_keeps_the_ruined_layer_in_float(digits_onnx: Path, tmp_path: Path) -> None:
    source = load_source(digits_onnx)
    ranges = tensor_ranges(source, load_calibration_data("digits", source, samples=64), method="max")
    node = next(n for n in source.model.graph.node if n.name == RUINED)
    lo, hi = ranges[node.input[0]]
    ranges[node.input[0]] = (lo / 200, hi / 200)  # this conv's input now saturates: INT8 is wrong there
    build = functools.partial(build_int8, source, ranges, method="max", target="tensorrt", weight_bits=8,
                              cpu_format="qdq", scratch=tmp_path)
    timed: list[tuple[Path, Path]] = []

    def probe(before: Path, after: Path) -> SpeedCost:
        timed.append((before, after))
        return SpeedCost("fake", 1, 1.0, 1.5)

    search = search_fallback(source, build, frozenset({"/fc/Gemm"}), max_drop=1.0, dataset="digits", images=300,
                             avoid=64, scratch=tmp_path, speed_probe=probe)
    assert search.holdout_before.drop > 1.0  # the damage is real
    assert search.met and search.holdout_after.drop <= 1.0
    assert search.ranking[0].name == RUINED and RUINED in search.searched and len(search.searched) <= 2
    assert "/fc/Gemm" in search.kept_float and "/fc/Gemm" not in search.searched  # the user's own exclude stays
    assert search.holdout_images == 300 and search.test_images == 360  # judged on training images, reported on test
    assert search.test_after.drop < search.test_before.drop
    assert timed and all(p.is_file() for p in timed[0]) and search.speed is not None and search.speed.ratio == 1.5
    meta = search.metadata()
    assert meta["kept_float"] == list(search.searched) and meta["test_images"] == 360
