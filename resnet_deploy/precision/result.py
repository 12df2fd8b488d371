"""What a conversion returns: the model written, its sidecar, and how it was made."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from resnet_deploy.jsontypes import JsonObject

if TYPE_CHECKING:
    from resnet_deploy.precision.sensitivity import FallbackSearch


@dataclass
class QuantizeResult:
    output: Path
    sidecar: Path
    precision: str  # "fp16" or "int8"
    source: Path
    source_sha256: str
    seconds: float
    details: JsonObject = field(default_factory=dict)  # method, target, samples, kept-FP32 nodes, ...
    fallback: FallbackSearch | None = None  # INT8 --max-drop: the search (its to_dict() is details["fallback"])

    def to_dict(self) -> JsonObject:
        return {"output": str(self.output), "sidecar": str(self.sidecar), "precision": self.precision,
                "source": str(self.source), "source_sha256": self.source_sha256,
                "seconds": round(self.seconds, 3), **self.details}
