"""What each pipeline step found: one typed record per step, and the sentence the report shows.

The record keeps the numbers as numbers (pipeline.json stores its fields as they are); its
`sentence()` says the result in words, each number in its own precision: errors to two
significant figures (2.9e-06), shares as percentages (100%), counts as integers, rates
rounded to what they mean. The detail behind each sentence is in the step's own section of
the report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.render import percent, rate, significant, words


@dataclass(frozen=True)
class StepSummary:
    """A step's result. Subclasses add the fields and say them in `sentence()`."""

    def sentence(self) -> str:
        raise NotImplementedError

    def to_dict(self) -> JsonObject:
        return asdict(self)


@dataclass(frozen=True)
class TrainSummary(StepSummary):
    best_val_top1: float  # fraction
    best_epoch: int
    epochs: int
    images_per_second: float
    checkpoint: str

    def sentence(self) -> str:
        return (f"best validation top-1 {percent(self.best_val_top1)} at epoch {self.best_epoch} of {self.epochs}; "
                f"{rate(self.images_per_second)} training images/s")


@dataclass(frozen=True)
class ExportSummary(StepSummary):
    file: str
    opset: int | None
    operators: int
    input_shape: list[int]  # C, H, W
    batch: str | int  # "dynamic" or the fixed batch
    megabytes: float

    def sentence(self) -> str:
        shape = "x".join(str(d) for d in self.input_shape) or "?"
        batch = "dynamic batch" if self.batch == "dynamic" else f"batch {self.batch}"
        opset = f"opset {self.opset}, " if self.opset is not None else ""
        return (f"{self.file}: {opset}{self.operators:,} operators, input {shape} ({batch}), "
                f"{significant(self.megabytes, 2)} MB")


@dataclass(frozen=True)
class ValidationSummary(StepSummary):
    passed: bool
    backend: str
    reference_backend: str
    images: int
    batch_sizes: list[int]
    max_error: float  # largest |difference| over the reference outputs' RMS, every output and batch
    max_abs_diff: float
    min_cosine: float
    top1_agreement: float | None  # fraction, the lowest over batches
    limit_max_error: float
    limit_min_cosine: float
    limit_min_top1: float

    def sentence(self) -> str:
        agreement = f"; top-1 agreement {percent(self.top1_agreement)}" if self.top1_agreement is not None else ""
        text = (f"max error {significant(self.max_error)} of the outputs' RMS on {self.images:,} images"
                f"{agreement}")
        if self.passed:
            return f"passed: {text}"
        return (f"FAILED: {text} (limits: max error {significant(self.limit_max_error)}, cosine "
                f">= {self.limit_min_cosine:g}, top-1 agreement >= {percent(self.limit_min_top1)})")


@dataclass(frozen=True)
class PrecisionSummary(StepSummary):
    made: list[str]  # variant names
    refused: list[str]

    def sentence(self) -> str:
        made = f"made {words(self.made)}" if self.made else "made none"
        refused = f"; refused {words(self.refused)} (see Skipped, and why)" if self.refused else ""
        return made + refused


@dataclass(frozen=True)
class ModelVerdict:
    """One model as `resnet-deploy accuracy` judged it."""

    name: str  # the variant (fp16, int8-cpu, ...)
    precision: str
    top1: float  # percent
    drop: float  # points
    drop_low: float  # 95% interval, points
    drop_high: float
    limit: float | None  # points (None only where no limit applied)
    passed: bool
    verdict: str  # pass | inconclusive | fail


@dataclass(frozen=True)
class AccuracySummary(StepSummary):
    passed: bool
    images: int
    reference_top1: float  # percent
    models: list[ModelVerdict] = field(default_factory=list)

    def sentence(self) -> str:
        on = f"on {self.images:,} images (FP32 top-1 {self.reference_top1:.2f}%)"
        failed = [m for m in self.models if not m.passed]
        if failed:
            return "FAILED: " + "; ".join(f"{m.name} drops {m.drop:.2f} points, over its {m.limit:g}-point limit"
                                          for m in failed if m.limit is not None) + f" {on}"
        if not self.models:
            return f"no model to judge {on}"
        worst = max(self.models, key=lambda m: m.drop)
        unsure = [m.name for m in self.models if m.verdict == "inconclusive"]
        count = len(self.models)
        text = (f"passed: {count} model{'s' if count > 1 else ''} within {'their limits' if count > 1 else 'its limit'} "
                f"{on}; largest drop {worst.drop:+.2f} points ({worst.name}"
                + (f", limit {worst.limit:g})" if worst.limit is not None else ")"))
        if unsure:
            text += f"; too few images to resolve the limit of {words(unsure)}"
        return text


@dataclass(frozen=True)
class TensorRTSummary(StepSummary):
    engines: list[str]  # plan file names
    max_batch: int

    def sentence(self) -> str:
        return f"built {words(self.engines)} (batch 1 to {self.max_batch})"


@dataclass(frozen=True)
class BenchSummary(StepSummary):
    configurations: int  # backend and variant pairs asked for
    not_run: int
    batch_sizes: list[int]
    points: int  # (configuration, batch) measured
    points_with_warnings: int
    fastest: str | None  # label of the highest throughput
    fastest_batch: int | None
    fastest_images_per_second: float | None

    def sentence(self) -> str:
        sizes = f"batch{'es' if len(self.batch_sizes) > 1 else ''} {words(self.batch_sizes)}"
        text = f"{self.configurations} configurations at {sizes}"
        if self.not_run:
            text += f" ({self.not_run} not run)"
        if self.fastest is not None and self.fastest_images_per_second is not None:
            text += (f"; fastest {self.fastest}, {rate(self.fastest_images_per_second)} images/s at batch "
                     f"{self.fastest_batch}")
        if self.points_with_warnings:
            text += f"; {self.points_with_warnings} of {self.points} points with warnings"
        return text
