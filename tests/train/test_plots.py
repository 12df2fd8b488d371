"""Training figures a person can read: one colour per depth in both panels, and never more
than MAX_LINES lines on one chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from resnet_deploy.train import plots
from resnet_deploy.train.loop import EpochMetrics


def _runs(depths: list[int]) -> dict[str, list[EpochMetrics]]:
    history = [EpochMetrics(epoch=e, lr=0.1, train_loss=1.0, train_top1=0.1 * e, train_seconds=1.0,
                            train_images_per_s=100.0, val_loss=1.0, val_top1=0.09 * e, val_top5=0.5)
               for e in range(1, 4)]
    return {f"{family}{d}": history for d in depths for family in ("plain", "resnet")}


@pytest.mark.parametrize("depths", [[20, 56], [20, 32, 44, 56, 110]])
def test_degradation_figure_stays_readable(depths: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    figures: list[Any] = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or Path(path))
    plots.plot_degradation(_runs(depths), tmp_path / "d.png", "t")
    axes = figures[0].axes
    assert all(len(ax.lines) <= plots.MAX_LINES for ax in axes)
    assert sum(len(ax.lines) for ax in axes) == 4 * len(depths)  # train and val of plain and residual per depth
    colour = {line.get_label(): line.get_color() for ax in axes for line in ax.lines}
    assert colour["plain20 train"] == colour["resnet20 val"]  # the same depth has the same colour everywhere
