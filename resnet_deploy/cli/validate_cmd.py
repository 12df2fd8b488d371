"""`resnet-deploy validate`: the same inputs through PyTorch and onnxruntime, compared."""

from __future__ import annotations

from pathlib import Path

import click

from resnet_deploy.cli.output import echo_json, format_table
from resnet_deploy.cli.params import FiniteFloat, InputPath, command


def _batch_sizes(text: str) -> tuple[int, ...]:
    from resnet_deploy.errors import InvalidInputError

    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InvalidInputError(f"--batch-sizes must be comma-separated integers, got {text!r}") from None
    if not sizes:
        raise InvalidInputError("--batch-sizes needs at least one batch size")
    return sizes


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


@command("validate")
@click.argument("model", type=InputPath())
@click.option("--checkpoint", type=InputPath(), default=None,
              help="PyTorch reference weights (default: the checkpoint recorded in MODEL, or the seeded untrained network).")
@click.option("--dataset", default=None, help="Validation images from a dataset (digits, mnist, cifar10, cifar100, imagefolder).")
@click.option("--data-dir", type=InputPath(), default=None, help="Dataset folder.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many dataset images.")
@click.option("--random", "random_count", type=click.IntRange(min=1), default=None, help="N seeded random inputs (default 16 without --dataset).")
@click.option("--provider", default="cpu", show_default=True, help="onnxruntime execution provider: cpu, cuda, tensorrt, openvino.")
@click.option("--batch-sizes", default="1,8", show_default=True, help="Comma-separated batch sizes to run onnxruntime at.")
@click.option("--atol", type=FiniteFloat(min=0), default=None, help="Absolute tolerance (default by precision: FP32 1e-4).")
@click.option("--rtol", type=FiniteFloat(min=0), default=None, help="Relative tolerance (default by precision: FP32 1e-3).")
@click.option("--min-cosine", type=FiniteFloat(min=-1, max=1), default=None, help="Minimum cosine similarity (default by precision).")
@click.option("--min-top1", type=FiniteFloat(min=0, max=1), default=None, help="Minimum top-1 agreement, 0..1 (default by precision: FP32 1.0).")
@click.option("--per-layer", is_flag=True, help="Also compare every Conv/Gemm output and report the first divergent layer.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def validate(model: Path, checkpoint: Path | None, dataset: str | None, data_dir: Path | None, limit: int | None,
             random_count: int | None, provider: str, batch_sizes: str, atol: float | None, rtol: float | None,
             min_cosine: float | None, min_top1: float | None, per_layer: bool, as_json: bool) -> None:
    """Run MODEL with onnxruntime and its PyTorch source on the same inputs; exit 1 if any
    output is outside tolerance."""
    from dataclasses import replace

    from resnet_deploy.compare import Tolerance
    from resnet_deploy.errors import CheckFailedError
    from resnet_deploy.export import read_onnx_metadata, validate_onnx

    tolerance = Tolerance.for_precision(read_onnx_metadata(model)["precision"])
    overrides = {k: v for k, v in {"atol": atol, "rtol": rtol, "min_cosine": min_cosine,
                                   "min_top1_agreement": min_top1}.items() if v is not None}
    tolerance = replace(tolerance, **overrides)  # type: ignore[arg-type]
    report = validate_onnx(model, checkpoint=checkpoint, dataset=dataset, data_dir=data_dir, random=random_count,
                           provider=provider, batch_sizes=_batch_sizes(batch_sizes), tolerance=tolerance,
                           per_layer=per_layer, limit=limit)
    data = report.to_dict()
    if as_json:
        echo_json(data)
    else:
        source = data["inputs"]
        described = (f"{source['samples']} {source['dataset']} {source['split']} images" if source["kind"] == "dataset"
                     else f"{source['samples']} random inputs (seed {source['seed']})")
        reference = data["reference"]
        click.echo(f"{model} ({data['precision']}) on {', '.join(source['providers'])} vs PyTorch "
                   f"({reference['kind']} {reference['architecture']}), {described}")
        click.echo(f"tolerance: atol {tolerance.atol:g}, rtol {tolerance.rtol:g}, cosine >= {tolerance.min_cosine}, "
                   f"top-1 agreement >= {tolerance.min_top1_agreement:.0%}")
        rows = []
        for batch in report.batches:
            for name, c in batch.outputs.items():
                rows.append([batch.batch_size, name, f"{c.max_abs:.3g}", f"{c.max_rel:.3g}", f"{c.mean_abs:.3g}",
                             f"{c.cosine:.8f}", _num(c.top1_agreement, ".2%"), _num(c.top5_agreement, ".2%"),
                             _num(batch.accuracy, ".2%"), "pass" if c else "FAIL"])
        click.echo(format_table(["batch", "output", "max abs", "max rel", "mean abs", "cosine", "top-1 agree",
                                 "top-5 agree", "accuracy", "result"], rows,
                                align_right=[True, False, True, True, True, True, True, True, True, False]))
        if report.torch_accuracy is not None:
            click.echo(f"PyTorch accuracy on these images: {report.torch_accuracy:.2%}")
        if report.per_layer is not None:
            layers = report.per_layer
            first = layers.first_divergent
            if first is None:
                click.echo(f"per layer: all {len(layers.layers)} paired layers agree")
            else:
                click.echo(f"per layer: first divergent layer is {first.torch_module} (ONNX {first.onnx_node}, "
                           f"{first.op}): max abs {first.comparison.max_abs:.3g}, cosine {first.comparison.cosine:.6f}")
            if layers.unmatched_onnx:
                click.echo(f"per layer: {len(layers.unmatched_onnx)} ONNX nodes not paired: {', '.join(layers.unmatched_onnx[:5])}")
        for note in report.notes:
            click.echo(f"note: {note}")
    if not report:
        raise CheckFailedError("validation failed: " + " | ".join(report.failures()))
