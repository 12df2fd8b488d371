from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from resnet_deploy.cli import cli

TINY = ["--dataset", "digits", "--epochs", "1", "--input-size", "16", "--train-limit", "64", "--val-limit", "64",
        "--batch-size", "32", "--device", "cpu", "--no-progress"]


def test_train_then_eval(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "r20"
    result = runner.invoke(cli, ["train", "--depth", "20", *TINY, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["epochs_run"] == 1 and Path(report["best_checkpoint"]).is_file()
    assert report["config"]["model"] == "resnet20" and report["config"]["lr_effective"] == 0.05

    table = runner.invoke(cli, ["train", "--model", "resnet20", *TINY, "--out", str(out), "--resume"])
    assert table.exit_code == 0 and "best val top-1" in table.output
    header, _rule, first = table.output.splitlines()[:3]
    assert header.split() == ["epoch", "train", "loss", "train", "top-1", "%", "val", "loss", "val", "top-1", "%", "val",
                              "top-5", "%", "train", "img/s"]
    assert len(first.split()[1].split(".")[1]) == 4  # the loss column's precision: 0.1234
    assert len(first) == len(header)  # img/s right-aligned under its header

    png = tmp_path / "confusion.png"
    evaluated = runner.invoke(cli, ["eval", report["best_checkpoint"], "--dataset", "digits", "--limit", "100",
                                    "--confusion-png", str(png), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    data = json.loads(evaluated.output)
    assert data["count"] == 100 and 0 <= data["top1"] <= data["top5"] <= 1
    assert len(data["confusion"]) == 10 and sum(map(sum, data["confusion"])) == 100
    assert set(data["per_class"]) <= {str(i) for i in range(10)} and png.stat().st_size > 1000
    people = runner.invoke(cli, ["eval", report["best_checkpoint"], "--limit", "50"])
    assert people.exit_code == 0 and "top-1" in people.output
    assert next(line for line in people.output.splitlines() if line.startswith("class")).split() == ["class", "accuracy", "%"]

    wrong = runner.invoke(cli, ["eval", report["best_checkpoint"], "--model", "resnet56"])
    assert wrong.exit_code == 2 and "holds a resnet20, not a resnet56" in wrong.output
    assert "Traceback" not in wrong.output


def test_train_bad_input_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["train", *TINY, "--dataset", "cifar10", "--data-dir", str(tmp_path / "x"),
                                  "--out", str(tmp_path / "o")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    bad = runner.invoke(cli, ["train", *TINY, "--init-from", str(tmp_path / "none.pth"), "--out", str(tmp_path / "o")])
    assert bad.exit_code == 2 and "none.pth' does not exist" in bad.output
    bad_lr = runner.invoke(cli, ["train", *TINY, "--lr", "-1", "--out", str(tmp_path / "o")])
    assert bad_lr.exit_code == 2 and "--lr" in bad_lr.output and "must be > 0" in bad_lr.output


def test_experiment_degradation_tiny(tmp_path: Path) -> None:
    out = tmp_path / "deg"
    result = CliRunner().invoke(cli, ["experiment", "degradation", "--depths", "20", "--epochs", "1",
                                      "--train-limit", "32", "--val-limit", "32", "--batch-size", "32",
                                      "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report["results"]) == {"plain20", "resnet20"}
    assert report["results"]["plain20"]["residual"] is False and 0 <= report["results"]["resnet20"]["final_train_error"] <= 1
    saved = json.loads((out / "degradation.json").read_text())
    assert set(saved["history"]) == {"plain20", "resnet20"} and (out / "degradation.png").stat().st_size > 1000
