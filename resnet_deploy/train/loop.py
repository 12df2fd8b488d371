"""The training loop: `train(TrainConfig) -> TrainResult`. The pieces it drives live beside it:
the LR schedule (schedule.py), EMA (ema.py), seeds and RNG states (determinism.py), the
training state (state.py) and evaluation (evaluate.py).

One epoch = shuffle (DistributedSampler, seeded by seed + epoch), SGD steps with a per-step
LR schedule, then evaluation on the validation split. After every epoch rank 0 writes,
each atomically: `last.safetensors` (+ sidecar), `best.safetensors` when validation top-1
improved, `train_state.pt` (raw weights, optimizer, scheduler, scaler, EMA, RNG states,
history; read back with weights_only=True), `metrics.jsonl` and `curves.png`.

A run killed at any point resumes (`resume=True`) from the last completed epoch. Because
augmentation is drawn per (seed, epoch, sample) and the shuffle per (seed, epoch), a resumed
run on the CPU in deterministic mode ends with exactly the weights of an uninterrupted one.
A non-finite loss stops the run with CheckFailedError (exit 1) before anything of the bad
epoch is written, so `last`/`best` stay the last good ones.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from torch.utils.data.distributed import DistributedSampler

from resnet_deploy.atomic import atomic_write_text, check_output_folder, folders_removed_on_failure
from resnet_deploy.errors import ArtifactError, CheckFailedError, InvalidInputError
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.train import distributed
from resnet_deploy.train.checkpoint import init_from, save_checkpoint, unwrap_model
from resnet_deploy.train.config import TrainConfig
from resnet_deploy.train.determinism import rng_state, set_determinism, set_rng_state
from resnet_deploy.train.ema import ModelEma
from resnet_deploy.train.evaluate import autocast, evaluate_model
from resnet_deploy.train.schedule import lr_factor
from resnet_deploy.train.state import load_train_state, save_train_state

log = logging.getLogger(__name__)

LAST = "last.safetensors"
BEST = "best.safetensors"
STATE = "train_state.pt"
METRICS = "metrics.jsonl"
CURVES = "curves.png"


@dataclass(frozen=True)
class TrainStats:
    """One epoch's training pass over all ranks: mean loss, top-1, its wall time and rate."""

    loss: float
    top1: float
    seconds: float
    images_per_s: float


@dataclass(frozen=True)
class ValStats:
    """One epoch's validation over all ranks."""

    loss: float
    top1: float
    top5: float


@dataclass(frozen=True)
class EpochMetrics:
    """One row of the history: what `metrics.jsonl`, the training state and `--json` record
    per epoch (`to_dict()`, in that order of keys)."""

    epoch: int
    lr: float
    train_loss: float
    train_top1: float
    train_seconds: float
    train_images_per_s: float
    val_loss: float
    val_top1: float
    val_top5: float

    @classmethod
    def of(cls, epoch: int, lr: float, train: TrainStats, val: ValStats) -> EpochMetrics:
        return cls(epoch, lr, train.loss, train.top1, train.seconds, train.images_per_s, val.loss, val.top1, val.top5)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EpochMetrics:
        """A row as recorded (the training state's history)."""
        return cls(**{item.name: data[item.name] for item in dataclasses.fields(cls)})

    def to_dict(self) -> JsonObject:
        return dataclasses.asdict(self)


@dataclass
class TrainResult:
    out_dir: Path
    last_checkpoint: Path
    best_checkpoint: Path
    history: list[EpochMetrics]
    best_epoch: int
    best_val_top1: float
    seconds: float                 # wall time of this call (data loading and evaluation included)
    train_images_per_second: float  # training images per second over the epochs run by this call
    epochs_run: int                # epochs trained by this call (fewer than epochs when resumed)
    resumed_from_epoch: int | None
    metrics_path: Path
    curves_path: Path | None
    config: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> JsonObject:
        final = self.history[-1].to_dict() if self.history else {}
        return {"out_dir": str(self.out_dir), "last_checkpoint": str(self.last_checkpoint),
                "best_checkpoint": str(self.best_checkpoint), "best_epoch": self.best_epoch,
                "best_val_top1": self.best_val_top1, "final": final, "seconds": round(self.seconds, 3),
                "train_images_per_second": round(self.train_images_per_second, 1), "epochs_run": self.epochs_run,
                "resumed_from_epoch": self.resumed_from_epoch, "metrics": str(self.metrics_path),
                "curves": None if self.curves_path is None else str(self.curves_path),
                "config": self.config.to_dict(), "history": [row.to_dict() for row in self.history]}


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on conv/linear weights only: BN scales/shifts and biases (ndim <= 1) are
    excluded, as decaying them only hurts."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for _, p in unwrap_model(model).named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_criterion(config: TrainConfig) -> nn.Module:
    return nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)


def _limit(dataset: Dataset[Any], limit: int | None, what: str) -> Dataset[Any]:
    """The first `limit` samples; an empty result is bad input (nothing to train or judge on)."""
    size = len(dataset)  # type: ignore[arg-type]
    if limit is not None and limit < size:
        dataset, size = Subset(dataset, range(limit)), limit
    if size == 0:
        raise InvalidInputError(f"the {what} split has no samples", param=f"{what}_limit")
    return dataset


@dataclass
class _Run:
    """Everything one training run holds, so the epoch functions take one argument."""

    config: TrainConfig
    ctx: distributed.DistContext
    model: nn.Module                 # DDP-wrapped when distributed
    net: nn.Module                   # the bare network
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    ema: ModelEma | None
    criterion: nn.Module
    train_loader: DataLoader[Any]
    val_loader: DataLoader[Any]
    train_base: Any
    sampler: DistributedSampler[Any]
    model_kwargs: dict[str, Any]
    info: Any
    out: Path
    history: list[EpochMetrics] = field(default_factory=list)
    best_val_top1: float = -1.0
    best_epoch: int = 0
    start_epoch: int = 0
    start_epoch_done: int = 0


def _progress(iterable: Any, enabled: bool, desc: str, total: int) -> Any:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    # disable=None: a bar only on a terminal; logs and pipes get the per-epoch log lines.
    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True, disable=None)


def _train_epoch(run: _Run, epoch: int, progress: bool) -> TrainStats:
    config, device = run.config, run.ctx.device
    run.model.train()
    run.sampler.set_epoch(epoch)
    run.train_base.set_epoch(epoch, config.seed)
    loss_sum, correct, seen = 0.0, 0.0, 0
    start = time.perf_counter()
    bar = _progress(run.train_loader, progress and run.ctx.is_main, f"epoch {epoch + 1}/{config.epochs}", len(run.train_loader))
    for step, (images, labels) in enumerate(bar):
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        if config.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast(config.amp, device):
            logits = run.model(images)
            loss = run.criterion(logits.float(), labels)
        if not torch.isfinite(loss):
            last = run.out / LAST
            kept = f"the last good checkpoint is '{last}' (epoch {run.start_epoch_done})" if last.exists() else "no checkpoint was written yet"
            raise CheckFailedError(f"training stopped: loss became {float(loss.detach())} at epoch {epoch + 1} step {step + 1} "
                                   f"(lr {run.optimizer.param_groups[0]['lr']:.4g}); {kept}; lower `lr` or set `grad_clip`")
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        if config.grad_clip is not None:
            run.scaler.unscale_(run.optimizer)
            nn.utils.clip_grad_norm_(run.model.parameters(), config.grad_clip)
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.scheduler.step()
        if run.ema is not None:
            run.ema.update(run.model)
        batch = labels.shape[0]
        loss_sum += float(loss.detach()) * batch
        correct += float((logits.detach().argmax(1) == labels).sum())
        seen += batch
        if bar is not run.train_loader and step % 5 == 0:
            rate = seen * run.ctx.world_size / max(1e-9, time.perf_counter() - start)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}", img_s=f"{rate:.0f}")
    seconds = time.perf_counter() - start
    total_loss, total_correct, total_seen = distributed.all_reduce_sum(run.ctx, [loss_sum, correct, float(seen)])
    return TrainStats(loss=total_loss / max(1.0, total_seen), top1=total_correct / max(1.0, total_seen),
                      seconds=seconds, images_per_s=total_seen / max(1e-9, seconds))


def _validate(run: _Run) -> ValStats:
    net = run.ema.module if run.ema is not None else run.model
    stats = evaluate_model(net, run.val_loader, run.ctx.device, amp=run.config.amp,
                           channels_last=run.config.channels_last, criterion=nn.CrossEntropyLoss())
    loss_sum, top1, top5, count = distributed.all_reduce_sum(
        run.ctx, [stats.loss_sum, stats.top1_count, stats.top5_count, float(stats.count)])
    count = max(1.0, count)
    return ValStats(loss=loss_sum / count, top1=top1 / count, top5=top5 / count)


def _state_dict(run: _Run, epoch: int) -> dict[str, Any]:
    return {"epoch": epoch, "model": {k: v.detach().cpu() for k, v in run.net.state_dict().items()},
            "optimizer": run.optimizer.state_dict(), "scheduler": run.scheduler.state_dict(),
            "scaler": run.scaler.state_dict(), "ema": None if run.ema is None else run.ema.state_dict(),
            "rng": rng_state(), "history": [row.to_dict() for row in run.history], "best_val_top1": run.best_val_top1,
            "best_epoch": run.best_epoch, "config": run.config.to_dict(), "world_size": run.ctx.world_size}


def _write_epoch(run: _Run, epoch: int, improved: bool) -> None:
    """Rank 0: last (and best) checkpoint, training state, metrics and curves, each atomic."""
    config, record = run.config, run.history[-1]
    weights = run.ema.module if run.ema is not None else run.net
    metrics = {"val_top1": record.val_top1, "val_top5": record.val_top5, "val_loss": record.val_loss,
               "train_loss": record.train_loss, "train_top1": record.train_top1}
    common = dict(model_name=config.model, model_kwargs=run.model_kwargs, input_spec=run.info.input_spec,
                  dataset=config.dataset, epoch=epoch, metrics=metrics,
                  extra={"training": {"epochs": config.epochs, "batch_size": config.batch_size,
                                      "lr": config.effective_lr(), "schedule": config.schedule,
                                      "seed": config.seed, "ema": config.ema, "world_size": run.ctx.world_size}})
    save_checkpoint(run.out / LAST, weights, **common)  # type: ignore[arg-type]
    if improved:
        save_checkpoint(run.out / BEST, weights, **common)  # type: ignore[arg-type]
    state_path = run.out / STATE
    state = _state_dict(run, epoch)
    save_train_state(state_path, state, epoch=epoch, model=config.model, dataset=config.dataset)
    atomic_write_text(run.out / METRICS, "".join(json.dumps(row.to_dict()) + "\n" for row in run.history))
    if config.plot:
        from resnet_deploy.train.plots import plot_curves

        plot_curves(run.history, run.out / CURVES, f"{config.model} on {config.dataset}")


def _prepare_out(config: TrainConfig, ctx: distributed.DistContext) -> tuple[Path, dict[str, Any] | None]:
    out = check_output_folder(config.out)
    state_path = out / STATE
    if state_path.exists() and not (config.resume or config.overwrite):
        raise InvalidInputError(f"'{out}' already holds a training run; set `resume` to continue it, "
                                "`overwrite` to start over, or choose another `out` folder", param="out")
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
    distributed.barrier(ctx)
    if not config.resume:
        return out, None
    if not state_path.exists():
        log.warning("resume: no %s in %s yet; starting from epoch 1", STATE, out)
        return out, None
    state = load_train_state(state_path)
    saved = state.get("config", {})
    for key in ("model", "dataset"):
        if saved.get(key) != getattr(config, key):
            raise ArtifactError(f"cannot resume: '{state_path}' is a {saved.get('model')} run on {saved.get('dataset')}, "
                                f"not {config.model} on {config.dataset}; use the same `model` and `dataset` or another "
                                "`out` folder")
    return out, state


def _build(config: TrainConfig, ctx: distributed.DistContext, out: Path) -> _Run:
    from resnet_deploy.data import load_dataset
    from resnet_deploy.models import build_model, get_entry

    config.model = get_entry(config.model).name
    train_set, info = load_dataset(config.dataset, "train", config.data_dir, augment=config.augment,
                                   input_size=config.input_size)
    val_set, _ = load_dataset(config.dataset, "val", config.data_dir, augment=False, input_size=config.input_size)
    train_base = train_set
    train_set, val_set = _limit(train_set, config.train_limit, "train"), _limit(val_set, config.val_limit, "val")
    if config.batch_size % ctx.world_size:
        raise InvalidInputError(f"`batch_size` {config.batch_size} must divide by the number of processes "
                                f"({ctx.world_size})")
    per_rank = config.batch_size // ctx.world_size
    sampler: DistributedSampler[Any] = DistributedSampler(train_set, num_replicas=ctx.world_size, rank=ctx.rank,
                                                          shuffle=True, seed=config.seed)
    shard = len(sampler)
    pin = ctx.device.type == "cuda"
    train_loader = DataLoader(train_set, batch_size=per_rank, sampler=sampler, num_workers=config.workers,
                              pin_memory=pin, drop_last=shard > per_rank)
    val_shard = Subset(val_set, range(ctx.rank, len(val_set), ctx.world_size))  # type: ignore[arg-type]
    val_loader = DataLoader(val_shard, batch_size=max(per_rank, 128), shuffle=False, num_workers=config.workers,
                            pin_memory=pin)

    model_kwargs = {**config.model_kwargs, "num_classes": info.num_classes, "in_channels": info.input_spec.channels}
    torch.manual_seed(config.seed)
    net = build_model(config.model, **model_kwargs)
    if config.init_from is not None:
        init_from(net, config.init_from, skip_mismatched=config.init_skip_mismatched)
    net = net.to(ctx.device)
    if config.channels_last:
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    model: nn.Module = net
    if ctx.enabled:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(net, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
    optimizer = torch.optim.SGD(param_groups(net, config.weight_decay), lr=config.effective_lr(),
                                momentum=config.momentum, nesterov=config.nesterov and config.momentum > 0)
    steps = max(1, len(train_loader))
    total, warmup = steps * config.epochs, round(config.warmup_epochs * steps)

    def factor(step: int) -> float:
        return lr_factor(step, total_steps=total, warmup_steps=warmup, schedule=config.schedule,
                         milestones=tuple(config.milestones), gamma=config.gamma)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    if config.amp == "fp16" and ctx.device.type != "cuda":
        raise InvalidInputError("`amp` fp16 needs a CUDA device; use bf16 or off on the CPU")
    scaler = torch.amp.GradScaler(ctx.device.type, enabled=config.amp == "fp16")
    ema = ModelEma(net, config.ema) if config.ema else None
    return _Run(config, ctx, model, net, optimizer, scheduler, scaler, ema, make_criterion(config), train_loader,
                val_loader, train_base, sampler, model_kwargs, info, out)


def _restore(run: _Run, state: dict[str, Any]) -> None:
    run.net.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    run.scaler.load_state_dict(state["scaler"])
    if run.ema is not None and state.get("ema"):
        run.ema.load_state_dict(state["ema"])
    set_rng_state(state["rng"])
    run.history = [EpochMetrics.from_dict(row) for row in state["history"]]
    run.best_val_top1 = float(state["best_val_top1"])
    run.best_epoch = int(state["best_epoch"])
    run.start_epoch = int(state["epoch"])


def train(config: TrainConfig, progress: bool = True) -> TrainResult:
    """Train `config.model` on `config.dataset`, writing checkpoints under `config.out`.
    Works the same under torchrun (DDP; only rank 0 writes). Raises InvalidInputError for bad
    settings or data, ArtifactError for an unusable resume state, CheckFailedError for a NaN loss."""
    config.validate()
    wall = time.perf_counter()
    ctx = distributed.setup(config.device)
    # Determinism flags are process-global: put them back so a caller's later work is unaffected.
    saved_flags = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
                   torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    try:
        if ctx.enabled and ctx.device.type == "cpu":
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // ctx.world_size))
        set_determinism(config.seed, config.deterministic)
        with folders_removed_on_failure([config.out]):
            out, state = _prepare_out(config, ctx)
            run = _build(config, ctx, out)
            if state is not None:
                _restore(run, state)
                log.info("resuming %s from epoch %d", out, run.start_epoch)
            return _loop(run, progress, wall, state is not None)
    finally:
        torch.use_deterministic_algorithms(saved_flags[0], warn_only=saved_flags[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved_flags[2], saved_flags[3]
        distributed.teardown(ctx)


def _loop(run: _Run, progress: bool, wall: float, resumed: bool) -> TrainResult:
    config = run.config
    images, train_seconds = 0.0, 0.0
    run.start_epoch_done = run.start_epoch
    for epoch in range(run.start_epoch, config.epochs):
        lr = run.optimizer.param_groups[0]["lr"]
        train_stats = _train_epoch(run, epoch, progress)
        val_stats = _validate(run)
        record = EpochMetrics.of(epoch + 1, lr, train_stats, val_stats)
        run.history.append(record)
        improved = record.val_top1 > run.best_val_top1
        if improved:
            run.best_val_top1, run.best_epoch = record.val_top1, epoch + 1
        images += train_stats.images_per_s * train_stats.seconds
        train_seconds += train_stats.seconds
        if run.ctx.is_main:
            _write_epoch(run, epoch + 1, improved)
        distributed.barrier(run.ctx)
        run.start_epoch_done = epoch + 1
        log.info("epoch %d/%d: train loss %.4f top-1 %.4f | val loss %.4f top-1 %.4f top-5 %.4f | %.0f img/s",
                 epoch + 1, config.epochs, record.train_loss, record.train_top1, record.val_loss,
                 record.val_top1, record.val_top5, record.train_images_per_s)
    return TrainResult(out_dir=run.out, last_checkpoint=run.out / LAST, best_checkpoint=run.out / BEST,
                       history=run.history, best_epoch=run.best_epoch, best_val_top1=run.best_val_top1,
                       seconds=time.perf_counter() - wall,
                       train_images_per_second=images / train_seconds if train_seconds else 0.0,
                       epochs_run=config.epochs - (run.start_epoch if resumed else 0),
                       resumed_from_epoch=run.start_epoch if resumed else None,
                       metrics_path=run.out / METRICS, curves_path=run.out / CURVES if config.plot else None,
                       config=dataclasses.replace(config, model_kwargs=dict(config.model_kwargs)))

