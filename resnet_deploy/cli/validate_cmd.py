"""`resnet-deploy validate`: the same inputs through MODEL and its reference, any runtimes, compared."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from resnet_deploy.backends.registry import RUN_PRECISIONS, backend_names
from resnet_deploy.cli.output import echo_json
from resnet_deploy.cli.params import (
    FiniteFloat,
    InputOrName,
    InputPath,
    InputSize,
    OutputFile,
    command,
)
from resnet_deploy.data.registry import data_dir_help, names_help


def _layer_taps(per_layer: bool) -> dict[str, Any]:
    """The per-layer runner the compare layer cannot make itself: TensorRT's debug build."""
    if not per_layer:
        return {}
    from resnet_deploy.tensorrt.debug_outputs import marked_outputs_tap

    return {"tensorrt": marked_outputs_tap()}


@command("validate")
@click.argument("model", type=InputOrName())
@click.option("--backend", type=click.Choice(backend_names()), default=None,
              help="Runtime for MODEL [default: ort-cpu for ONNX, tensorrt for plans, torch for checkpoints and names].")
@click.option("--reference", type=InputOrName(), default=None,
              help="What to compare with: ONNX model, plan, checkpoint, model name, or a saved-outputs .npz "
                   "(--save-outputs) [default: the checkpoint MODEL records, or the seeded network of an untrained "
                   "export; a plan's source ONNX model].")
@click.option("--reference-backend", type=click.Choice(backend_names()), default=None,
              help="Runtime for the reference [default: as for MODEL, by the reference's kind].")
@click.option("--checkpoint", type=InputPath(), default=None, help="Same as --reference with a checkpoint.")
@click.option("--dataset", default=None,
              help=f"Inputs from a dataset's validation split ({names_help()}) or an .npz "
                   "with x (and labels) [default: seeded random inputs].")
@click.option("--data-dir", type=InputPath(), default=None, help=data_dir_help())
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many inputs.")
@click.option("--random", "random_count", type=click.IntRange(min=1), default=None,
              help="N seeded random inputs (default 16 without --dataset).")
@click.option("--batch-sizes", default="1,8", show_default=True,
              help="Batch sizes to run MODEL at: 1,8,32 or 1-256 (powers of two).")
@click.option("--max-error", type=FiniteFloat(min=0), default=None,
              help="Largest |MODEL - reference| as a multiple of the reference's RMS [default by precision: "
                   "FP32 1e-4, FP16 2e-2, BF16 0.2, INT8 1.0, FP8 1.0].")
@click.option("--min-cosine", type=FiniteFloat(min=-1, max=1), default=None,
              help="Minimum cosine similarity [default by precision: FP32 0.99999, FP16 and BF16 0.999, INT8 and FP8 0.99].")
@click.option("--min-top1", type=FiniteFloat(min=0, max=1), default=None,
              help="Minimum top-1 agreement, 0..1 [default by precision: FP32 0.999, FP16 0.99, BF16 0.98, INT8 and FP8 0.95].")
@click.option("--per-layer", is_flag=True,
              help="Also compare every Conv/Gemm output of the two sides (torch, ort-*, openvino; tensorrt through a "
                   "debug build with the outputs marked) and name the first divergent layer.")
@click.option("--save-outputs", type=OutputFile(dir_okay=False), default=None,
              help="Write MODEL's inputs and outputs and its identity to this .npz, a --reference for another machine.")
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
             min_top1: float | None, per_layer: bool, save_outputs: Path | None, threads: int | None,
             input_size: tuple[int, int] | None, precision: str | None, as_json: bool) -> None:
    """Run MODEL and its reference on the same inputs; exit 1 if any output is outside tolerance.

    \b
      resnet-deploy validate r20.onnx                         # ort-cpu vs its PyTorch checkpoint
      resnet-deploy validate r20.onnx --backend openvino
      resnet-deploy validate r20.int8.onnx --backend openvino --reference r20.onnx
      resnet-deploy validate r50_fp16.plan --reference r50.onnx
      resnet-deploy validate r20.onnx --backend openvino --precision bf16
      resnet-deploy validate r20.int8.onnx --backend openvino --reference r20.onnx --per-layer
      resnet-deploy validate r50.onnx --save-outputs r50.cpu.npz     # then, on the GPU machine:
      resnet-deploy validate r50.onnx --backend ort-cuda --reference r50.cpu.npz
    """
    from resnet_deploy.bench.config import parse_batch_sizes
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
                          batch_sizes=parse_batch_sizes(batch_sizes), per_layer=per_layer, threads=threads,
                          precision=precision, input_size=input_size, max_error=max_error, min_cosine=min_cosine,
                          min_top1=min_top1, save_outputs=save_outputs, layer_taps=_layer_taps(per_layer),
                          progress=progress)
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(render_report(report))
    if not report:
        raise CheckFailedError("validation failed: " + " | ".join(report.failures()))
