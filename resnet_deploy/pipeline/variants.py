"""The precision variants of one FP32 ONNX model: FP16, and INT8 in both Q/DQ layouts.

Shared by `resnet-deploy pipeline` and benchmarks/run_suite.py. A variant that cannot be
made here (the precision code is not installed, or the conversion refuses the model) is
returned with the reason instead of a path, so callers report it as skipped, never faked.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resnet_deploy.errors import ResnetDeployError
from resnet_deploy.jsontypes import JsonObject

log = logging.getLogger(__name__)

# variant name -> (precision, INT8 target or None)
VARIANTS: dict[str, tuple[str, str | None]] = {
    "fp32": ("fp32", None),
    "fp16": ("fp16", None),
    "int8-tensorrt": ("int8", "tensorrt"),
    "int8-cpu": ("int8", "cpu"),
}


@dataclass
class Variant:
    name: str
    path: Path | None
    reason: str | None = None  # why there is no path
    seconds: float = 0.0
    details: JsonObject = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.path is not None

    def to_dict(self) -> JsonObject:
        return {"name": self.name, "path": str(self.path) if self.path else None, "reason": self.reason,
                "seconds": round(self.seconds, 2), "details": self.details}


def make_fp16(fp32: Path, out: Path) -> Variant:
    from resnet_deploy.precision.fp16 import convert_fp16

    start = time.perf_counter()
    try:
        result = convert_fp16(fp32, out)
    except ResnetDeployError as exc:
        return Variant("fp16", None, f"FP16 conversion refused: {exc}")
    return Variant("fp16", Path(result.output), seconds=time.perf_counter() - start,
                   details=result.to_dict() if hasattr(result, "to_dict") else {})


def make_int8(fp32: Path, out: Path, *, target: str, calib: str, samples: int, method: str = "entropy",
              data_dir: Path | None = None) -> Variant:
    name = f"int8-{target}"
    from resnet_deploy.precision.int8 import quantize_int8

    start = time.perf_counter()
    kwargs: dict[str, Any] = {"calib": calib, "samples": samples, "method": method, "target": target}
    if data_dir is not None:
        kwargs["data_dir"] = data_dir
    try:
        result = quantize_int8(fp32, out, **kwargs)
    except ResnetDeployError as exc:
        return Variant(name, None, f"INT8 ({target} layout) refused: {exc}")
    return Variant(name, Path(result.output), seconds=time.perf_counter() - start,
                   details=result.to_dict() if hasattr(result, "to_dict") else {})


def build_variants(fp32: Path, out_dir: Path, *, want: tuple[str, ...] = ("fp16", "int8-tensorrt", "int8-cpu"),
                   calib: str, samples: int, method: str = "entropy", data_dir: Path | None = None,
                   stem: str = "model") -> dict[str, Variant]:
    """fp32 plus each wanted variant written as out_dir/<stem>.<variant>.onnx."""
    variants = {"fp32": Variant("fp32", fp32)}
    for name in want:
        out = out_dir / f"{stem}.{name}.onnx"
        if name == "fp16":
            variants[name] = make_fp16(fp32, out)
        elif name.startswith("int8-"):
            variants[name] = make_int8(fp32, out, target=name.split("-", 1)[1], calib=calib, samples=samples,
                                       method=method, data_dir=data_dir)
        else:
            raise ValueError(f"unknown variant {name!r}; valid: {', '.join(VARIANTS)}")
        variant = variants[name]
        if variant.ok:
            log.info("%s: %s in %.1f s", name, variant.path, variant.seconds)
        else:
            log.warning("%s skipped: %s", name, variant.reason)
    return variants
