"""`resnet-deploy accuracy`: top-1/top-5 of FP16/INT8 models against their FP32 reference,
on the runtime that will serve them."""

from __future__ import annotations

from pathlib import Path

import click

from resnet_deploy.backends.registry import RUN_PRECISIONS, backend_names
from resnet_deploy.cli.output import echo_json
from resnet_deploy.cli.params import FiniteFloat, InputPath, InputSize, command
from resnet_deploy.data.registry import data_dir_help, names_help


@command("accuracy")
@click.argument("models", nargs=-1, required=True, type=InputPath())
@click.option("--dataset", required=True,
              help=f"{names_help()} (validation split), or an .npz with x and labels.")
@click.option("--data-dir", type=InputPath(), default=None, help=data_dir_help())
@click.option("--reference", type=InputPath(), required=True, help="The FP32 model to compare against (ONNX or plan).")
@click.option("--backend", type=click.Choice([*backend_names("onnx"), *backend_names("plan")]),
              default=None, help="The runtime that will serve MODELS [default: ort-cpu for ONNX, tensorrt for plans].")
@click.option("--reference-backend", type=click.Choice(backend_names()), default=None,
              help="Runtime for the reference [default: --backend when it runs the reference, else its natural one].")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Evaluate only the first N validation images.")
@click.option("--max-drop", type=FiniteFloat(min=0), default=None,
              help="Fail (exit 1) when a model's top-1 drops more than this many points [default by precision: "
                   "FP32 0.1, FP16 0.2, BF16 0.5, INT8 1.0, FP8 2.0].")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Threads for CPU backends.")
@click.option("--precision", type=click.Choice(RUN_PRECISIONS), default=None,
              help="Run MODELS in this precision, computed by --backend (bf16: openvino); each is named and judged "
                   "by the precision that really ran.")
@click.option("--no-record", is_flag=True, help="Do not write the figures into the models' sidecars.")
@click.option("--input-size", type=InputSize(), default=None,
              help="HxW (or N) to feed models whose height/width are dynamic [default: the size they record].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def accuracy(models: tuple[Path, ...], dataset: str, data_dir: Path | None, reference: Path, backend: str | None,
             reference_backend: str | None, limit: int | None, max_drop: float | None, threads: int | None,
             precision: str | None, no_record: bool, input_size: tuple[int, int] | None, as_json: bool) -> None:
    """Evaluate MODELS and the --reference on the same validation images; exit 1 when a drop
    exceeds its limit.

    \b
      resnet-deploy accuracy r20.fp16.onnx r20.int8.onnx --dataset digits --reference r20.onnx
      resnet-deploy accuracy r20.int8-cpu.onnx --backend openvino --dataset digits --reference r20.onnx
      resnet-deploy accuracy r20.onnx --backend openvino --precision bf16 --dataset digits --reference r20.onnx
    """
    from resnet_deploy.errors import CheckFailedError
    from resnet_deploy.precision.accuracy import evaluate_accuracy, render_report

    report = evaluate_accuracy(list(models), dataset=dataset, data_dir=data_dir, reference=reference, backend=backend,
                               reference_backend=reference_backend, limit=limit, max_drop=max_drop, threads=threads,
                               record=not no_record, precision=precision, input_size=input_size)
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(render_report(report))
    if not report:
        raise CheckFailedError("accuracy check failed: " + "; ".join(report.failures))
