"""Export a ResNet (trained checkpoint or untrained definition) to one ONNX file.

    result = export_onnx("resnet50.onnx", model="resnet50")                  # untrained, for speed work
    result = export_onnx("digits.onnx", checkpoint="runs/r20/best.safetensors")

The file is self-contained (no `.onnx.data` below 2 GB), has input `input` (NCHW float32)
and output `logits` (or the stage outputs for a backbone), a dynamic batch axis unless a
fixed batch is asked for, BatchNorm folded into the convolutions, constants folded, the graph
simplified, and passes onnx.checker and strict shape inference. Its metadata_props and the
`model.onnx.json` sidecar say what it is and where it came from.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import onnx
import torch
from torch import nn

from resnet_deploy.atomic import check_output_dir
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.export import optimize
from resnet_deploy.export.loader import save_onnx_model
from resnet_deploy.export.metadata import metadata_props, set_metadata
from resnet_deploy.export.onnx_record import ONNX_KIND, OnnxSidecar
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.memory import forward_memory_bytes, require_memory
from resnet_deploy.model_source import load_model_source
from resnet_deploy.models import Backbone
from resnet_deploy.sidecar import library_versions, relative_to_artifact

log = logging.getLogger(__name__)

EXPORTERS = ("dynamo", "torchscript")
DEFAULT_OPSET = 18  # read by TensorRT 10/11, onnxruntime >= 1.14 and OpenVINO; the dynamo exporter's native floor
DYNAMO_MIN_OPSET = 18  # below this the dynamo exporter silently keeps 18
TORCHSCRIPT_OPSET_RANGE = (9, 20)
INPUT_NAME = "input"
LOGITS_NAME = "logits"


@dataclass(frozen=True)
class ExportResult:
    path: Path
    metadata: OnnxSidecar  # the sidecar as written
    files: tuple[Path, ...] = field(default_factory=tuple)  # model (+ external data file above 2 GB)
    seconds: float = 0.0

    def to_dict(self) -> JsonObject:
        return {"path": str(self.path), "files": [str(f) for f in self.files], "seconds": self.seconds,
                "metadata": self.metadata.to_dict()}


def parse_batch(batch: str | int) -> str | int:
    """"dynamic" or a positive int (also as a string from the CLI)."""
    if isinstance(batch, str) and batch.strip().lower() == "dynamic":
        return "dynamic"
    try:
        value = int(batch)
    except (TypeError, ValueError):
        raise InvalidInputError(f"`batch` must be 'dynamic' or a positive integer, got {batch!r}", param="batch") from None
    if value < 1:
        raise InvalidInputError(f"`batch` must be 'dynamic' or a positive integer, got {value}", param="batch")
    return value


def check_opset(opset: int | None, exporter: str) -> int:
    """The opset to write; refuses one the installed onnx or the chosen exporter cannot write."""
    if exporter not in EXPORTERS:
        raise InvalidInputError(f"unknown exporter {exporter!r}; valid: {', '.join(EXPORTERS)}")
    onnx_max = onnx.defs.onnx_opset_version()
    opset = DEFAULT_OPSET if opset is None else int(opset)
    if opset > onnx_max:
        raise InvalidInputError(f"opset {opset} is newer than the installed onnx {onnx.__version__} can write "
                                f"(max {onnx_max}); choose `opset` {DEFAULT_OPSET} or upgrade onnx")
    if exporter == "dynamo" and opset < DYNAMO_MIN_OPSET:
        raise InvalidInputError(f"the dynamo exporter writes opset >= {DYNAMO_MIN_OPSET}, not {opset}; "
                                f"use `exporter` torchscript for opsets {TORCHSCRIPT_OPSET_RANGE[0]}..{TORCHSCRIPT_OPSET_RANGE[1]}")
    low, high = TORCHSCRIPT_OPSET_RANGE
    if exporter == "torchscript" and not low <= opset <= high:
        raise InvalidInputError(f"the TorchScript exporter writes opsets {low}..{high}, not {opset}; "
                                f"use `exporter` dynamo for newer opsets")
    return opset


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporters print progress and deprecation notes; keep them in the log instead."""
    buffer = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(buffer):
        warnings.simplefilter("ignore")
        yield
    if buffer.getvalue().strip():
        log.debug("exporter output:\n%s", buffer.getvalue())


def _export_graph(net: nn.Module, example: torch.Tensor, exporter: str, opset: int, dynamic: bool,
                  output_names: list[str]) -> onnx.ModelProto:
    if exporter == "dynamo":
        dynamic_shapes = ({0: torch.export.Dim("batch", min=1, max=4096)},) if dynamic else None
        with _quiet_exporter():
            program = torch.onnx.export(net, (example,), dynamo=True, input_names=[INPUT_NAME],
                                        output_names=output_names, dynamic_shapes=dynamic_shapes,
                                        opset_version=opset, optimize=True, verbose=False)
        assert program is not None
        model = program.model_proto
    else:
        buffer = io.BytesIO()
        axes = {name: {0: "batch"} for name in [INPUT_NAME, *output_names]} if dynamic else None
        with _quiet_exporter():
            torch.onnx.export(net, (example,), buffer, dynamo=False,  # type: ignore[arg-type]
                              input_names=[INPUT_NAME], output_names=output_names, dynamic_axes=axes, opset_version=opset,
                              do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)
        model = onnx.load_model_from_string(buffer.getvalue())
    written = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if written != opset:
        raise InvalidInputError(f"the {exporter} exporter could not write opset {opset} (it wrote {written}); "
                                f"choose `opset` {DEFAULT_OPSET}")
    return model


# How the sidecar names where the weights came from (a registry name: the seeded untrained network).
SOURCE_KIND = {"model": "untrained"}


def export_onnx(output: str | os.PathLike[str], *, model: str | None = None,
                checkpoint: str | os.PathLike[str] | None = None, opset: int | None = None,
                batch: str | int = "dynamic", input_size: int | None = None, features: bool = False,
                exporter: str = "dynamo", simplify: bool = True) -> ExportResult:
    """Export to `output` (atomically, with `output.json` beside it). `model` is a registry
    name; with `checkpoint` the architecture and input spec come from the checkpoint (and
    `model`, when given, must match it). See the module docstring for what the file holds."""
    started = time.perf_counter()
    output = check_output_dir(output)
    opset = check_opset(opset, exporter)
    batch = parse_batch(batch)
    if input_size is not None and int(input_size) < 8:
        raise InvalidInputError(f"`input_size` must be at least 8 pixels, got {input_size}", param="input_size")
    source = load_model_source(model=model, checkpoint=checkpoint)
    described = source.artifact
    name, kwargs, trained = str(described.architecture), dict(described.model_kwargs), bool(described.trained)
    assert described.input_spec is not None  # a PyTorch network's description always has one
    spec = described.input_spec if input_size is None else described.input_spec.with_size(int(input_size), int(input_size))
    example_batch = 2 if batch == "dynamic" else int(batch)
    require_memory(forward_memory_bytes(name, (example_batch, spec.channels, spec.height, spec.width), **kwargs),
                   f"exporting {name} at {spec.height}x{spec.width}", param="input_size")
    recorded = None if described.path is None else relative_to_artifact(described.path, output)
    if not trained:
        log.warning("exporting an UNTRAINED %s (no checkpoint): fine for speed work, useless for accuracy; "
                    "the model's metadata says trained=false", name)
    net = source.model.eval().float()
    output_names = [LOGITS_NAME]
    if features:
        if not hasattr(net, "forward_stages"):
            raise InvalidInputError(f"{name} has no stages to export as a backbone; drop `features`")
        backbone = Backbone(net)
        output_names = backbone.stage_names()
        net = backbone.eval()
    example = torch.randn(example_batch, spec.channels, spec.height, spec.width)
    log.info("exporting %s with the %s exporter (opset %d, batch %s, input %dx%d)", name, exporter, opset,
             batch, spec.height, spec.width)
    with torch.no_grad():
        graph = _export_graph(net, example, exporter, opset, batch == "dynamic", output_names)
    folded = optimize.fold_batchnorm(graph)
    if simplify:
        graph = optimize.simplify(graph)
    optimize.name_batch_axis(graph)
    remaining_bn = sum(1 for n in graph.graph.node if n.op_type == "BatchNormalization")
    if remaining_bn:
        # Pre-activation blocks put BN before the conv (BN -> ReLU -> Conv): nothing to fold into.
        log.info("%d BatchNormalization nodes have no preceding Conv to fold into; kept", remaining_bn)
    versions = library_versions()
    graph.producer_name, graph.producer_version = "resnet-deploy", versions["resnet-deploy"]
    graph.doc_string = f"{name} ({'trained' if trained else 'UNTRAINED'}) exported by resnet-deploy"
    set_metadata(graph, metadata_props(
        architecture=name, model_kwargs=kwargs, input_spec=spec, trained=trained,
        checkpoint_sha256=described.sha256, checkpoint=recorded, precision="fp32", opset=opset,
        exporter=exporter, batch=batch, features=features, input_names=[INPUT_NAME], output_names=output_names,
        versions=versions, init_seed=described.init_seed))
    graph = optimize.check_strict(graph)
    sidecar = OnnxSidecar.new(
        ONNX_KIND, None, precision="fp32", architecture=name, model_kwargs=kwargs,
        trained=trained, init_seed=described.init_seed,
        source={"kind": SOURCE_KIND.get(described.kind, described.kind), "path": recorded, "sha256": described.sha256},
        input_spec=spec.to_dict(), opset=opset, exporter=exporter, batch=batch, features=features,
        io={"inputs": [INPUT_NAME], "outputs": output_names}, simplified=simplify, folded_batchnorms=folded,
        remaining_batchnorms=remaining_bn, op_histogram=optimize.op_histogram(graph), external_data=[])
    files = save_onnx_model(graph, output, meta=sidecar)
    sidecar = sidecar.model_copy(update={"external_data": [f.name for f in files[1:]]})
    seconds = time.perf_counter() - started
    log.info("wrote %s in %.1f s", output, seconds)
    return ExportResult(output, sidecar, tuple(files), seconds)
