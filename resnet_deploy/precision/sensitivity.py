"""INT8 that meets an accuracy target: find the layers that cost the accuracy and keep them in float.

The search (NNCF's accuracy control and Polygraphy's `debug precision` do the same kind of
thing; this one is small and deterministic):
1. Rank. Every node INT8 quantizes (precision/exclude.py) is left in float alone, one at a
   time, and scored by how much of the INT8 model's logit error against FP32 that removes,
   on `RANK_IMAGES` held-out images. The ranking runs on onnxruntime's CPU provider, the
   runtime that serves the cpu layout; a TensorRT-layout model runs there as its Q/DQ graph
   (the same arithmetic TensorRT is asked for, without its kernels).
2. Fall back the first k nodes of that ranking, k found by doubling and then bisection
   (about 2 log2 k measurements instead of k), measuring the top-1 drop against FP32 on all
   the held-out images, for the smallest k whose drop is at most `max_drop`. When even every
   node in float misses it, it stops at the k that came closest and says so.
3. Report. The held-out images are a part of the TRAINING split (never the calibration
   images); the drops before and after, with their 95% intervals, are measured on the TEST
   split, which the search never saw. A speed probe, when given, times both INT8 models.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx

from resnet_deploy.compare.paired import PairedDrop, paired_drop
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.precision._model import SourceModel
from resnet_deploy.precision.exclude import quantizable_nodes

log = logging.getLogger(__name__)

DEFAULT_SEARCH_IMAGES = 5000
RANK_IMAGES = 500
BATCH = 250

Build = Callable[[frozenset[str]], onnx.ModelProto]


@dataclass(frozen=True)
class SpeedCost:
    """Median latency of the INT8 model before and after the fallback, timed in one run."""

    backend: str
    batch: int
    before_ms: float
    after_ms: float
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.after_ms / self.before_ms if self.before_ms > 0 else float("nan")


SpeedProbe = Callable[[Path, Path], SpeedCost]


@dataclass(frozen=True)
class RankedNode:
    name: str
    op_type: str
    score: float  # share of the INT8 logit error (vs FP32) removed by keeping this node alone in float


@dataclass(frozen=True)
class Step:
    kept_float: int
    added: str | None
    holdout_drop: float  # points


@dataclass
class FallbackSearch:
    max_drop: float
    dataset: str
    holdout_images: int
    test_images: int
    ranking: list[RankedNode]
    steps: list[Step]
    kept_float: tuple[str, ...]  # every node left in float (the user's excludes included)
    searched: tuple[str, ...]  # the nodes the search added
    met: bool  # the held-out drop reached max_drop
    holdout_before: PairedDrop
    holdout_after: PairedDrop
    test_before: PairedDrop
    test_after: PairedDrop
    fp32_test_top1: float
    seconds: float
    speed: SpeedCost | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: what was kept and what it bought, on the test split."""
        verb = "meets" if self.test_after.drop <= self.max_drop else "misses"
        return (f"kept {len(self.searched)} layer(s) in float; test top-1 drop {self.test_before.drop:+.2f} -> "
                f"{self.test_after.drop:+.2f} points (95% CI {self.test_after.low:+.2f} to {self.test_after.high:+.2f}), "
                f"{verb} the {self.max_drop:g}-point target" + ("" if self.met else
                                                              "; the search could not reach it on held-out images"))

    def metadata(self) -> JsonObject:
        """The short record stored in the model's metadata (as JSON)."""
        return {"max_drop": self.max_drop, "dataset": self.dataset, "kept_float": list(self.searched),
                "test_drop_before": round(self.test_before.drop, 3), "test_drop_after": round(self.test_after.drop, 3),
                "test_ci95_after": [round(self.test_after.low, 3), round(self.test_after.high, 3)],
                "test_images": self.test_images, "met": self.met,
                "speed_ratio": None if self.speed is None else round(self.speed.ratio, 3)}

    def to_dict(self) -> JsonObject:
        data = asdict(self)
        data["speed"] = None if self.speed is None else {**asdict(self.speed), "ratio": round(self.speed.ratio, 3)}
        data["summary"] = self.summary()
        return data


class _Evaluator:
    """Logits of in-memory ONNX models on fixed images, on onnxruntime's CPU provider."""

    def __init__(self, input_name: str, images: np.ndarray) -> None:
        self.input_name, self.images = input_name, images

    def logits(self, model: onnx.ModelProto, count: int | None = None) -> np.ndarray:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        images = self.images if count is None else self.images[:count]
        outputs = [session.run(None, {self.input_name: images[i:i + BATCH]})[0] for i in range(0, len(images), BATCH)]
        return np.concatenate(outputs).astype(np.float32, copy=False)


def _paired(reference: np.ndarray, logits: np.ndarray, labels: np.ndarray, limit: float | None) -> PairedDrop:
    return paired_drop(reference.argmax(1) == labels, logits.argmax(1) == labels, limit)


def _error(reference: np.ndarray, logits: np.ndarray) -> float:
    return float(np.mean((logits - reference) ** 2))


def _rank(build: Build, base: frozenset[str], candidates: list[onnx.NodeProto], evaluator: _Evaluator,
          fp32: np.ndarray, int8: np.ndarray) -> list[RankedNode]:
    count = min(RANK_IMAGES, len(fp32))
    error = _error(fp32[:count], int8[:count])
    ranked = []
    for node in candidates:
        logits = evaluator.logits(build(base | {node.name}), count)
        gain = (error - _error(fp32[:count], logits)) / error if error > 0 else 0.0
        ranked.append(RankedNode(node.name, node.op_type, round(gain, 6)))
    return sorted(ranked, key=lambda r: -r.score)


def _smallest_meeting(count: int, meets: Callable[[int], bool]) -> int | None:
    """The smallest k in 1..count with meets(k), by doubling then bisection (meets(0) is
    known false; the drop shrinks, roughly, as more ranked nodes stay in float)."""
    low, high, k = 0, None, 1
    while high is None:
        if meets(k):
            high = k
        elif k == count:
            return None
        else:
            low, k = k, min(2 * k, count)
    while high - low > 1:
        mid = (low + high) // 2
        if meets(mid):
            high = mid
        else:
            low = mid
    return high


def _arrays(dataset: str, data_dir: str | os.PathLike[str] | None, source: SourceModel, images: int,
            avoid: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from resnet_deploy.data import eval_arrays, holdout_arrays
    from resnet_deploy.precision.calibration_data import check_array, input_size

    size = input_size(source)
    x_hold, y_hold = holdout_arrays(dataset, data_dir, images, avoid=avoid, input_size=size)
    x_test, y_test = eval_arrays(dataset, data_dir, split="val", input_size=size)
    for what, array in (("held-out training images", x_hold), ("test images", x_test)):
        check_array(array, source, f"dataset '{dataset}' {what}")
    return x_hold, y_hold, x_test, y_test


def search_fallback(source: SourceModel, build: Build, excluded: frozenset[str], *, max_drop: float, dataset: str,
                    data_dir: str | os.PathLike[str] | None = None, images: int | None = None,
                    avoid: int | None = None, scratch: Path, speed_probe: SpeedProbe | None = None) -> FallbackSearch:
    """Keep the fewest most sensitive nodes in float so that the held-out top-1 drop is at most
    `max_drop` points (module docstring). `build(names)` makes the INT8 model with `names` in
    float; `excluded` are the user's own excludes (always kept); `avoid` is how many training
    images calibration used (kept out of the held-out set); `scratch` holds the models the
    speed probe times."""
    start = time.perf_counter()
    count = DEFAULT_SEARCH_IMAGES if images is None else images
    if count < 1:
        raise InvalidInputError(f"`search_images` must be positive, got {count}", param="search_images")
    x_hold, y_hold, x_test, y_test = _arrays(dataset, data_dir, source, count, avoid)
    input_name = source.artifact.inputs[0].name
    holdout, test = _Evaluator(input_name, x_hold), _Evaluator(input_name, x_test)
    fp32_hold = holdout.logits(source.model)
    if y_hold.max() >= fp32_hold.shape[1]:
        raise InvalidInputError(f"dataset '{dataset}' has labels up to {y_hold.max()}, the model {fp32_hold.shape[1]} "
                                "classes: wrong dataset for this model?", param="dataset")
    before_model = build(excluded)
    before_hold = holdout.logits(before_model)
    first = _paired(fp32_hold, before_hold, y_hold, max_drop)
    log.info("INT8 top-1 drop on %d held-out training images: %.2f points (target %.2f)", len(y_hold), first.drop, max_drop)
    steps = [Step(len(excluded), None, first.drop)]
    ranking: list[RankedNode] = []
    k, current = 0, first
    if first.drop > max_drop:
        candidates = [n for n in quantizable_nodes(source.model) if n.name not in excluded]
        ranking = _rank(build, frozenset(excluded), candidates, holdout, fp32_hold, before_hold)
        tried: dict[int, PairedDrop] = {0: first}

        def measure(count: int) -> bool:
            kept = excluded | {r.name for r in ranking[:count]}
            tried[count] = _paired(fp32_hold, holdout.logits(build(frozenset(kept))), y_hold, max_drop)
            steps.append(Step(len(kept), ranking[count - 1].name, tried[count].drop))
            log.info("first %d ranked node(s) in float: held-out drop %.2f points", count, tried[count].drop)
            return tried[count].drop <= max_drop

        met = _smallest_meeting(len(ranking), measure)
        # missed: keep the fallback that came closest (fewest nodes among equals)
        k = met if met is not None else min(tried, key=lambda c: (tried[c].drop, c))
        current = tried[k]
    order = [n.name for n in quantizable_nodes(source.model)]
    kept = excluded | {r.name for r in ranking[:k]}
    kept_float = tuple(name for name in order if name in kept)
    after_model = build(frozenset(kept_float))
    fp32_test = test.logits(source.model)
    before_test = _paired(fp32_test, test.logits(before_model), y_test, max_drop)
    after_test = _paired(fp32_test, test.logits(after_model), y_test, max_drop)
    speed = None
    if speed_probe is not None:
        paths = (scratch / "before.int8.onnx", scratch / "after.int8.onnx")
        for path, model in zip(paths, (before_model, after_model), strict=True):
            onnx.save(model, str(path))
        speed = speed_probe(*paths)
    search = FallbackSearch(max_drop, dataset, len(y_hold), len(y_test), ranking, steps, kept_float,
                            tuple(n for n in kept_float if n not in excluded), current.drop <= max_drop, first, current,
                            before_test, after_test, float(np.mean(fp32_test.argmax(1) == y_test) * 100),
                            time.perf_counter() - start, speed)
    note = after_test.resolution_note()
    if note:
        search.notes.append(f"test split: {note}")
    log.info("%s", search.summary())
    return search
