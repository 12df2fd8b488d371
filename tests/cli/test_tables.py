"""The one rendering layer: named columns, numbers right-aligned at one precision per
column, cells that are data (never rich markup), and field lists through the same layer."""

from __future__ import annotations

import ast
from pathlib import Path

from click.testing import CliRunner

from resnet_deploy.render import Column, markdown_table, precision_for, render_table

PACKAGE = Path(__file__).resolve().parents[2] / "resnet_deploy"


def test_cells_are_data_not_markup() -> None:
    text = render_table([Column("component"), Column("state")], [["onnxruntime", "1.32 [onnxruntime] [bold]x[/bold]"]])
    assert "[onnxruntime]" in text and "[bold]x[/bold]" in text


def test_one_precision_per_column_from_its_smallest_value() -> None:
    assert precision_for([45.97, 361.9, 1004.0]) == ".1f"
    assert precision_for([0.052, 3.1]) == ".3f"
    assert precision_for([12000.0, 330000.0], grouping=True) == ",.0f"
    assert precision_for([None, 0.0, "x"]) == ".0f"
    column = Column("ms", precision_for([45.97, 361.9, 1004.0]))
    lines = render_table([Column("name"), column], [["a", 45.97], ["b", 361.9], ["c", 1004.0]]).splitlines()
    assert [line.split()[-1] for line in lines[2:]] == ["46.0", "361.9", "1004.0"]
    assert len({len(line) for line in lines[2:]}) == 1  # right-aligned: every row ends in the same column
    assert markdown_table([Column("name"), column], [["a", 45.97]]).splitlines()[1] == "|---|---:|"


def test_no_library_module_imports_the_cli() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "cli" in path.relative_to(PACKAGE).parts or path.name == "__main__.py":  # the entry point
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if any(name == "resnet_deploy.cli" or name.startswith("resnet_deploy.cli.") for name in names):
                offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []


def test_field_lists_have_named_columns() -> None:
    from resnet_deploy.cli import cli

    result = CliRunner().invoke(cli, ["info"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].split() == ["component", "version", "/", "state"]
