"""The degradation experiment (He et al. 2015, Figures 1 and 6): plain and residual nets of
the same depths trained with the same recipe. Deeper plain nets train *worse* (higher
training error), residual nets do not; the figure shows training (dashed) and validation
(solid) error per epoch, plain on the left, residual on the right."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from resnet_deploy.atomic import write_json
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.sidecar import new_sidecar
from resnet_deploy.train.config import TrainConfig

if TYPE_CHECKING:
    from resnet_deploy.train.loop import EpochMetrics

log = logging.getLogger(__name__)


def run_degradation(out: str | os.PathLike[str], *, depths: tuple[int, ...] = (20, 56),
                    base: TrainConfig | None = None, progress: bool = False) -> JsonObject:
    """Train plain{d} and resnet{d} for each depth with `base`'s recipe (model and out are
    replaced) into out/<name>/, then write out/degradation.png and out/degradation.json (the
    report, also returned)."""
    from resnet_deploy.train.loop import train
    from resnet_deploy.train.plots import plot_degradation

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    base = base or TrainConfig()
    histories: dict[str, list[EpochMetrics]] = {}
    finals: dict[str, JsonObject] = {}  # written into the report as they are
    for depth in depths:
        for family in ("plain", "resnet"):
            name = f"{family}{depth}"
            config = dataclasses.replace(base, model=name, out=out / name, model_kwargs=dict(base.model_kwargs))
            log.info("degradation: training %s", name)
            result = train(config, progress=progress)
            histories[name] = result.history
            last = result.history[-1]
            finals[name] = {"depth": depth, "residual": family == "resnet",
                            "final_train_error": 1 - last.train_top1, "final_val_error": 1 - last.val_top1,
                            "best_val_error": 1 - result.best_val_top1, "seconds": round(result.seconds, 2),
                            "checkpoint": str(result.best_checkpoint)}
    png = plot_degradation(histories, out / "degradation.png",
                           f"plain vs residual on {base.dataset}, {base.epochs} epochs")
    report = new_sidecar("report", None, experiment="degradation", dataset=base.dataset, depths=list(depths),
                         recipe={k: v for k, v in base.to_dict().items() if k not in ("model", "out")},
                         results=finals, history={name: [row.to_dict() for row in rows] for name, rows in histories.items()},
                         figure=str(png)).to_dict()
    write_json(out / "degradation.json", report)
    return report
