"""Shared by the benchmark scripts: the models' ONNX artifacts, where results go, how they are saved."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from resnet_deploy.bench import report as rep
from resnet_deploy.bench.telemetry import capture_environment, device_slug

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
log = logging.getLogger("benchmarks")


def cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def results_dir(base: Path | None = None) -> tuple[Path, dict[str, Any]]:
    """benchmarks/results/<device>/ (cpu-<N>core, or the GPU's name) and the environment."""
    env = capture_environment()
    out = (base or RESULTS) / device_slug(env, cuda_available())
    out.mkdir(parents=True, exist_ok=True)
    return out, env


def export_model(name: str, work: Path, size: int = 224) -> Path:
    """An untrained `name` exported to ONNX (weights do not change the timing), reused if present."""
    from resnet_deploy.export import export_onnx

    path = work / f"{name}_{size}.onnx"
    if not path.exists():
        log.info("exporting %s at %dx%d", name, size, size)
        export_onnx(path, model=name, input_size=size)
    return path


def random_calibration(work: Path, size: int, samples: int) -> Path:
    """Random normalised images for INT8 calibration: enough for timing, meaningless for accuracy."""
    path = work / f"calib_random_{size}_{samples}.npy"
    if not path.exists():
        np.save(path, np.random.default_rng(0).standard_normal((samples, 3, size, size), dtype=np.float32))
    return path


def save_result(data: dict[str, Any], out_dir: Path, stem: str, title: str, plots: bool = True) -> None:
    rep.save(data, json_path=out_dir / f"{stem}.json", csv_path=out_dir / f"{stem}.csv")
    (out_dir / f"{stem}.md").write_text(rep.render_markdown(data, title=title), encoding="utf-8")
    if plots:
        rep.save(data, plot_dir=out_dir, plot_prefix=f"{stem}_", plot_title=title)
    log.info("wrote %s/%s.{json,csv,md}", out_dir, stem)


def write_json(path: Path, data: Any) -> None:
    """The project's JSON writer (jsonfile.dumps_json), written atomically."""
    from resnet_deploy.atomic import write_json as write_atomically

    write_atomically(path, data)
