"""`resnet-deploy eval CHECKPOINT --dataset ...`: top-1/top-5, per-class accuracy, confusion PNG."""

from __future__ import annotations

import click

from resnet_deploy.cli.output import echo_json
from resnet_deploy.cli.params import InputPath, OutputFile, command
from resnet_deploy.data.registry import DATASETS, data_dir_help, names_help


@command("eval")
@click.argument("checkpoint", type=InputPath())
@click.option("--dataset", default="digits", show_default=True, type=click.Choice(DATASETS), help=names_help() + ".")
@click.option("--data-dir", type=InputPath(), default=None, help=data_dir_help())
@click.option("--split", type=click.Choice(["val", "train", "test"]), default="val", show_default=True)
@click.option("--model", "model_name", default=None, help="Refuse the checkpoint unless it holds this architecture.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Evaluate only the first N samples.")
@click.option("--confusion-png", type=OutputFile(), default=None,
              help="Write the confusion matrix here [default: <checkpoint>.confusion.png].")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def eval_(checkpoint: str, dataset: str, data_dir: str | None, split: str, model_name: str | None, batch_size: int,
          limit: int | None, confusion_png: str | None, device: str, as_json: bool) -> None:
    """Evaluate a checkpoint on a dataset split.

    Example: resnet-deploy eval runs/r20/best.safetensors --dataset digits
    """
    from resnet_deploy.train.evaluate import evaluate_checkpoint

    png = confusion_png or f"{checkpoint}.confusion.png"
    result = evaluate_checkpoint(checkpoint, dataset, data_dir, split=split, expected_model=model_name,
                                 batch_size=batch_size, limit=limit, confusion_png=png, device=device)
    if as_json:
        echo_json(result.to_dict())
        return
    click.echo(f"{result.model_name} on {result.dataset}/{result.split}: {result.count} images, "
               f"top-1 {100 * result.top1:.2f}%, top-5 {100 * result.top5:.2f}%, loss {result.loss:.4f}")
    if len(result.per_class) <= 30:
        from resnet_deploy.render import Column, render_table

        rows = [[name, 100 * acc] for name, acc in result.per_class.items()]
        click.echo(render_table([Column("class"), Column("accuracy %", ".2f")], rows))
    click.echo(f"confusion matrix: {result.confusion_png}")


eval_cmd = eval_
