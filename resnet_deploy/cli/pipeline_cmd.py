"""`resnet-deploy pipeline`: the whole chain on one model, ending in one report."""

from __future__ import annotations

from pathlib import Path

import click

from resnet_deploy.cli.output import echo_json
from resnet_deploy.cli.params import FiniteFloat, InputPath, OutputFolder, command
from resnet_deploy.data.registry import DATASETS, data_dir_help, names_help


@command("pipeline")
@click.option("--model", default="resnet20", show_default=True, help="Registry model name.")
@click.option("--dataset", default="digits", show_default=True, type=click.Choice(DATASETS), help=names_help() + ".")
@click.option("--data-dir", type=InputPath(), help=data_dir_help())
@click.option("--out", type=OutputFolder(), default=Path("runs/pipeline"), show_default=True,
              help="Output folder: checkpoint, ONNX models, plans, bench results, report.md/report.html.")
@click.option("--checkpoint", type=InputPath(), help="Start from this checkpoint instead of training.")
@click.option("--epochs", type=click.IntRange(min=1), help="Training epochs [default: 5; --quick: 2].")
@click.option("--train-limit", type=click.IntRange(min=1), help="Train on the first N training images only (smoke runs).")
@click.option("--quick", is_flag=True, help="A smoke run: 2 epochs, fewer samples, a short benchmark.")
@click.option("--batch-sizes", help="Benchmark batch sizes [default: 1,8,32; --quick: 1,8].")
@click.option("--bench-duration", type=FiniteFloat(min=0, min_open=True), help="Measured seconds per benchmark point [default: 1.0; --quick: 0.3].")
@click.option("--calib-samples", type=click.IntRange(min=1), help="INT8 calibration images [default: 256; --quick: 32].")
@click.option("--eval-limit", type=click.IntRange(min=1), help="Evaluate accuracy on at most this many images.")
@click.option("--max-drop", type=FiniteFloat(min=0),
              help="Fail (exit 1) when a variant's top-1 drops more than this many points [default: the limit for "
                   "its precision that `resnet-deploy accuracy` applies, listed in its --help].")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads for onnxruntime/OpenVINO/torch.")
@click.option("--json", "as_json", is_flag=True, help="Print the step summary as JSON.")
def pipeline(model: str, dataset: str, data_dir: Path | None, out: Path, checkpoint: Path | None, epochs: int | None, train_limit: int | None, quick: bool,
             batch_sizes: str | None, bench_duration: float | None, calib_samples: int | None, eval_limit: int | None,
             max_drop: float | None, threads: int | None, as_json: bool) -> None:
    """Train -> export -> validate -> FP16/INT8 -> accuracy -> TensorRT engines -> bench -> report.

    \b
      resnet-deploy pipeline --model resnet20 --dataset digits --out runs/demo
    Steps that cannot run here (TensorRT without a GPU, ...) are listed in the report with why.
    Exit 1 when a check failed (validation; accuracy, judged as `resnet-deploy accuracy` judges) or a
    step failed; the report is written anyway.
    """
    from resnet_deploy.bench import parse_batch_sizes
    from resnet_deploy.errors import CheckFailedError
    from resnet_deploy.pipeline import PipelineConfig, run_pipeline

    config = PipelineConfig(model=model, dataset=dataset, data_dir=data_dir, out=out, checkpoint=checkpoint, epochs=epochs, train_limit=train_limit, quick=quick,
                            batch_sizes=parse_batch_sizes(batch_sizes), bench_duration_s=bench_duration,
                            calib_samples=calib_samples, eval_limit=eval_limit, max_drop=max_drop, threads=threads)
    progress = None if as_json else (lambda message: click.echo(message, err=True))
    result = run_pipeline(config, progress=progress)
    if as_json:
        echo_json({"steps": result.steps, "report_md": str(result.report_md), "report_html": str(result.report_html),
                   "failed": result.failed})
    else:
        from resnet_deploy.render import Column, render_table

        click.echo(render_table([Column("step"), Column("status"), Column("seconds", ".1f"), Column("result")],
                                [[s["name"], s["status"], s["seconds"], s["result"]] for s in result.steps]))
        click.echo(f"\nreport: {result.report_md}  (and {result.report_html.name})")
    if result.failed:
        raise CheckFailedError(f"{len(result.failed)} step(s) failed: {'; '.join(result.failed)[:300]}; see {result.report_md}")
