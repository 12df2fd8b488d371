"""`resnet-deploy accuracy`: top-1/top-5 of FP16/INT8 models against their FP32 reference."""

from __future__ import annotations

from pathlib import Path

import click

from resnet_deploy.cli.output import echo_json, format_table
from resnet_deploy.cli.params import FiniteFloat, InputPath, command


@command("accuracy")
@click.argument("models", nargs=-1, required=True, type=InputPath())
@click.option("--dataset", required=True,
              help="digits, mnist, cifar10, cifar100, imagefolder (validation split), or an .npz with x and labels.")
@click.option("--data-dir", type=InputPath(), default=None, help="Dataset folder (mnist, cifar, imagefolder).")
@click.option("--reference", type=InputPath(), required=True, help="The FP32 ONNX model to compare against.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Evaluate only the first N validation images.")
@click.option("--max-drop", type=FiniteFloat(min=0), default=None, help="Fail (exit 1) when a model's top-1 drops more than this many points.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="onnxruntime intra-op threads.")
@click.option("--no-record", is_flag=True, help="Do not write the figures into the models' sidecars.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def accuracy(models: tuple[Path, ...], dataset: str, data_dir: Path | None, reference: Path, limit: int | None,
             max_drop: float | None, threads: int | None, no_record: bool, as_json: bool) -> None:
    """Evaluate MODELS and the --reference with onnxruntime on the same validation images."""
    from resnet_deploy.errors import CheckFailedError
    from resnet_deploy.precision.accuracy import evaluate_accuracy

    report = evaluate_accuracy(list(models), dataset=dataset, data_dir=data_dir, reference=reference, limit=limit,
                               max_drop=max_drop, threads=threads, record=not no_record)
    if as_json:
        echo_json(report.to_dict())
    else:
        rows = [(Path(r.model).name, r.precision, f"{r.top1:.2f}", f"{r.top5:.2f}", f"{r.top1_agreement:.2f}",
                 f"{r.cosine:.5f}", f"{r.drop:+.2f}" if r is not report.reference else "ref",
                 ("ok" if r.passed else "FAIL") if r is not report.reference else "")
                for r in [report.reference, *report.models]]
        click.echo(f"{report.dataset} ({report.split}, {report.samples} images), onnxruntime CPU")
        click.echo(format_table(["model", "precision", "top-1 %", "top-5 %", "agree %", "cosine", "drop", ""], rows,
                                align_right=[False, False, True, True, True, True, True, False]))
    if not report:
        raise CheckFailedError("; ".join(report.failures))
