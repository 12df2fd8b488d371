"""`resnet-deploy bench-compare A.json B.json`: the change per batch size between two runs."""

from __future__ import annotations

from pathlib import Path

import click

from resnet_deploy.cli.output import echo_json
from resnet_deploy.cli.params import InputPath, command


@command("bench-compare")
@click.argument("baseline", type=InputPath())
@click.argument("candidate", type=InputPath())
@click.option("--json", "as_json", is_flag=True, help="Print JSON for programs.")
def bench_compare(baseline: Path, candidate: Path, as_json: bool) -> None:
    """Median latency and throughput of CANDIDATE (B) against BASELINE (A), two `bench
    --save-json` files. Rows only one run has are listed as not compared; warnings stored
    in either run are repeated below the table."""
    from resnet_deploy.bench.compare import compare_results, load_result, render_comparison

    comparison = compare_results(load_result(baseline), load_result(candidate), names=(str(baseline), str(candidate)))
    if as_json:
        echo_json(comparison.to_dict())
    else:
        click.echo(render_comparison(comparison))
