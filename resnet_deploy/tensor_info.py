"""A named tensor of a model (graph input or output, runner input or output) and the image
layout it implies.

Kept at the bottom of the package so the description of an artifact (export.artifact), the
runners (backends) and the server all speak of tensors with one record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Layout = Literal["NCHW", "NHWC"]
IMAGE_CHANNELS = (1, 3)


@dataclass(frozen=True)
class TensorInfo:
    """A named input or output. Dynamic axes are None (or a symbolic name)."""

    name: str
    shape: tuple[int | str | None, ...]
    dtype: np.dtype[Any]

    def is_dynamic(self, axis: int) -> bool:
        return not isinstance(self.shape[axis], int) or self.shape[axis] < 0  # type: ignore[operator]

    def dim(self, axis: int) -> int | None:
        """The fixed size of `axis`, None when it is dynamic."""
        return None if self.is_dynamic(axis) else int(self.shape[axis])  # type: ignore[arg-type]


def image_layout(shape: tuple[int | str | None, ...]) -> Layout | None:
    """NCHW or NHWC for a rank-4 image tensor with 1 or 3 channels, None otherwise. A fixed
    1 or 3 on axis 1 means NCHW (the PyTorch and ONNX convention, and the tie-break); one on
    the last axis with something else on axis 1 means NHWC (TensorFlow's exports)."""
    if len(shape) != 4:
        return None

    def channels(value: int | str | None) -> bool:
        return isinstance(value, int) and value in IMAGE_CHANNELS

    if channels(shape[1]):
        return "NCHW"
    if channels(shape[3]):
        return "NHWC"
    return None


def to_layout(x: np.ndarray, layout: Layout | None) -> np.ndarray:
    """NCHW images `x` in `layout` (a contiguous copy for NHWC; `x` itself otherwise)."""
    if layout == "NHWC" and x.ndim == 4:
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    return x
