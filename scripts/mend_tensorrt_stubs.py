#!/usr/bin/env python3
"""Make the `tensorrt-stubs` package readable by mypy, so CI type-checks the TensorRT code.

TensorRT itself cannot be installed without an NVIDIA download, but its Python API is
published as stubs (`pip install --no-deps tensorrt-stubs==10.13.0.35.1`). As shipped, mypy
cannot use them:
  - `tensorrt/` and `tensorrt_bindings/` have no `py.typed`, so mypy ignores them (PEP 561);
  - `tensorrt_bindings/tensorrt.pyi` names parameters `in` (a Python keyword: a syntax error);
  - `add_scale_nd` has a parameter without a default after ones with defaults (another one).
This script mends those in place. It is idempotent and finds site-packages itself (or takes
the folder that holds `tensorrt_bindings/` as its one argument). Exit 1 when the stubs are
not installed.
"""

from __future__ import annotations

import re
import site
import sys
import sysconfig
from pathlib import Path

_IN_PARAM = re.compile(r"(?<=[(, ])in(?=\s*:)")
_SCALE_ND = "channel_axis: int)"


def find_site_packages() -> Path | None:
    """The first site-packages folder that holds tensorrt_bindings/tensorrt.pyi."""
    candidates = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()]
    user = site.getusersitepackages()
    if isinstance(user, str):
        candidates.append(user)
    for folder in candidates:
        if (Path(folder) / "tensorrt_bindings" / "tensorrt.pyi").is_file():
            return Path(folder)
    return None


def mend_text(text: str) -> str:
    """The stub text with `in` parameters renamed `in_` and add_scale_nd's channel_axis defaulted."""
    lines = []
    for line in text.splitlines(keepends=True):
        stripped = line.lstrip()
        if stripped.startswith("def "):
            line = _IN_PARAM.sub("in_", line)
            if stripped.startswith("def add_scale_nd(") and _SCALE_ND in line:
                line = line.replace(_SCALE_ND, "channel_axis: int = ...)")
        lines.append(line)
    return "".join(lines)


def mend(root: Path) -> list[str]:
    """Mend the stubs under `root` (site-packages); returns what changed (empty when already mended)."""
    changed = []
    for package in ("tensorrt", "tensorrt_bindings"):
        marker = root / package / "py.typed"
        if (root / package).is_dir() and not marker.exists():
            marker.write_text("")
            changed.append(f"added {marker}")
    stub = root / "tensorrt_bindings" / "tensorrt.pyi"
    text = stub.read_text(encoding="utf-8")
    mended = mend_text(text)
    if mended != text:
        stub.write_text(mended, encoding="utf-8")
        changed.append(f"mended {stub}")
    return changed


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else find_site_packages()
    if root is None or not (root / "tensorrt_bindings" / "tensorrt.pyi").is_file():
        print("tensorrt-stubs are not installed here: pip install --no-deps tensorrt-stubs==10.13.0.35.1",
              file=sys.stderr)
        return 1
    changed = mend(root)
    print("\n".join(changed) if changed else f"tensorrt stubs under {root} already mended")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
