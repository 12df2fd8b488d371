"""Top-k predictions of classification logits, one rule everywhere (training's evaluation,
accuracy against FP32, output comparison): the k highest scores, highest first, ties broken
by the lower class index, so every report agrees on what the top-1 of a row is."""

from __future__ import annotations

import numpy as np


def top_k(logits: np.ndarray, k: int) -> np.ndarray:
    """Class indices of the `k` highest scores along the last axis (k is capped at the number
    of classes), highest first; among equal scores the lower index comes first."""
    k = min(k, logits.shape[-1])
    return np.argsort(-logits, axis=-1, kind="stable")[..., :k]


def top_k_hits(logits: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per row, whether `labels` is among the top `k` classes of `logits` (N, classes)."""
    return np.any(top_k(logits, k) == np.asarray(labels)[:, None], axis=1)
