"""scripts/mend_tensorrt_stubs.py: idempotent repairs that let mypy read tensorrt-stubs."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STUB = '''class IPluginV2:
    def get_workspace_size(self, in: list[int], out: list[int]) -> int:
        """
            :arg in: The input tensors attributes.
        """
    def configure_plugin(self: IPluginV2, in: list[int], out: list[int]) -> None: ...
class INetworkDefinition:
    def add_scale_nd(self, input: ITensor, mode: int, shift: int = None, scale: int = None, power: int = None, channel_axis: int) -> int: ...
'''


def _load_script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("mend_tensorrt_stubs", ROOT / "scripts" / "mend_tensorrt_stubs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mend_is_idempotent_and_yields_valid_python(tmp_path: Path) -> None:
    mend = _load_script()
    (tmp_path / "tensorrt").mkdir()
    (tmp_path / "tensorrt_bindings").mkdir()
    stub = tmp_path / "tensorrt_bindings" / "tensorrt.pyi"
    stub.write_text(STUB)
    try:
        ast.parse(STUB)
        raise AssertionError("the unmended stub should not parse")
    except SyntaxError:
        pass
    changed = mend.mend(tmp_path)
    assert len(changed) == 3
    text = stub.read_text()
    ast.parse(text)
    assert "in_: list[int]" in text and ":arg in: The input" in text  # docstrings untouched
    assert "channel_axis: int = ...)" in text
    assert (tmp_path / "tensorrt" / "py.typed").exists() and (tmp_path / "tensorrt_bindings" / "py.typed").exists()
    assert mend.mend(tmp_path) == []
    assert mend.main(["mend", str(tmp_path)]) == 0
    assert mend.main(["mend", str(tmp_path / "nowhere")]) == 1
