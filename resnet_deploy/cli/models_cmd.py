"""`resnet-deploy models`: the registry as a table or JSON, from the precomputed cost table
(resnet_deploy.model_costs), so listing imports neither torch nor the model definitions."""

from __future__ import annotations

import click

from resnet_deploy.cli.output import echo_json
from resnet_deploy.cli.params import command
from resnet_deploy.model_costs import FAMILIES


@command("models")
@click.option("--family", type=click.Choice(list(FAMILIES)), help="Only this family.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for programs.")
def models(family: str | None, as_json: bool) -> None:
    """List every registered ResNet with its parameters and MACs per image."""
    from resnet_deploy.model_costs import model_costs
    from resnet_deploy.render import Column, render_table

    records = model_costs(family)
    if as_json:
        echo_json([r.to_dict() for r in records])
        return
    columns = [Column("name"), Column("family"), Column("depth", "d"), Column("block"), Column("params", ",d"),
               Column("GMACs", ".3f"), Column("input (CxHxW)", align="right"), Column("classes", ",d")]
    click.echo(render_table(columns, [[r.name, r.family, r.depth, r.block, r.params, r.macs / 1e9,
                                       "x".join(map(str, r.input_chw)), r.num_classes] for r in records]))
