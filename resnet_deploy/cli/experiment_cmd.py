"""`resnet-deploy experiment degradation`: the paper's plain-vs-residual experiment."""

from __future__ import annotations

import click

from resnet_deploy.cli.output import echo_json
from resnet_deploy.cli.params import Command, FiniteFloat, InputPath, OutputFolder
from resnet_deploy.data.registry import DATASETS, data_dir_help, names_help


@click.group("experiment")
def experiment() -> None:
    """Experiments from the ResNet paper."""


@experiment.command("degradation", cls=Command)
@click.option("--depths", default="20,56", show_default=True, help="Comma-separated CIFAR depths (6n+2).")
@click.option("--dataset", default="digits", show_default=True, type=click.Choice(DATASETS), help=names_help() + ".")
@click.option("--data-dir", type=InputPath(), default=None, help=data_dir_help())
@click.option("--epochs", type=click.IntRange(min=1), default=15, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--lr", type=FiniteFloat(min=0, min_open=True), default=None, help="Peak learning rate [default: 0.1 x batch-size / 64].")
@click.option("--schedule", type=click.Choice(["cosine", "multistep", "constant"]), default="cosine", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--train-limit", type=click.IntRange(min=1), default=None, help="Use only the first N training samples.")
@click.option("--val-limit", type=click.IntRange(min=1), default=None, help="Use only the first N validation samples.")
@click.option("--out", type=OutputFolder(), default="runs/degradation", show_default=True)
@click.option("--overwrite", is_flag=True, help="Retrain runs that already exist under --out (default: resume them).")
@click.option("--json", "as_json", is_flag=True)
def degradation(depths: str, dataset: str, data_dir: str | None, epochs: int, batch_size: int, lr: float | None,
                schedule: str, seed: int, train_limit: int | None, val_limit: int | None, out: str, overwrite: bool,
                as_json: bool) -> None:
    """Train plain and residual nets at each depth with the same recipe; plot training and
    validation error per epoch side by side (out/degradation.png) and record out/degradation.json."""
    from resnet_deploy.errors import InvalidInputError
    from resnet_deploy.train.config import TrainConfig
    from resnet_deploy.train.experiment import run_degradation

    try:
        depth_list = tuple(int(d) for d in depths.split(",") if d.strip())
    except ValueError:
        raise InvalidInputError(f"--depths takes comma-separated integers like 20,56, got {depths!r}") from None
    if not depth_list:
        raise InvalidInputError("--depths is empty")
    base = TrainConfig(dataset=dataset, data_dir=data_dir, epochs=epochs, batch_size=batch_size, lr=lr,
                       schedule=schedule, seed=seed, train_limit=train_limit, val_limit=val_limit, overwrite=overwrite,
                       resume=not overwrite)  # a rerun continues (or skips) the runs already there
    report = run_degradation(out, depths=depth_list, base=base)
    if as_json:
        echo_json({k: v for k, v in report.items() if k != "history"})
        return
    from resnet_deploy.render import Column, render_table

    rows = [[name, r["depth"], "yes" if r["residual"] else "no", 100 * r["final_train_error"],
             100 * r["final_val_error"]] for name, r in report["results"].items()]
    click.echo(render_table([Column("model"), Column("depth", "d"), Column("residual"), Column("train error %", ".2f"),
                             Column("val error %", ".2f")], rows))
    click.echo(f"figure: {report['figure']}")
