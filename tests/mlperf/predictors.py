"""Predictors for the mlperf tests, loaded by scenario processes through `--predictor
tests.mlperf.predictors:NAME`: a tiny numpy "model", and faulty ones (raising, dropping a
sample) that behave only after a few good batches."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from resnet_deploy.input_spec import InputSpec


class SumModel:
    """logits[b, k] = mean(x[b]) * (k + 1) - k: deterministic and cheap."""

    input_dtype: np.dtype[Any] = np.dtype(np.float32)
    spec = InputSpec(1, 8, 8, (0.5,), (0.5,))

    def __init__(self, fault: str | None = None, after: int = 2) -> None:
        self.fault, self.after = fault, after
        self._calls = itertools.count()

    def batch_limits(self) -> tuple[int, int | None]:
        return (1, 64)

    def predict(self, x: np.ndarray) -> np.ndarray:
        call = next(self._calls)
        logits = x.reshape(len(x), -1).mean(axis=1)[:, None] * np.arange(1, 11, dtype=np.float32) - np.arange(10)
        if self.fault and call >= self.after:
            if self.fault == "raise":
                raise ValueError("the runtime broke down on purpose")
            if self.fault == "drop":
                return logits[:-1]
        return logits

    def close(self) -> None:
        pass


def good(model: str) -> SumModel:
    return SumModel()


def raising(model: str) -> SumModel:
    return SumModel("raise")


def dropping(model: str) -> SumModel:
    return SumModel("drop")
