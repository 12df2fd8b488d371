"""Feed the same inputs to any list of runners and compare their outputs pairwise
(Polygraphy's Comparator): no runner knows it is being compared, and no comparison knows
which runtime ran.

    results = Comparator.run({"model": ort_runner, "reference": torch_runner}, inputs, batch_sizes=(1, 8))
    report = Comparator.compare(results, reference="reference", tolerance=Tolerance.for_precision("fp32"))
    if not report: print(report.failures())
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from resnet_deploy.backends.base import Runner
from resnet_deploy.compare.inputs import ComparisonInputs
from resnet_deploy.compare.stats import OutputComparison, Tolerance, compare_outputs
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.tensor_info import image_layout, to_layout

log = logging.getLogger(__name__)

CHUNK = 32  # the batch a runner with a dynamic batch axis is fed when no batch size is asked for


@dataclass
class RunResult:
    """One runner's outputs over all inputs, at one batch size."""

    label: str
    batch_size: int
    outputs: dict[str, np.ndarray]
    runner: JsonObject
    seconds: float
    notes: list[str] = field(default_factory=list)

    def top1_accuracy(self, labels: np.ndarray | None) -> float | None:
        logits = self.outputs.get("logits", next(iter(self.outputs.values())) if len(self.outputs) == 1 else None)
        if labels is None or logits is None or logits.ndim != 2:
            return None
        return float(np.mean(logits.argmax(-1) == labels))


@dataclass(frozen=True)
class PairComparison:
    """A candidate run against the reference run, output by output."""

    candidate: str
    reference: str
    batch_size: int
    outputs: dict[str, OutputComparison]
    accuracy: float | None = None  # the candidate's top-1 against labels, when known

    @property
    def passed(self) -> bool:
        return all(self.outputs.values())

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> JsonObject:
        return {"candidate": self.candidate, "reference": self.reference, "batch_size": self.batch_size,
                "passed": self.passed, "accuracy": self.accuracy,
                "outputs": {name: c.to_dict() for name, c in self.outputs.items()}}


@dataclass
class ComparisonReport:
    """Truthy when every pair passes."""

    pairs: list[PairComparison]

    def __bool__(self) -> bool:
        return bool(self.pairs) and all(self.pairs)

    def failures(self) -> list[str]:
        return [f"{p.candidate} batch {p.batch_size}, {name}: {'; '.join(c.failures)}"
                for p in self.pairs for name, c in p.outputs.items() if not c]


def _batches(runner: Runner, batch_sizes: Sequence[int]) -> tuple[list[int], list[str]]:
    """The batch sizes this runner can take of those asked for (a fixed batch overrides)."""
    low, high = runner.batch_limits()
    notes = []
    if high is not None and low == high:
        if any(b != low for b in batch_sizes):
            notes.append(f"{runner.name} has a fixed batch of {low}; ran at that batch only")
        return [low], notes
    usable = [b for b in dict.fromkeys(batch_sizes) if b >= low and (high is None or b <= high)]
    for b in batch_sizes:
        if b not in usable:
            notes.append(f"{runner.name}: batch {b} is outside its profile {low}..{high}; skipped")
    return usable, notes


def run_outputs(runner: Runner, x: np.ndarray, batch: int) -> dict[str, np.ndarray]:
    """`runner`'s outputs over every row of `x` (NCHW images), fed `batch` rows at a time in
    the runner's own layout (the last batch padded by repeating its last row when the
    runner's batch is fixed)."""
    info = runner.inputs()[0]
    fixed = runner.batch_limits()[1] if runner.batch_limits()[0] == runner.batch_limits()[1] else None
    chunks: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(x), batch):
        part = x[start:start + batch]
        valid = len(part)
        if fixed is not None and valid < fixed:
            part = np.concatenate([part, np.repeat(part[-1:], fixed - valid, axis=0)])
        part = to_layout(part, image_layout(info.shape))  # NHWC models (TensorFlow's) get NHWC
        out = runner.infer({info.name: np.ascontiguousarray(part.astype(info.dtype, copy=False))})
        for name, value in out.items():
            chunks.setdefault(name, []).append(np.asarray(value, dtype=np.float32)[:valid])
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


class Comparator:
    """Runs and compares; both steps are static: the runners and inputs are the state."""

    @staticmethod
    def run(runners: Mapping[str, Runner], inputs: ComparisonInputs, batch_sizes: Mapping[str, Sequence[int]]
            | Sequence[int] = (CHUNK,), progress: Callable[[str], None] | None = None) -> list[RunResult]:
        """Each runner (activated here if it is not yet) over all inputs at each of its batch
        sizes (`batch_sizes` per label, or one list for all)."""
        results = []
        for label, runner in runners.items():
            sizes = batch_sizes.get(label, (CHUNK,)) if isinstance(batch_sizes, Mapping) else batch_sizes
            with contextlib.ExitStack() as stack:
                if not runner.is_active:
                    stack.enter_context(runner)
                usable, notes = _batches(runner, list(sizes))
                if not usable:
                    raise InvalidInputError(f"{label}: none of the batch sizes {list(sizes)} fits its profile "
                                            f"{runner.batch_limits()}")
                for batch in usable:
                    if progress:
                        progress(f"{label}: {inputs.samples} inputs at batch {batch}")
                    started = time.perf_counter()
                    outputs = run_outputs(runner, inputs.x, batch)
                    results.append(RunResult(label, batch, outputs, runner.describe(),
                                             time.perf_counter() - started, list(notes)))
        return results

    @staticmethod
    def compare(results: Sequence[RunResult], *, reference: str, tolerance: Tolerance | Callable[[str], Tolerance],
                labels: np.ndarray | None = None) -> ComparisonReport:
        """Every result not from `reference` against the reference's first result. Outputs pair
        by name; two single-output runners pair whatever their outputs are called."""
        refs = [r for r in results if r.label == reference]
        if not refs:
            raise InvalidInputError(f"no results from the reference {reference!r}")
        ref = refs[0]
        pairs = []
        for result in results:
            if result.label == reference:
                continue
            judge = tolerance(result.label) if callable(tolerance) else tolerance
            names = [n for n in result.outputs if n in ref.outputs]
            if not names and len(result.outputs) == 1 and len(ref.outputs) == 1:
                names = [next(iter(result.outputs))]
                ref_outputs = {names[0]: next(iter(ref.outputs.values()))}
            else:
                ref_outputs = ref.outputs
            if not names:
                raise InvalidInputError(f"{result.label} outputs {sorted(result.outputs)} and {reference} outputs "
                                        f"{sorted(ref.outputs)}: no output in common to compare")
            compared = {name: compare_outputs(ref_outputs[name], result.outputs[name], judge, name=name,
                                              classification=result.outputs[name].ndim == 2) for name in names}
            pairs.append(PairComparison(result.label, reference, result.batch_size, compared,
                                        result.top1_accuracy(labels)))
        return ComparisonReport(pairs)
