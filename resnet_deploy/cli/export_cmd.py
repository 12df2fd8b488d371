"""`resnet-deploy export`: a ResNet (checkpoint or untrained definition) to one ONNX file."""

from __future__ import annotations

from pathlib import Path

import click

from resnet_deploy.cli.output import echo_fields, echo_json
from resnet_deploy.cli.params import InputPath, OutputFile, command


@command("export")
@click.option("--depth", type=click.IntRange(min=1), default=None, help="ResNet depth (50 -> resnet50 in --family).")
@click.option("--family", default="imagenet", show_default=True,
              help="Family for --depth: imagenet, resnext, wide, cifar, plain, preact.")
@click.option("--model", "model_name", default=None, help="Registry name (resnet50, resnet20, ...); see `resnet-deploy models`.")
@click.option("--checkpoint", type=InputPath(), default=None,
              help="Trained checkpoint (.safetensors with its .json sidecar); without it the network is untrained.")
@click.option("-o", "--output", type=OutputFile(), default=None,
              help="Output file (default: <model>.onnx, or <model>_backbone.onnx with --features).")
@click.option("--opset", type=click.IntRange(min=1), default=None, help="ONNX opset (default 18; TorchScript exporter: 9..20).")
@click.option("--batch", default="dynamic", show_default=True, help="'dynamic' or a fixed batch size.")
@click.option("--input-size", type=click.IntRange(min=1), default=None, help="Square input side in pixels (default: the model's or checkpoint's).")
@click.option("--features", is_flag=True, help="Export the backbone: the stage outputs (c2..c5) instead of logits.")
@click.option("--exporter", type=click.Choice(["dynamo", "torchscript"]), default="dynamo", show_default=True,
              help="torch.export-based exporter, or the legacy TorchScript one as a fallback.")
@click.option("--no-simplify", is_flag=True, help="Skip the onnxslim pass (BN folding still happens).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def export(depth: int | None, family: str, model_name: str | None, checkpoint: Path | None, output: Path | None,
           opset: int | None, batch: str, input_size: int | None, features: bool, exporter: str, no_simplify: bool,
           as_json: bool) -> None:
    """Export a ResNet to a single-file ONNX model with metadata and a sidecar."""
    from resnet_deploy.export import export_onnx
    from resnet_deploy.export.onnx_record import SourceRecord
    from resnet_deploy.models import resolve_model_name

    name = None
    if model_name is not None or depth is not None:
        name = resolve_model_name(model_name, depth, family)
    if output is None:
        base = name
        if base is None and checkpoint is not None:
            base = Path(checkpoint).stem
        output = Path(f"{base or 'model'}{'_backbone' if features else ''}.onnx")
    result = export_onnx(output, model=name, checkpoint=checkpoint, opset=opset, batch=batch, input_size=input_size,
                         features=features, exporter=exporter, simplify=not no_simplify)
    if as_json:
        echo_json(result.to_dict())
        return
    meta = result.metadata
    spec, source, io = meta.input_spec, meta.source, meta.io
    assert spec is not None and isinstance(source, SourceRecord) and io is not None  # export_onnx records them
    rows: list[tuple[str, object]] = [
        ("output", result.path), ("architecture", meta.architecture),
        ("weights", f"trained ({source.path})" if meta.trained else "UNTRAINED (no --checkpoint)"),
        ("input", f"input {'N' if meta.batch == 'dynamic' else meta.batch}x{spec.channels}x{spec.height}x{spec.width} float32"),
        ("outputs", ", ".join(io.outputs)), ("opset", meta.opset), ("exporter", meta.exporter),
        ("ops", ", ".join(f"{op} {n}" for op, n in (meta.op_histogram or {}).items())),
        ("files", ", ".join(str(f) for f in result.files)), ("seconds", f"{result.seconds:.1f}"),
    ]
    echo_fields(rows)
