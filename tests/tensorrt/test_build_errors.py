"""build_engine / `resnet-deploy build` without TensorRT: checks that need no GPU run first and
exit 2; a valid request then exits 3 with one line. Parser errors name every node."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from resnet_deploy.cli import cli
from resnet_deploy.errors import InvalidInputError, MissingDependencyError
from resnet_deploy.export.detect import detect_precision
from resnet_deploy.optional import tensorrt_module
from resnet_deploy.tensorrt.builder import build_engine, parse_size, parser_error_text
from tests.tensorrt.helpers import conv_model

no_tensorrt = pytest.mark.skipif(tensorrt_module() is not None, reason="TensorRT is installed here")


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["build", *args])
    return result.exit_code, result.output.strip()


def test_precision_is_read_from_the_graph(tmp_path: Path) -> None:
    assert detect_precision(str(conv_model(tmp_path / "fp32.onnx"))).precision == "fp32"
    assert detect_precision(str(conv_model(tmp_path / "fp16.onnx", fp16=True))).precision == "fp16"


@no_tensorrt
def test_tensorrt_missing_is_one_line_exit_3(tmp_path: Path) -> None:
    model = conv_model(tmp_path / "m.onnx")
    code, output = _run(str(model), "-o", str(tmp_path / "m.plan"), "--max-batch", "8")
    assert code == 3, output
    assert output.count("\n") == 0 and "TensorRT" in output and "pip install" in output
    assert not (tmp_path / "m.plan").exists()
    with pytest.raises(MissingDependencyError):
        build_engine(model, tmp_path / "m.plan", max_batch=8)


@pytest.mark.parametrize(("args", "match"), [
    (["--opt-level", "9"], "opt-level"),
    (["--min-batch", "8", "--opt-batch", "4"], "min <= opt <= max"),
    (["--shapes", "image:3x8x8"], "does not have"),
    (["--workspace", "lots"], "workspace takes a size"),
    (["--hardware-compatibility", "turing"], "hardware-compatibility"),
])
def test_bad_options_are_exit_2_before_tensorrt(tmp_path: Path, args: list[str], match: str) -> None:
    model = conv_model(tmp_path / "m.onnx")
    code, output = _run(str(model), "-o", str(tmp_path / "m.plan"), *args)
    assert code == 2, output
    assert match in output


def test_bad_paths_are_exit_2(tmp_path: Path) -> None:
    code, output = _run(str(tmp_path / "missing.onnx"), "-o", str(tmp_path / "m.plan"))
    assert code == 2 and "does not exist" in output
    model = conv_model(tmp_path / "m.onnx")
    code, output = _run(str(model), "-o", str(tmp_path / "no" / "such" / "m.plan"))
    assert code == 2 and "output folder" in output
    code, output = _run(str(model), "-o", str(model))
    assert code == 2 and "overwrite" in output
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    code, output = _run(str(tmp_path / "junk.onnx"), "-o", str(tmp_path / "j.plan"))
    assert code == 2, output
    with pytest.raises(InvalidInputError, match="precision must be one of") as info:
        build_engine(model, tmp_path / "m.plan", precision="int4")
    assert info.value.param == "precision" and "--" not in str(info.value)


def test_workspace_sizes() -> None:
    assert parse_size(None) is None
    assert parse_size("4G") == 4 << 30
    assert parse_size("512M") == parse_size("512MiB") == parse_size("512") == 512 << 20
    assert parse_size(1024) == 1 << 30
    with pytest.raises(InvalidInputError):
        parse_size("0")


def test_parser_errors_list_every_node() -> None:
    def error(desc: str, node: int, name: str, op: str) -> types.SimpleNamespace:
        return types.SimpleNamespace(desc=lambda: desc, node=lambda: node, node_name=lambda: name,
                                     node_operator=lambda: op)

    errors = [error("Unsupported operator NonMaxSuppression", 12, "/head/nms", "NonMaxSuppression"),
              error("Invalid weights type of Int4", 30, "/layer4/conv2/Conv", "Conv")]
    parser = types.SimpleNamespace(num_errors=len(errors), get_error=lambda i: errors[i])
    text = parser_error_text(parser, Path("m.onnx"))  # type: ignore[arg-type]
    assert text.startswith("TensorRT's ONNX parser could not read 'm.onnx': ")
    assert "Unsupported operator NonMaxSuppression [node 12 '/head/nms' (NonMaxSuppression)]" in text
    assert "[node 30 '/layer4/conv2/Conv' (Conv)]" in text and "\n" not in text
