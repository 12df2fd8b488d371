"""Optimization profiles from the ONNX graph and the flags (pure: no TensorRT)."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.runtime.profiles import (
    TensorProfile,
    build_profile,
    onnx_input_shapes,
    parse_shapes,
    profile_from_dict,
    profile_to_dict,
)
from tests.tensorrt.helpers import conv_model


def test_shapes_read_from_the_graph(tmp_path: Path) -> None:
    dynamic = onnx.load(conv_model(tmp_path / "d.onnx"))
    assert onnx_input_shapes(dynamic) == {"input": ("batch", 3, 8, 8)}
    fixed = onnx.load(conv_model(tmp_path / "f.onnx", batch=4, size="side"))
    assert onnx_input_shapes(fixed) == {"input": (4, 3, "side", "side")}


def test_batch_range_from_flags_and_defaults() -> None:
    shapes = {"input": (None, 3, 224, 224)}
    profile = build_profile(shapes, min_batch=1, opt_batch=32, max_batch=256)["input"]
    assert (profile.min, profile.opt, profile.max) == ((1, 3, 224, 224), (32, 3, 224, 224), (256, 3, 224, 224))
    default = build_profile(shapes)["input"]
    assert default.batch_range == (1, 256) and default.opt[0] == 32
    small = build_profile(shapes, max_batch=8)["input"]
    assert small.opt[0] == 8  # the default opt is clamped into the range
    assert small.contains((5, 3, 224, 224)) and not small.contains((9, 3, 224, 224))
    with pytest.raises(InvalidInputError, match="min <= opt <= max"):
        build_profile(shapes, min_batch=8, opt_batch=4, max_batch=16)
    with pytest.raises(InvalidInputError, match="at least 1"):
        build_profile(shapes, min_batch=0, opt_batch=1, max_batch=2)


def test_fixed_batch_pins_the_profile() -> None:
    profile = build_profile({"input": (8, 3, 32, 32)})["input"]
    assert profile.min == profile.opt == profile.max == (8, 3, 32, 32)
    with pytest.raises(InvalidInputError, match=r"fixed at 8.*max_batch 256"):
        build_profile({"input": (8, 3, 32, 32)}, max_batch=256)


def test_dynamic_spatial_axes_need_shapes() -> None:
    shapes = {"input": ("batch", 3, "h", "w")}
    with pytest.raises(InvalidInputError, match=r"shapes input:3xNxN"):
        build_profile(shapes)
    profile = build_profile(shapes, max_batch=4, shapes=parse_shapes("input:3x160x128", ["input"]))["input"]
    assert profile.max == (4, 3, 160, 128)
    with pytest.raises(InvalidInputError, match="fixes it at 3"):
        build_profile(shapes, shapes={"input": (1, 160, 128)})
    with pytest.raises(InvalidInputError, match="has 2 dimensions"):
        build_profile(shapes, shapes={"input": (160, 128)})


def test_parse_shapes_forms_and_errors() -> None:
    assert parse_shapes(None, ["input"]) == {}
    assert parse_shapes("3x224x224", ["input"]) == {"input": (3, 224, 224)}
    assert parse_shapes("a:3x8x8, b:10", ["a", "b"]) == {"a": (3, 8, 8), "b": (10,)}
    with pytest.raises(InvalidInputError, match="needs an input name"):
        parse_shapes("3x8x8", ["a", "b"])
    with pytest.raises(InvalidInputError, match="does not have"):
        parse_shapes("image:3x8x8", ["input"])
    with pytest.raises(InvalidInputError, match="integers"):
        parse_shapes("input:3xfoo", ["input"])
    with pytest.raises(InvalidInputError, match="positive"):
        parse_shapes("input:0x8", ["input"])


def test_profile_round_trips_through_the_sidecar() -> None:
    profile = build_profile({"input": (None, 3, 32, 32)}, max_batch=64)
    assert profile_from_dict(profile_to_dict(profile)) == profile
    assert TensorProfile.from_dict("x", {"min": [1], "opt": [2], "max": [3]}).batch_range == (1, 3)
    with pytest.raises(InvalidInputError, match="malformed"):
        profile_from_dict({"input": {"min": [1]}})
