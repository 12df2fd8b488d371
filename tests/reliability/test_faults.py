"""The file system says no, or the user stops the command: a read-only folder, a full disk, a
file-size limit, Ctrl-C and SIGTERM. Each ends in one line and the right exit code, with no
temporary or half-written file left and no input touched."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability.conftest import invoke, run_process, snapshot

TEMP_SUFFIXES = (".tmp",)


def _temps(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if p.name.endswith(TEMP_SUFFIXES)]


@pytest.mark.parametrize("args", [
    ["export", "--model", "resnet20", "-o", "{out}/x.onnx"],
    ["quantize", "{w}/r20.onnx", "--precision", "fp16", "-o", "{out}/x.onnx"],
    ["bench", "--onnx", "{w}/r20.onnx", "--batch-sizes", "1", "--iterations", "2", "--markdown", "{out}/x.md"],
    ["train", "--epochs", "1", "--train-limit", "32", "--val-limit", "16", "--out", "{out}/run"],
    ["eval", "{w}/ckpt.safetensors", "--limit", "16", "--confusion-png", "{out}/c.png"],
], ids=["export", "quantize", "bench-markdown", "train", "eval-png"])
def test_read_only_output_folder(args: list[str], work: Path, readonly_dir: Path) -> None:
    before = snapshot(work)
    outcome = invoke([a.replace("{w}", str(work)).replace("{out}", str(readonly_dir)) for a in args], work)
    assert outcome.code == 2, outcome.stderr
    assert "not writable" in outcome.one_line_error() or "Read-only" in outcome.one_line_error()
    assert snapshot(work) == before and list(readonly_dir.iterdir()) == []


@pytest.mark.parametrize("args", [
    ["export", "--model", "resnet20", "-o", "{out}/x.onnx"],
    ["quantize", "{w}/r20.onnx", "--precision", "fp16", "-o", "{out}/x.onnx"],
    ["train", "--epochs", "1", "--train-limit", "32", "--val-limit", "16", "--out", "{out}/run"],
], ids=["export", "quantize", "train"])
def test_full_disk(args: list[str], work: Path, full_disk: Path) -> None:
    before = snapshot(work)
    outcome = invoke([a.replace("{w}", str(work)).replace("{out}", str(full_disk)) for a in args], work)
    assert outcome.code == 2, outcome.stderr
    line = outcome.one_line_error()
    assert "No space left on device" in line and str(full_disk) in line, line
    assert snapshot(work) == before
    assert list(full_disk.iterdir()) == []  # no temporary, no half-written file, no empty run folder


def _file_size_limit(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.parametrize("args", [
    ["export", "--checkpoint", "{w}/ckpt.safetensors", "-o", "{w}/out.onnx"],
    ["train", "--epochs", "1", "--train-limit", "32", "--val-limit", "16", "--out", "{w}/run", "--no-progress"],
], ids=["export-onnx", "train-safetensors"])
def test_file_size_limit(args: list[str], work: Path) -> None:
    """RLIMIT_FSIZE (EFBIG): onnx.save and safetensors each report it their own way."""
    before = snapshot(work)
    outcome = run_process([a.replace("{w}", str(work)) for a in args], work,
                          preexec=lambda: _file_size_limit(200_000))
    assert outcome.code == 2, outcome.stderr
    assert "File too large" in outcome.one_line_error()
    assert snapshot(work) == before


def test_stale_temporaries_of_dead_writers_are_removed(work: Path) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(finished.stdout)
    stale = work / f".x.onnx.{dead}.0123abcd.tmp"
    stale.write_bytes(b"half a model")
    live = work / f".x.onnx.{os.getpid()}.89abcdef.tmp"  # a writer still running: kept
    live.write_bytes(b"in progress")
    assert invoke(["export", "--model", "resnet20", "--exporter", "torchscript", "-o", str(work / "x.onnx")],
                  work).code == 0
    assert not stale.exists() and live.exists()


def test_artifacts_honour_the_umask(work: Path) -> None:
    old = os.umask(0o022)
    try:
        assert invoke(["quantize", str(work / "r20.onnx"), "--precision", "fp16", "-o", str(work / "x.onnx")],
                      work).code == 0
    finally:
        os.umask(old)
    for name in ("x.onnx", "x.onnx.json"):
        assert (work / name).stat().st_mode & 0o777 == 0o644, name


def _wait_for(path: Path, process: subprocess.Popen[str], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


@pytest.mark.parametrize(("signum", "code", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                      (signal.SIGTERM, 143, "terminated")], ids=["SIGINT", "SIGTERM"])
def test_signals_exit_with_their_code_and_leave_nothing_half_written(signum: int, code: int, word: str,
                                                                     tmp_path: Path) -> None:
    """Stopped mid-training (after its first epoch was written): the signal's exit code, one
    line, no temporary file, and the run resumes."""
    run = tmp_path / "run"
    args = [sys.executable, "-m", "resnet_deploy", "train", "--epochs", "40", "--train-limit", "64",
            "--val-limit", "32", "--out", str(run), "--no-progress"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(run / "train_state.pt.json", process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and word in lines[0], stderr
    assert _temps(run) == []
    resumed = run_process(["train", "--epochs", "2", "--train-limit", "64", "--val-limit", "32", "--out", str(run),
                           "--resume", "--no-progress"], tmp_path)
    assert resumed.code == 0, resumed.stderr


def test_sigterm_during_a_long_export_removes_its_temporaries(tmp_path: Path) -> None:
    """SIGTERM while ResNet-50 is being exported (its warning says the export has begun)."""
    out = tmp_path / "r50.onnx"
    process = subprocess.Popen([sys.executable, "-m", "resnet_deploy", "export", "--depth", "50", "-o", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    for line in process.stderr:
        if "UNTRAINED" in line:
            break
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert "terminated" in stderr and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


def test_the_memory_check_honours_the_address_space_limit(work: Path) -> None:
    """`ulimit -v`: a batch that fits the machine's free memory but not the process's address
    space is refused before anything runs, not an allocation failure 14 s later."""
    limit = 12_000_000 * 1024  # ulimit -v 12000000

    def address_space() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))

    outcome = run_process(["bench", "--onnx", "r20.onnx", "--batch-sizes", "100000"], work, preexec=address_space)
    assert outcome.code == 2, outcome.stderr
    assert "address-space limit (ulimit -v)" in outcome.one_line_error()
