"""Validate an exported model: the same inputs through PyTorch and onnxruntime.

The reference is the PyTorch network the model came from: the checkpoint passed in, or the
one recorded in the model's metadata, or (for an untrained export) the same seeded network
rebuilt from the metadata's architecture. Inputs are real images (`dataset`) or seeded random
tensors; they run through onnxruntime at each batch size asked for (so a dynamic batch axis
is really exercised) and every output is compared with compare.py's statistics.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from resnet_deploy.artifacts import resolve_recorded
from resnet_deploy.compare import OutputComparison, Tolerance, compare_outputs
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.export.per_layer import PerLayerReport
from resnet_deploy.input_spec import InputSpec

log = logging.getLogger(__name__)

DEFAULT_RANDOM = 16
PER_LAYER_SAMPLES = 4


@dataclass(frozen=True)
class BatchResult:
    batch_size: int
    samples: int
    outputs: dict[str, OutputComparison]
    accuracy: float | None = None  # onnxruntime top-1 accuracy against labels (dataset inputs)

    @property
    def passed(self) -> bool:
        return all(self.outputs.values())

    def to_dict(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "samples": self.samples, "passed": self.passed,
                "accuracy": self.accuracy, "outputs": {k: v.to_dict() for k, v in self.outputs.items()}}


@dataclass
class ValidationReport:
    """Truthy when every output at every batch size (and every layer, with per_layer) passes."""

    model: str
    provider: str
    precision: str
    tolerance: Tolerance
    reference: dict[str, Any]
    inputs: dict[str, Any]
    batches: list[BatchResult]
    torch_accuracy: float | None = None
    per_layer: PerLayerReport | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.batches) and all(b.passed for b in self.batches) and (self.per_layer is None or bool(self.per_layer))

    def __bool__(self) -> bool:
        return self.passed

    def failures(self) -> list[str]:
        lines = [f"batch {b.batch_size}, {name}: {'; '.join(c.failures)}"
                 for b in self.batches for name, c in b.outputs.items() if not c]
        if self.per_layer is not None and self.per_layer.first_divergent is not None:
            first = self.per_layer.first_divergent
            lines.append(f"first divergent layer: {first.torch_module} (ONNX {first.onnx_node}): "
                         f"{'; '.join(first.comparison.failures)}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "provider": self.provider, "precision": self.precision, "passed": self.passed,
                "tolerance": asdict(self.tolerance),
                "reference": self.reference, "inputs": self.inputs, "torch_accuracy": self.torch_accuracy,
                "batches": [b.to_dict() for b in self.batches],
                "per_layer": self.per_layer.to_dict() if self.per_layer is not None else None,
                "failures": self.failures(), "notes": self.notes}


def reference_model(meta: dict[str, Any], checkpoint: str | os.PathLike[str] | None,
                    notes: list[str]) -> tuple[nn.Module, dict[str, Any]]:
    """The PyTorch network to compare against, and a description of where it came from."""
    architecture = meta.get("architecture")
    recorded = resolve_recorded(meta["checkpoint"], meta["path"]) if meta.get("checkpoint") else None
    if checkpoint is None and recorded is not None and recorded.is_file():
        checkpoint = recorded
        notes.append(f"reference weights from the checkpoint recorded in the model: {checkpoint}")
    if checkpoint is not None:
        from resnet_deploy.train.checkpoint import load_checkpoint

        loaded = load_checkpoint(checkpoint, expected_model=architecture)
        if architecture and loaded.model_name != architecture:
            raise InvalidInputError(f"checkpoint '{checkpoint}' holds a {loaded.model_name}, but the ONNX model is a "
                                    f"{architecture}; pass the checkpoint it was exported from")
        recorded = meta.get("checkpoint_sha256")
        if recorded and recorded != loaded.sha256:
            notes.append("the checkpoint's sha256 differs from the one the model was exported from; "
                         "outputs are expected to disagree")
            log.warning("checkpoint %s is not the one %s was exported from (sha256 differs)", checkpoint, meta.get("path"))
        return loaded.model.eval().float(), {"kind": "checkpoint", "path": str(checkpoint), "sha256": loaded.sha256,
                                             "architecture": loaded.model_name}
    if not architecture:
        raise InvalidInputError("the ONNX model does not say which architecture it is (not exported by resnet-deploy); "
                                "pass --checkpoint")
    if meta.get("trained") is False and meta.get("init_seed") is not None:
        from resnet_deploy.model_source import build_untrained

        if meta.get("torch_version") and meta["torch_version"] != torch.__version__:
            notes.append(f"the model was exported with torch {meta['torch_version']}, this is {torch.__version__}: "
                         "rebuilt untrained weights may differ")
        model = build_untrained(architecture, **meta.get("model_kwargs", {}))
        return model, {"kind": "untrained", "architecture": architecture, "init_seed": meta["init_seed"]}
    if meta.get("trained") is False:
        raise InvalidInputError(f"the model holds untrained {architecture} weights without a recorded seed, so "
                                "PyTorch cannot rebuild them; re-export it with this version")
    raise InvalidInputError(f"the model holds trained {architecture} weights but its checkpoint "
                            f"'{meta.get('checkpoint') or '?'}' is not here; pass --checkpoint PATH")


def validation_inputs(spec: InputSpec, *, dataset: str | None, data_dir: str | os.PathLike[str] | None,
                      random: int | None, limit: int | None = None,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """(x, labels or None, description): dataset validation images or seeded random tensors."""
    if dataset is not None and random is not None:
        raise InvalidInputError("give either --dataset or --random N, not both")
    if dataset is not None:
        from resnet_deploy.data import eval_arrays

        x, labels = eval_arrays(dataset, data_dir=data_dir, split="val", limit=limit, input_size=spec.height)
        x = np.array(x, dtype=np.float32)  # a writable copy: eval_arrays caches its arrays
        if tuple(x.shape[1:]) != (spec.channels, spec.height, spec.width):
            raise InvalidInputError(f"dataset {dataset} gives images of shape {tuple(x.shape[1:])}, the model expects "
                                    f"{(spec.channels, spec.height, spec.width)}")
        return x, np.asarray(labels), {"kind": "dataset", "dataset": dataset, "split": "val", "samples": len(x)}
    count = DEFAULT_RANDOM if random is None else int(random)
    if count < 1:
        raise InvalidInputError(f"--random needs a positive sample count, got {count}")
    rng = np.random.default_rng(seed)
    # Normalised images are roughly standard normal: the same range the network sees in use.
    x = rng.standard_normal((count, spec.channels, spec.height, spec.width)).astype(np.float32)
    return x, None, {"kind": "random", "samples": count, "seed": seed, "distribution": "standard normal"}


def _torch_outputs(model: nn.Module, x: np.ndarray, output_names: list[str], chunk: int = 32) -> dict[str, np.ndarray]:
    pieces: list[tuple[torch.Tensor, ...]] = []
    with torch.no_grad():
        for start in range(0, len(x), chunk):
            out = model(torch.from_numpy(x[start:start + chunk]))
            pieces.append(tuple(out) if isinstance(out, (tuple, list)) else (out,))
    if len(pieces[0]) != len(output_names):
        raise InvalidInputError(f"PyTorch gives {len(pieces[0])} outputs, the ONNX model {len(output_names)}")
    return {name: torch.cat([p[i] for p in pieces]).numpy() for i, name in enumerate(output_names)}


def validate_onnx(model_path: str | os.PathLike[str], *, checkpoint: str | os.PathLike[str] | None = None,
                  dataset: str | None = None, data_dir: str | os.PathLike[str] | None = None,
                  random: int | None = None, provider: str = "cpu", batch_sizes: tuple[int, ...] = (1, 8),
                  tolerance: Tolerance | None = None, per_layer: bool = False, limit: int | None = None,
                  threads: int | None = None) -> ValidationReport:
    """Compare onnxruntime with PyTorch on the same inputs; see the module docstring."""
    from resnet_deploy.backends.onnxruntime_runner import OnnxRuntimeRunner
    from resnet_deploy.export.loader import load_onnx_model
    from resnet_deploy.export.metadata import describe_metadata
    from resnet_deploy.models import Backbone

    if not batch_sizes or any(int(b) < 1 for b in batch_sizes):
        raise InvalidInputError(f"batch sizes must be positive integers, got {list(batch_sizes)}")
    onnx_model = load_onnx_model(model_path)
    meta = describe_metadata(onnx_model)
    meta["path"] = str(model_path)
    precision = meta["precision"]
    tolerance = tolerance or Tolerance.for_precision(precision)
    if not meta.get("input_spec"):
        raise InvalidInputError(f"'{model_path}' does not record its input shape; export it with resnet-deploy")
    spec = InputSpec.from_dict(meta["input_spec"])
    notes: list[str] = []
    torch_model, reference = reference_model(meta, checkpoint, notes)
    output_names = meta["output_names"]
    if meta.get("features"):
        torch_model = Backbone(torch_model).eval()
    x, labels, inputs = validation_inputs(spec, dataset=dataset, data_dir=data_dir, random=random, limit=limit)
    expected = _torch_outputs(torch_model, x, output_names)
    torch_accuracy = None
    if labels is not None and "logits" in expected:
        torch_accuracy = float(np.mean(expected["logits"].argmax(-1) == labels))

    # Untrained ResNets have no working normalisation (BN running statistics are the identity),
    # so activations grow with depth: resnet101's logits reach ~1e4. FP32 rounding is relative,
    # so for an untrained reference the absolute tolerance scales with the output's RMS.
    # Trained references keep the absolute tolerance as given.
    tolerances = {name: tolerance for name in output_names}
    if reference["kind"] == "untrained":
        for name in output_names:
            rms = float(np.sqrt(np.mean(np.square(expected[name], dtype=np.float64))))
            if rms > 1.0:
                tolerances[name] = replace(tolerance, atol=tolerance.atol * rms)
                notes.append(f"untrained weights: '{name}' has RMS {rms:.3g}, so atol is scaled to "
                             f"{tolerance.atol * rms:.3g} (FP32 rounding is relative to magnitude)")
    batches: list[BatchResult] = []
    with OnnxRuntimeRunner(model_path, provider=provider, threads=threads) as runner:
        low, high = runner.batch_limits()
        sizes = [int(b) for b in batch_sizes]
        if high is not None and low == high:
            if any(b != low for b in sizes):
                notes.append(f"the model has a fixed batch of {low}; validated at that batch only")
            sizes = [low]
        for size in dict.fromkeys(sizes):
            usable = len(x) - len(x) % size if high is not None else len(x)
            if usable == 0:
                notes.append(f"batch {size}: fewer samples ({len(x)}) than the fixed batch; skipped")
                continue
            collected: dict[str, list[np.ndarray]] = {name: [] for name in output_names}
            for start in range(0, usable, size):
                out = runner.infer({"input": x[start:start + size]})
                for name in output_names:
                    collected[name].append(out[name])
            comparisons = {}
            for name in output_names:
                got = np.concatenate(collected[name])
                comparisons[name] = compare_outputs(expected[name][:usable], got, tolerances[name], name=name,
                                                    classification=name == "logits")
            accuracy = None
            if labels is not None and "logits" in collected:
                accuracy = float(np.mean(np.concatenate(collected["logits"]).argmax(-1) == labels[:usable]))
            batches.append(BatchResult(size, usable, comparisons, accuracy))
        providers = runner.describe()["providers"]

    layer_report = None
    if per_layer:
        from resnet_deploy.export.per_layer import compare_layers

        sample = x[:PER_LAYER_SAMPLES] if high is None else x[:low]
        if len(sample) < low:
            raise InvalidInputError(f"--per-layer on a fixed-batch model needs at least {low} inputs, got {len(x)}")
        layer_report = compare_layers(onnx_model, torch_model, sample, provider=provider, tolerance=tolerance)
    report = ValidationReport(str(model_path), provider, precision, tolerance, reference,
                              {**inputs, "providers": providers}, batches, torch_accuracy, layer_report, notes)
    log.info("validation of %s: %s", model_path, "passed" if report else "FAILED")
    return report
