"""`resnet-deploy serve` as a user runs it: a subprocess that serves until SIGINT or SIGTERM,
exits 130 / 143, and leaves no server or backend process behind; bad input is one line."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from resnet_deploy.cli import cli
from resnet_deploy.serving.server import WORKDIR_PREFIX, group_processes, remove_stale_workdirs
from tests.serving.conftest import SERVER_GROUP


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _wait_for_line(process: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if marker in line:
            return lines
    raise AssertionError(f"no {marker!r} from serve; got {lines}; stderr: {process.stderr.read() if process.stderr else ''}")


@pytest.mark.xdist_group(SERVER_GROUP)
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_serve_answers_then_stops_cleanly_on_signal(triton_runtime: object, r20_onnx: Path, signum: int,
                                                    code: int) -> None:
    http = pytest.importorskip("tritonclient.http")
    process = subprocess.Popen(
        [sys.executable, "-m", "resnet_deploy", "serve", str(r20_onnx), "--http-port", "0", "--grpc-port", "0",
         "--metrics-port", "0", "--threads", "1", "--name", "digits"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        lines = _wait_for_line(process, "HTTP ", timeout=120)
        url = lines[-1].split("http://", 1)[1].split("/", 1)[0]
        servers = _children(process.pid)
        assert len(servers) == 1, servers
        server_pid = servers[0]
        assert len(group_processes(server_pid)) >= 2  # tritonserver and its Python-backend stub
        x = np.zeros((1, 3, 32, 32), np.float32)
        tensor = http.InferInput("input", [1, 3, 32, 32], "FP32")
        tensor.set_data_from_numpy(x)
        assert http.InferenceServerClient(url).infer("digits", [tensor]).as_numpy("logits").shape == (1, 10)
        process.send_signal(signum)
        assert process.wait(timeout=60) == code
        assert group_processes(server_pid) == []  # no orphan: server and stubs are gone
        assert not Path(f"/proc/{server_pid}").exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.xdist_group(SERVER_GROUP)
def test_killing_serve_takes_the_server_down_too(triton_runtime: object, r20_onnx: Path) -> None:
    """SIGKILL gives serve no chance to stop the server: the parent-death signal does."""
    process = subprocess.Popen(
        [sys.executable, "-m", "resnet_deploy", "serve", str(r20_onnx), "--http-port", "0", "--grpc-port", "0",
         "--metrics-port", "0", "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        _wait_for_line(process, "HTTP ", timeout=120)
        (server_pid,) = _children(process.pid)
        assert group_processes(server_pid)
        (workdir,) = _owned_workdirs(process.pid)  # while it serves, it owns exactly one work folder
    finally:
        process.kill()
        process.wait()
    deadline = time.monotonic() + 30
    while group_processes(server_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert group_processes(server_pid) == []
    # Its work folder (owned by the killed process) is what the next start cleans up; another
    # server starting meanwhile (the other test worker) may have swept it already: gone either way.
    remove_stale_workdirs()
    assert not workdir.exists()


def _owned_workdirs(pid: int) -> list[Path]:
    return [d for d in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*")
            if (d / "owner.pid").is_file() and (d / "owner.pid").read_text().strip() == str(pid)]


def test_stale_work_folders_are_swept_and_live_ones_kept() -> None:
    """Without a server: a folder whose owner died is removed, one whose owner lives is kept."""
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead, alive = int(finished.stdout), os.getpid()
    folders = {}
    for owner in (dead, alive):
        folder = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        (folder / "owner.pid").write_text(f"{owner}\n")
        folders[owner] = folder
    try:
        assert _owned_workdirs(dead) == [folders[dead]]
        remove_stale_workdirs()
        assert not folders[dead].exists() and folders[alive].is_dir()
    finally:
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.xdist_group(SERVER_GROUP)  # a refused start still sweeps stale work folders: keep it off the kill test's
def test_serve_refuses_bad_input_with_one_line(tmp_path: Path, r20_onnx: Path) -> None:
    runner = CliRunner()
    cases = [
        (["serve", str(tmp_path / "missing.onnx")], "does not exist"),
        (["serve", str(tmp_path / "model.txt")], "neither an ONNX model"),
        (["serve", str(r20_onnx), "--backend", "tensorrt"], "--backend"),
        (["serve", str(r20_onnx), "--http-port", "70000"], "--http-port"),
        (["serve", str(r20_onnx), "--instances", "0"], "--instances"),
        (["serve", str(r20_onnx), "--http-port", "9100", "--grpc-port", "9100"], "ports must differ"),
        (["serve"], "give the ARTIFACT"),
    ]
    (tmp_path / "model.txt").write_text("not a model")
    for args, text in cases:
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert text in result.output, (args, result.output)
        assert "Traceback" not in result.output
        assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1  # one line, usage errors too


def test_missing_runtime_without_install_is_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from resnet_deploy.errors import MissingDependencyError
    from resnet_deploy.serving.runtime import check_interpreter, check_platform, ensure_runtime

    try:
        check_platform()
        check_interpreter()
    except MissingDependencyError as exc:
        pytest.skip(f"the bundled Triton server cannot run here: {exc}")
    monkeypatch.setenv("RESNET_DEPLOY_TRITON_HOME", str(tmp_path / "empty"))
    with pytest.raises(MissingDependencyError, match="serve --setup") as error:
        ensure_runtime(install=False)
    assert error.value.exit_code == 3
