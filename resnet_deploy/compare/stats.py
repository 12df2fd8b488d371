"""Output agreement statistics: how close a candidate's outputs are to a reference's.

Judged on what matters for a classifier: does the top-1 class agree, do the logit vectors
point the same way (cosine), and how large is the largest element error *relative to the
scale of the outputs* (max |candidate - reference| / RMS(reference)). The last makes one
limit serve a trained ResNet-20 whose logits are around 5 and an untrained ResNet-101 whose
logits reach 1e4. Every limit is finite: a check that cannot fail is not a check.

A comparison is an object with per-output statistics that is truthy when it passes, so
callers write `if not result: ...` and reports print `result.to_dict()`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.topk import top_k

PRECISIONS = ("fp32", "fp16", "bf16", "int8", "fp8")  # most exact first


@dataclass(frozen=True)
class Tolerance:
    """Limits for one output. `max_error` bounds max|candidate - reference| / RMS(reference);
    `min_cosine` the cosine of the flattened outputs; `min_top1` the share of rows whose
    top-1 class agrees (classification outputs only)."""

    max_error: float
    min_cosine: float
    min_top1: float

    def __post_init__(self) -> None:
        for name in ("max_error", "min_cosine", "min_top1"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidInputError(f"tolerance `{name}` must be a finite number, got {value}", param=name)
        if self.max_error < 0:
            raise InvalidInputError(f"tolerance `max_error` must be >= 0, got {self.max_error}", param="max_error")
        if not -1 <= self.min_cosine <= 1:
            raise InvalidInputError(f"tolerance `min_cosine` must be in [-1, 1], got {self.min_cosine}",
                                    param="min_cosine")
        if not 0 <= self.min_top1 <= 1:
            raise InvalidInputError(f"tolerance `min_top1` must be in [0, 1], got {self.min_top1}", param="min_top1")

    @classmethod
    def for_precision(cls, precision: str) -> Tolerance:
        """The default limits for a candidate of this precision against an FP32 reference.
        Measured, with margin, in benchmarks/tolerances.py (results and reasoning in
        docs/validate.md): FP32 runtimes agree to float rounding; FP16 and INT8 are judged on
        agreement and cosine, with an element error bound that still catches a damaged layer."""
        if precision not in DEFAULT_TOLERANCES:
            raise InvalidInputError(f"unknown precision {precision!r}; valid: {', '.join(DEFAULT_TOLERANCES)}")
        return DEFAULT_TOLERANCES[precision]

    def overridden(self, *, max_error: float | None = None, min_cosine: float | None = None,
                   min_top1: float | None = None) -> Tolerance:
        """These limits with the ones given replaced (None keeps the default)."""
        return Tolerance(self.max_error if max_error is None else max_error,
                         self.min_cosine if min_cosine is None else min_cosine,
                         self.min_top1 if min_top1 is None else min_top1)


# Chosen from benchmarks/results/*/tolerances.md (trained ResNet-20 on digits, untrained
# ResNet-50 at 224, onnxruntime and OpenVINO): FP32 runtimes differ by ~2e-6 x RMS (limit 50x
# that); FP16 by ~3e-3 (limit ~7x); INT8 models made for their CPU by at most 0.43 x RMS with
# cosine >= 0.9988, while a damaged INT8 model (one weight scale x100) shows 5 x RMS and cosine
# 0.16, and saturating 16-bit sums (x86 without VNNI, 8-bit weights) 0.86-1.41 and 0.989-0.994.
# Top-1 agreement limits leave room for near-ties on 1000-class data (INT8 PTQ of ImageNet
# ResNets agrees with FP32 on 96-99% of images). BF16 (tolerances.bf16_fp8.<isa>.md, trained
# ResNet-20 and untrained ResNet-50 on OpenVINO, native BF16 with AMX and with avx512_bf16):
# graph and run precision 0.020-0.046 x RMS, cosine >= 0.99995, top-1 agreement 99.7-100%
# (limit ~4x the worst); a damaged BF16 model 380-475 x RMS, cosine <= 0.14. FP8 E4M3
# (per-tensor activations, max calibration): 0.36-0.62 x RMS, cosine >= 0.9947, agreement
# 97.8-100% on onnxruntime and OpenVINO (3 mantissa bits); a damaged FP8 model (one weight
# scale x100) 4.8-6.8 x RMS, cosine <= 0.19.
DEFAULT_TOLERANCES = {
    "fp32": Tolerance(max_error=1e-4, min_cosine=0.99999, min_top1=0.999),
    "fp16": Tolerance(max_error=2e-2, min_cosine=0.999, min_top1=0.99),
    "int8": Tolerance(max_error=1.0, min_cosine=0.99, min_top1=0.95),
    "bf16": Tolerance(max_error=0.2, min_cosine=0.999, min_top1=0.98),
    "fp8": Tolerance(max_error=1.0, min_cosine=0.99, min_top1=0.95),
}


def lower_precision(*precisions: str) -> str:
    """The least exact of several precisions (what a comparison between them is judged by)."""
    known = [p for p in precisions if p in PRECISIONS]
    return max(known, key=PRECISIONS.index) if known else "fp32"


@dataclass(frozen=True)
class OutputComparison:
    name: str
    count: int
    max_abs: float
    mean_abs: float
    reference_rms: float
    max_error: float  # max_abs / reference_rms
    cosine: float
    top1_agreement: float | None
    top5_agreement: float | None
    passed: bool
    failures: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["failures"] = list(self.failures)
        return data


def compare_outputs(reference: np.ndarray, candidate: np.ndarray, tolerance: Tolerance,
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
    finite = bool(np.all(np.isfinite(cand)))
    diff = np.abs(ref - cand)
    max_abs, mean_abs = float(np.nanmax(diff)) if finite else math.inf, float(np.nanmean(diff)) if finite else math.inf
    rms = float(np.sqrt(np.mean(np.square(ref))))
    max_error = max_abs / rms if rms > 0 else (0.0 if max_abs == 0 else math.inf)
    flat_r, flat_c = ref.reshape(-1), cand.reshape(-1)
    norms = float(np.linalg.norm(flat_r) * np.linalg.norm(flat_c))
    cosine = float(flat_r @ flat_c / norms) if norms > 0 and finite else float(np.array_equal(flat_r, flat_c))
    top1 = top5 = None
    if classification and ref.ndim == 2:
        top1 = float(np.mean(top_k(ref, 1)[:, 0] == top_k(cand, 1)[:, 0]))
        top5 = float(np.mean(np.all(np.sort(top_k(ref, 5), -1) == np.sort(top_k(cand, 5), -1), axis=-1)))

    failures = []
    if not finite:
        failures.append("candidate has NaN or Inf values")
    if max_error > tolerance.max_error:
        failures.append(f"max error {max_error:.3g} x the reference's RMS ({max_abs:.3g} abs) > {tolerance.max_error:g}")
    if cosine < tolerance.min_cosine:
        failures.append(f"cosine {cosine:.6f} < {tolerance.min_cosine}")
    if top1 is not None and top1 < tolerance.min_top1:
        failures.append(f"top-1 agreement {top1:.2%} < {tolerance.min_top1:.2%}")
    return OutputComparison(name, int(ref.size), max_abs, mean_abs, rms, max_error, cosine, top1, top5,
                            not failures, tuple(failures))
