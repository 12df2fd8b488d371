"""`resnet-deploy train`: parse options into a TrainConfig, call train(), print the result."""

from __future__ import annotations

import click

from resnet_deploy.cli.output import echo_json
from resnet_deploy.cli.params import FiniteFloat, InputPath, OutputFolder, command
from resnet_deploy.data.registry import DATASETS, data_dir_help, names_help


@command("train")
@click.option("--model", "model_name", default=None, help="Registry name (resnet20, resnet50, plain56, ...). Default resnet20.")
@click.option("--depth", type=click.IntRange(min=1), default=None, help="Pick the model by depth instead of --model.")
@click.option("--family", default="cifar", show_default=True, help="Family for --depth (cifar, plain, imagenet, preact, ...).")
@click.option("--dataset", default="digits", show_default=True, type=click.Choice(DATASETS), help=names_help() + ".")
@click.option("--data-dir", type=InputPath(), default=None, help=data_dir_help())
@click.option("--out", type=OutputFolder(), default="runs/train", show_default=True, help="Output folder for checkpoints and logs.")
@click.option("--epochs", type=click.IntRange(min=1), default=15, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True, help="Global batch (split across DDP processes).")
@click.option("--lr", type=FiniteFloat(min=0, min_open=True), default=None, help="Peak learning rate [default: 0.1 x batch-size / 64].")
@click.option("--momentum", type=FiniteFloat(min=0, max=1), default=0.9, show_default=True)
@click.option("--nesterov/--no-nesterov", default=True, show_default=True)
@click.option("--weight-decay", type=FiniteFloat(min=0), default=5e-4, show_default=True, help="Not applied to BN and bias.")
@click.option("--schedule", type=click.Choice(["cosine", "multistep", "constant"]), default="cosine", show_default=True)
@click.option("--milestones", default="0.5,0.75", show_default=True, help="multistep: fractions of the run where the LR drops.")
@click.option("--gamma", type=FiniteFloat(min=0, min_open=True), default=0.1, show_default=True, help="multistep: LR factor at each milestone.")
@click.option("--warmup-epochs", type=FiniteFloat(min=0), default=1.0, show_default=True)
@click.option("--label-smoothing", type=FiniteFloat(min=0, max=1), default=0.1, show_default=True)
@click.option("--amp", type=click.Choice(["off", "bf16", "fp16"]), default="off", show_default=True, help="Autocast (fp16 needs CUDA).")
@click.option("--channels-last", is_flag=True, help="NHWC memory format (faster with AMP on tensor cores).")
@click.option("--grad-clip", type=FiniteFloat(min=0, min_open=True), default=None, help="Clip the global gradient norm to this value.")
@click.option("--ema", type=FiniteFloat(min=0, max=1, min_open=True), default=None, help="Keep an EMA of the weights with this decay (e.g. 0.999).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--deterministic", is_flag=True, help="Deterministic algorithms (bit-exact resume on the CPU).")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True, help="DataLoader worker processes.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--input-size", type=click.IntRange(min=1), default=None, help="Resize images to this side (default: the dataset's).")
@click.option("--init-from", type=InputPath(), default=None, help="Start from a state dict (.pth/.safetensors, e.g. torchvision's).")
@click.option("--init-skip-mismatched", is_flag=True, help="With --init-from: skip tensors of another shape (a 1000-class head).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last completed epoch.")
@click.option("--overwrite", is_flag=True, help="Start over in an --out that already holds a run.")
@click.option("--no-augment", is_flag=True, help="Train without augmentation.")
@click.option("--train-limit", type=click.IntRange(min=1), default=None, help="Use only the first N training samples (smoke runs).")
@click.option("--val-limit", type=click.IntRange(min=1), default=None, help="Use only the first N validation samples.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def train(model_name: str | None, depth: int | None, family: str, dataset: str, data_dir: str | None, out: str,
          epochs: int, batch_size: int, lr: float | None, momentum: float, nesterov: bool, weight_decay: float,
          schedule: str, milestones: str, gamma: float, warmup_epochs: float, label_smoothing: float, amp: str,
          channels_last: bool, grad_clip: float | None, ema: float | None, seed: int, deterministic: bool,
          workers: int, device: str, input_size: int | None, init_from: str | None, init_skip_mismatched: bool,
          resume: bool, overwrite: bool, no_augment: bool, train_limit: int | None, val_limit: int | None,
          no_progress: bool, as_json: bool) -> None:
    """Train a ResNet; writes last/best checkpoints (.safetensors + .json), metrics.jsonl and
    curves.png to --out. Under `torchrun --nproc-per-node N -m resnet_deploy train ...` it
    trains with DistributedDataParallel (gloo on CPU, NCCL on CUDA).

    Example: resnet-deploy train --model resnet20 --dataset digits --epochs 15 --out runs/r20
    """
    from resnet_deploy.errors import InvalidInputError
    from resnet_deploy.models import resolve_model_name
    from resnet_deploy.train.config import TrainConfig
    from resnet_deploy.train.loop import train as run_train

    name = resolve_model_name(model_name, depth, family) if (model_name or depth) else "resnet20"
    try:
        marks = tuple(float(m) for m in milestones.split(",") if m.strip())
    except ValueError:
        raise InvalidInputError(f"--milestones takes comma-separated fractions like 0.5,0.75, got {milestones!r}") from None
    config = TrainConfig(model=name, dataset=dataset, out=out, data_dir=data_dir, epochs=epochs, batch_size=batch_size,
                         lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, schedule=schedule,
                         milestones=marks, gamma=gamma, warmup_epochs=warmup_epochs, label_smoothing=label_smoothing,
                         amp=amp, channels_last=channels_last, grad_clip=grad_clip, ema=ema, seed=seed,
                         deterministic=deterministic, workers=workers, device=device, input_size=input_size,
                         init_from=init_from, init_skip_mismatched=init_skip_mismatched, resume=resume,
                         overwrite=overwrite, augment=not no_augment, train_limit=train_limit, val_limit=val_limit)
    result = run_train(config, progress=not no_progress)
    import os

    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun only rank 0 reports
    if as_json:
        echo_json(result.to_dict())
        return
    from resnet_deploy.render import Column, render_table

    columns = [Column("epoch", "d"), Column("train loss", ".4f"), Column("train top-1 %", ".2f"),
               Column("val loss", ".4f"), Column("val top-1 %", ".2f"), Column("val top-5 %", ".2f"),
               Column("train img/s", ",.0f")]
    rows = [[h.epoch, h.train_loss, 100 * h.train_top1, h.val_loss, 100 * h.val_top1, 100 * h.val_top5,
             h.train_images_per_s] for h in result.history]
    click.echo(render_table(columns, rows))
    click.echo(f"best val top-1 {100 * result.best_val_top1:.2f}% at epoch {result.best_epoch}; "
               f"{result.seconds:.1f} s; {result.train_images_per_second:.0f} train img/s")
    click.echo(f"checkpoints: {result.best_checkpoint} (best), {result.last_checkpoint} (last)")
