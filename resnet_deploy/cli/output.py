"""Printing helpers shared by the commands: JSON for programs and field lists for people.
Tables come from resnet_deploy.render; the benchmark's progress display is cli/progress.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from resnet_deploy.jsonfile import dumps_json


def echo_json(data: Any) -> None:
    click.echo(dumps_json(data), nl=False)


def echo_fields(fields: Sequence[tuple[str, Any]], titles: tuple[str, str] = ("field", "value")) -> None:
    """A two-column `field  value` list (what a command made, where, how long) through the
    rendering layer."""
    from resnet_deploy.render import Column, render_table

    click.echo(render_table([Column(titles[0]), Column(titles[1], align="left")], [[k, v] for k, v in fields]))
