"""Printing helpers shared by the commands: JSON for programs and field lists for people.
Tables come from resnet_deploy.render; the benchmark's progress display is cli/progress.py."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align_right: Sequence[bool] | None = None) -> str:
    """Kept for the commands not yet on resnet_deploy.render (validate, accuracy): a
    plain-text table with a header rule."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    if align_right is None:
        align_right = [all(_is_number(row[i]) for row in rows) and bool(rows) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        parts = [c.rjust(w) if right else c.ljust(w) for c, w, right in zip(row, widths, align_right, strict=True)]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def echo_fields(fields: Sequence[tuple[str, Any]], titles: tuple[str, str] = ("field", "value")) -> None:
    """A two-column `field  value` list (what a command made, where, how long) through the
    rendering layer."""
    from resnet_deploy.render import Column, render_table

    click.echo(render_table([Column(titles[0]), Column(titles[1], align="left")], [[k, v] for k, v in fields]))
