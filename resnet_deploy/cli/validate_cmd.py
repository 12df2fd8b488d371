"""`resnet-deploy validate`: the same inputs through MODEL and its reference, any runtimes, compared."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from resnet_deploy.backends.registry import RUN_PRECISIONS, backend_names
from resnet_deploy.cli.output import echo_json
from resnet_deploy.cli.params import FiniteFloat, InputOrName, InputPath, InputSize, command


def _batch_sizes(text: str) -> tuple[int, ...]:
    from resnet_deploy.errors import InvalidInputError

    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InvalidInputError(f"`batch_sizes` must be comma-separated integers, got {text!r}",
                                param="batch_sizes") from None
    if not sizes:
        raise InvalidInputError("`batch_sizes` needs at least one batch size", param="batch_sizes")
    return sizes


@command("validate")
@click.argument("model", type=InputOrName())
@click.option("--backend", type=click.Choice(backend_names()), default=None,
              help="Runtime for MODEL [default: ort-cpu for ONNX, tensorrt for plans, torch for checkpoints and names].")
@click.option("--reference", type=InputOrName(), default=None,
              help="What to compare with: ONNX model, plan, checkpoint or model name [default: the checkpoint MODEL "
                   "records, or the seeded network of an untrained export; a plan's source ONNX model].")
@click.option("--reference-backend", type=click.Choice(backend_names()), default=None,
              help="Runtime for the reference [default: as for MODEL, by the reference's kind].")
@click.option("--checkpoint", type=InputPath(), default=None, help="Same as --reference with a checkpoint.")
@click.option("--dataset", default=None,
              help="Inputs from a dataset's validation split (digits, mnist, cifar10, cifar100, imagefolder) or an .npz "
                   "with x (and labels) [default: seeded random inputs].")
@click.option("--data-dir", type=InputPath(), default=None, help="Dataset folder.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many inputs.")
@click.option("--random", "random_count", type=click.IntRange(min=1), default=None,
              help="N seeded random inputs (default 16 without --dataset).")
@click.option("--batch-sizes", default="1,8", show_default=True, help="Comma-separated batch sizes to run MODEL at.")
@click.option("--max-error", type=FiniteFloat(min=0), default=None,
              help="Largest |MODEL - reference| as a multiple of the reference's RMS [default by precision: "
                   "FP32 1e-4, FP16 2e-2, INT8 1.0].")
@click.option("--min-cosine", type=FiniteFloat(min=-1, max=1), default=None,
              help="Minimum cosine similarity [default by precision: FP32 0.99999, FP16 0.999, INT8 0.99].")
@click.option("--min-top1", type=FiniteFloat(min=0, max=1), default=None,
              help="Minimum top-1 agreement, 0..1 [default by precision: FP32 0.999, FP16 0.99, INT8 0.95].")
@click.option("--per-layer", is_flag=True,
              help="ONNX on onnxruntime vs PyTorch: also compare every Conv/Gemm output and name the first divergent layer.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Threads for CPU backends.")
@click.option("--input-size", type=InputSize(), default=None,
              help="HxW (or N) fed to a model whose height/width are dynamic [default: the size it records].")
@click.option("--precision", type=click.Choice(RUN_PRECISIONS), default=None,
              help="Run MODEL in this precision, computed from it by --backend (bf16: openvino, torch); judged by "
                   "the limits of the precision that really ran.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def validate(model: str, backend: str | None, reference: str | None, reference_backend: str | None,
             checkpoint: Path | None, dataset: str | None, data_dir: Path | None, limit: int | None,
             random_count: int | None, batch_sizes: str, max_error: float | None, min_cosine: float | None,
             min_top1: float | None, per_layer: bool, threads: int | None, input_size: tuple[int, int] | None,
             precision: str | None, as_json: bool) -> None:
    """Run MODEL and its reference on the same inputs; exit 1 if any output is outside tolerance.

    \b
      resnet-deploy validate r20.onnx                         # ort-cpu vs its PyTorch checkpoint
      resnet-deploy validate r20.onnx --backend openvino
      resnet-deploy validate r20.int8.onnx --backend openvino --reference r20.onnx
      resnet-deploy validate r50_fp16.plan --reference r50.onnx
      resnet-deploy validate r20.onnx --backend openvino --precision bf16
    """
    from resnet_deploy.compare import validate as run_validate
    from resnet_deploy.compare.validate import render_report
    from resnet_deploy.errors import CheckFailedError, InvalidInputError

    if checkpoint is not None:
        if reference is not None:
            raise InvalidInputError("give --reference or --checkpoint, not both")
        reference = str(checkpoint)
    # Progress is for a person at a terminal; logs and pipes get the report (and errors) only.
    progress = None if as_json or not sys.stderr.isatty() else (lambda m: click.echo(f"running {m}", err=True))
    report = run_validate(model, backend=backend, reference=reference, reference_backend=reference_backend,
                          dataset=dataset, data_dir=data_dir, random=random_count, limit=limit,
                          batch_sizes=_batch_sizes(batch_sizes), per_layer=per_layer, threads=threads,
                          precision=precision, input_size=input_size, max_error=max_error, min_cosine=min_cosine,
                          min_top1=min_top1, progress=progress)
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(render_report(report))
    if not report:
        raise CheckFailedError("validation failed: " + " | ".join(report.failures()))
