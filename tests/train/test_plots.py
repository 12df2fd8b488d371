"""Training figures a person can read: one colour per depth in both panels, and never more
than MAX_LINES lines on one chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from resnet_deploy.train import plots


def _runs(depths: list[int]) -> dict[str, list[dict[str, float]]]:
    history = [{"epoch": e, "train_top1": 0.1 * e, "val_top1": 0.09 * e} for e in range(1, 4)]
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
