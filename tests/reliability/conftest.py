"""What the reliability tests share: a folder of small real artifacts (copied fresh into each
test's own folder), a snapshot of a folder's contents to prove nothing was created or changed,
and helpers that run the CLI in-process or as a real process (for signals and kills)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from resnet_deploy.cli import cli

Snapshot = dict[str, tuple[str, int]]


def snapshot(folder: Path) -> Snapshot:
    """Every file and folder below `folder`: relative path -> (sha256 or "dir", mode)."""
    state: Snapshot = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            path = Path(root, name)
            state[str(path.relative_to(folder)) + "/"] = ("dir", path.stat().st_mode)
        for name in files:
            path = Path(root, name)
            state[str(path.relative_to(folder))] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mode)
    return state


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small real artifacts, made once per worker: an untrained resnet20 export (3x32x32), its
    FP16 variant, a digits-shaped checkpoint (1x32x32), calibration data, a bench result and a
    stand-in TensorRT plan with its sidecar."""
    from resnet_deploy.bench import BackendSpec, BenchConfig, Warmup, run_benchmark
    from resnet_deploy.bench import report as rep
    from resnet_deploy.export import export_onnx
    from resnet_deploy.input_spec import InputSpec
    from resnet_deploy.models import build_model
    from resnet_deploy.precision import convert_fp16
    from resnet_deploy.train.checkpoint import save_checkpoint
    from tests.tensorrt.helpers import fake_plan

    folder = tmp_path_factory.mktemp("artifacts")
    export_onnx(folder / "r20.onnx", model="resnet20", exporter="torchscript")
    convert_fp16(folder / "r20.onnx", folder / "r20.fp16.onnx")
    spec = InputSpec(1, 32, 32, (0.5,), (0.5,), class_names=tuple(str(i) for i in range(10)))
    save_checkpoint(folder / "ckpt.safetensors", build_model("resnet20", num_classes=10, in_channels=1),
                    model_name="resnet20", model_kwargs={"num_classes": 10, "in_channels": 1}, input_spec=spec,
                    dataset="digits", epoch=1, metrics={})
    np.save(folder / "calib.npy", np.random.default_rng(0).standard_normal((8, 3, 32, 32), dtype=np.float32))
    config = BenchConfig([BackendSpec("ort-cpu", artifact=folder / "r20.onnx")], batch_sizes=[1],
                         warmup=Warmup(iterations=1), iterations=5, duration_s=None, min_iterations=1)
    rep.save(run_benchmark(config).to_dict(), json_path=folder / "bench.json")
    fake_plan(folder, "r20.plan")
    return folder


@pytest.fixture
def work(artifacts: Path, tmp_path: Path) -> Path:
    """A fresh copy of the artifacts for one test to (try to) damage."""
    folder = tmp_path / "work"
    shutil.copytree(artifacts, folder)
    return folder


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    def one_line_error(self) -> str:
        """The single stderr line of a refused command (no traceback, no extra lines)."""
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        assert "Traceback" not in self.stderr, self.stderr
        assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{self.stderr}"
        return lines[0]


def invoke(args: list[str], cwd: Path) -> Outcome:
    """The CLI in-process (fast), from `cwd`."""
    old = os.getcwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(cli, args)
    finally:
        os.chdir(old)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr)


def run_process(args: list[str], cwd: Path, *, preexec: Callable[[], None] | None = None,
                timeout: float = 120) -> Outcome:
    """The CLI as a real process (for resource limits), from `cwd`."""
    proc = subprocess.run([sys.executable, "-m", "resnet_deploy", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=preexec, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def mount_tmpfs(folder: Path, *options: str) -> bool:
    """Mount a small tmpfs at `folder` (root only; False where mounting is not allowed)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(folder)],
                              capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def unmount(folder: Path) -> None:
    subprocess.run(["umount", str(folder)], capture_output=True, timeout=10)


@pytest.fixture
def readonly_dir(tmp_path: Path) -> Path:
    """A folder nobody can write into: a read-only tmpfs (root), or mode 0555 (other users)."""
    folder = tmp_path / "readonly"
    if os.geteuid() == 0:
        if not mount_tmpfs(folder, "ro", "size=1m"):
            pytest.skip("a read-only folder needs a read-only mount here (root ignores permissions), and mount failed")
        yield folder
        unmount(folder)
    else:
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)


@pytest.fixture
def full_disk(tmp_path: Path) -> Path:
    """A folder on a 64 KiB file system: any model written there fills it (ENOSPC)."""
    folder = tmp_path / "full"
    if not mount_tmpfs(folder, "size=64k"):
        pytest.skip("a full disk needs a tiny tmpfs mount, and mount failed (not root?)")
    yield folder
    unmount(folder)
