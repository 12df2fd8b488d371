"""`resnet-deploy models`: the registry as a table or JSON."""

from __future__ import annotations

from typing import Any

import click

from resnet_deploy.cli.output import echo_json, format_table
from resnet_deploy.cli.params import command


@command("models")
@click.option("--family", type=click.Choice(["imagenet", "resnext", "wide", "cifar", "plain", "preact"]),
              help="Only this family.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for programs.")
def models(family: str | None, as_json: bool) -> None:
    """List every registered ResNet with its parameters and MACs per image."""
    from resnet_deploy.models import list_models, model_cost

    records: list[dict[str, Any]] = []
    for entry in list_models(family):
        cost = model_cost(entry.name)
        records.append({
            "name": entry.name, "family": entry.family, "depth": entry.depth, "block": entry.block,
            "params": cost.params, "macs": cost.macs, "num_classes": entry.default_classes,
            "input_size": list(cost.input_shape[1:]),
        })
    if as_json:
        echo_json(records)
        return
    rows = [[r["name"], r["family"], r["depth"], r["block"], f"{r['params']:,}", f"{r['macs'] / 1e9:.3f}",
             "x".join(map(str, r["input_size"])), r["num_classes"]] for r in records]
    click.echo(format_table(["name", "family", "depth", "block", "params", "GMACs", "input", "classes"], rows,
                            align_right=[False, False, True, False, True, True, False, True]))
