"""Output agreement statistics, shared by `validate` (torch vs onnxruntime) and `accuracy`
(FP16/INT8 vs FP32).

A comparison is an object with per-output statistics that is truthy when it passes, so
callers write `if not result: ...` and reports print `result.to_dict()`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from resnet_deploy.errors import InvalidInputError


@dataclass(frozen=True)
class Tolerance:
    """Limits for one output. `atol`/`rtol` bound |a-b| <= atol + rtol*|ref| element-wise;
    the agreement and cosine limits apply to classification logits."""

    atol: float = 1e-4
    rtol: float = 1e-3
    min_cosine: float = 0.9999
    min_top1_agreement: float = 1.0

    @classmethod
    def for_precision(cls, precision: str) -> Tolerance:
        """Sensible defaults: FP32 must match to float rounding; FP16/INT8 are judged on
        agreement and cosine, since their element errors are expected."""
        defaults = {
            "fp32": cls(atol=1e-4, rtol=1e-3, min_cosine=0.99999, min_top1_agreement=1.0),
            "fp16": cls(atol=5e-2, rtol=5e-2, min_cosine=0.999, min_top1_agreement=0.99),
            "int8": cls(atol=float("inf"), rtol=float("inf"), min_cosine=0.98, min_top1_agreement=0.95),
        }
        if precision not in defaults:
            raise InvalidInputError(f"unknown precision {precision!r}; valid: {', '.join(defaults)}")
        return defaults[precision]


@dataclass(frozen=True)
class OutputComparison:
    name: str
    count: int
    max_abs: float
    max_rel: float
    mean_abs: float
    cosine: float
    top1_agreement: float | None
    top5_agreement: float | None
    within_tolerance: float  # fraction of elements inside atol + rtol*|ref|
    passed: bool
    failures: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["failures"] = list(self.failures)
        return data


def _topk(logits: np.ndarray, k: int) -> np.ndarray:
    k = min(k, logits.shape[-1])
    return np.argsort(-logits, axis=-1, kind="stable")[..., :k]


def compare_outputs(reference: np.ndarray, candidate: np.ndarray, tolerance: Tolerance = Tolerance(),
                    name: str = "logits", classification: bool = True) -> OutputComparison:
    """Compare `candidate` with `reference` (same shape). For classification outputs
    (N, classes) top-1/top-5 agreement is the share of rows whose predictions match: top-1
    exactly, top-5 as the same set."""
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    if ref.shape != cand.shape:
        raise InvalidInputError(f"output '{name}': shapes differ, reference {ref.shape} vs candidate {cand.shape}")
    if ref.size == 0:
        raise InvalidInputError(f"output '{name}' is empty")
    diff = np.abs(ref - cand)
    denom = np.maximum(np.abs(ref), 1e-12)
    max_abs, mean_abs, max_rel = float(diff.max()), float(diff.mean()), float((diff / denom).max())
    flat_r, flat_c = ref.reshape(-1), cand.reshape(-1)
    norms = float(np.linalg.norm(flat_r) * np.linalg.norm(flat_c))
    cosine = float(flat_r @ flat_c / norms) if norms > 0 else float(np.array_equal(flat_r, flat_c))
    within = float(np.mean(diff <= tolerance.atol + tolerance.rtol * np.abs(ref)))
    top1 = top5 = None
    if classification and ref.ndim == 2:
        top1 = float(np.mean(ref.argmax(-1) == cand.argmax(-1)))
        top5 = float(np.mean(np.all(np.sort(_topk(ref, 5), -1) == np.sort(_topk(cand, 5), -1), axis=-1)))

    failures = []
    if not np.all(np.isfinite(cand)):
        failures.append("candidate has NaN or Inf values")
    if within < 1.0:
        failures.append(f"{(1 - within) * 100:.3g}% of elements outside atol={tolerance.atol:g} + rtol={tolerance.rtol:g}*|ref| (max abs {max_abs:.3g})")
    if cosine < tolerance.min_cosine:
        failures.append(f"cosine {cosine:.6f} < {tolerance.min_cosine}")
    if top1 is not None and top1 < tolerance.min_top1_agreement:
        failures.append(f"top-1 agreement {top1:.2%} < {tolerance.min_top1_agreement:.2%}")
    return OutputComparison(name, int(ref.size), max_abs, max_rel, mean_abs, cosine, top1, top5, within,
                            not failures, tuple(failures))
