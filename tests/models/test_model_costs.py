"""The precomputed cost table behind `resnet-deploy models` matches the definitions, and
listing models never imports torch (that is what made it take 15 s)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from resnet_deploy.cli import cli
from resnet_deploy.model_costs import FAMILIES, cost_of, model_costs
from resnet_deploy.models import list_models, model_cost
from resnet_deploy.models.registry import FAMILIES as REGISTRY_FAMILIES

NAMES = [entry.name for entry in list_models()]


def test_the_table_lists_every_registered_model_in_registry_order() -> None:
    assert [r.name for r in model_costs()] == NAMES, "run: python scripts/update_model_costs.py"
    assert FAMILIES == REGISTRY_FAMILIES


@pytest.mark.parametrize("name", NAMES)
def test_each_row_matches_model_cost(name: str) -> None:
    from resnet_deploy.models import get_entry

    entry, record, cost = get_entry(name), cost_of(name), model_cost(name)
    assert record is not None
    assert (record.params, record.macs, record.input_chw) == (cost.params, cost.macs, cost.input_shape[1:]), \
        "run: python scripts/update_model_costs.py"
    assert (record.family, record.depth, record.block, record.num_classes) == \
        (entry.family, entry.depth, entry.block, entry.default_classes)


def test_models_command_prints_a_named_right_aligned_table() -> None:
    result = CliRunner().invoke(cli, ["models", "--family", "imagenet"])
    assert result.exit_code == 0, result.output
    header, _rule, *rows = result.output.splitlines()
    assert header.split() == ["name", "family", "depth", "block", "params", "GMACs", "input", "(CxHxW)", "classes"]
    resnet50 = next(row for row in rows if row.startswith("resnet50 "))
    assert "25,557,032" in resnet50 and "4.089" in resnet50
    end = header.index("params") + len("params")
    assert all(row[end - 1].isdigit() for row in rows)  # numbers end under the header's end
    data = json.loads(CliRunner().invoke(cli, ["models", "--json"]).output)
    assert data[2] == {"name": "resnet50", "family": "imagenet", "depth": 50, "block": "bottleneck",
                       "params": 25557032, "macs": 4089184256, "num_classes": 1000, "input_size": [3, 224, 224]}


def test_listing_models_imports_neither_torch_nor_the_definitions() -> None:
    code = ("import sys; from click.testing import CliRunner; from resnet_deploy.cli import cli; "
            "r = CliRunner().invoke(cli, ['models']); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('resnet_deploy.models')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
