"""The two process-level guarantees: a SIGKILLed run resumes to the same weights, and
torchrun with 2 processes trains with DDP while only rank 0 writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from resnet_deploy.train.loop import train

REPO = Path(__file__).resolve().parents[2]
SETTINGS = dict(epochs=3, train_limit=64, val_limit=32, input_size=8, batch_size=32, deterministic=True, seed=3)  # 2 steps/epoch

KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys, torch
    torch.set_num_threads(1)
    from resnet_deploy.train import loop
    from tests.train.conftest import tiny_config
    kill_at, out, resume = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
    make = loop.make_criterion
    calls = {"n": 0}
    def criterion(config):
        inner = make(config)
        def step(logits, labels):
            calls["n"] += 1
            if calls["n"] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)  # mid-epoch, no chance to clean up
            return inner(logits, labels)
        return step
    loop.make_criterion = criterion
    loop.train(tiny_config(out, resume=resume, **SETTINGS), progress=False)
""").replace("SETTINGS", repr(SETTINGS))


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    env.pop("WORLD_SIZE", None)
    return env


def _run_group(cmd: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run in its own process group and kill the whole group on timeout, so a hung rank
    never outlives the test."""
    popen = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        out, err = popen.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(popen.pid, signal.SIGKILL)
        out, err = popen.communicate()
        pytest.fail(f"torchrun did not finish in {timeout} s: {err[-2000:]}")
    return subprocess.CompletedProcess(cmd, popen.returncode, out, err)


def test_sigkill_mid_epoch_then_resume_gives_the_same_weights(tmp_path: Path, tiny: Any) -> None:
    out = tmp_path / "killed"
    killed = subprocess.run([sys.executable, "-c", KILL_SCRIPT, "6", str(out), "0"], env=_env(), cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr[-2000:]
    state = torch.load(out / "train_state.pt", weights_only=True)
    assert state["epoch"] == 2  # killed at step 2 of epoch 3, after epoch 2 was saved
    resumed = subprocess.run([sys.executable, "-c", KILL_SCRIPT, "0", str(out), "1"], env=_env(), cwd=REPO,
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference = train(tiny("straight", **SETTINGS), progress=False)
    finally:
        torch.set_num_threads(threads)
    a, b = load_file(str(out / "last.safetensors")), load_file(str(reference.last_checkpoint))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [h["val_top1"] for h in history] == [h.val_top1 for h in reference.history]


def test_torchrun_two_processes_ddp(tmp_path: Path) -> None:
    pytest.importorskip("torch.distributed.run")
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "resnet_deploy", "train", "--model", "resnet20", "--dataset", "digits", "--epochs", "1",
           "--input-size", "16", "--train-limit", "64", "--val-limit", "63", "--batch-size", "32",
           "--device", "cpu", "--out", str(out), "--no-progress", "--json"]
    env = _env()
    env.pop("PYTEST_XDIST_WORKER", None)
    proc = _run_group(cmd, env, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count('"best_checkpoint"') == 1  # only rank 0 reports
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    meta = json.loads((out / "last.safetensors.json").read_text())
    assert meta["training"]["world_size"] == 2
    assert (63 * report["final"]["val_top1"]) == pytest.approx(round(63 * report["final"]["val_top1"]))  # all 63 counted once
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
    assert not list(out.glob(".*.tmp"))
