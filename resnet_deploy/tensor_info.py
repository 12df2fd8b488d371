"""A named tensor of a model or plan: what runners, the TensorRT engine and the benchmark
harness say about an input or output. At the bottom of the package, so the TensorRT runtime
(runtime/) and the runners above it (backends/) share one record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TensorInfo:
    """A named input or output. Dynamic axes are None (or a symbolic name)."""

    name: str
    shape: tuple[int | str | None, ...]
    dtype: np.dtype[Any]

    def is_dynamic(self, axis: int) -> bool:
        return not isinstance(self.shape[axis], int) or self.shape[axis] < 0  # type: ignore[operator]
