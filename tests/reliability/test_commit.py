"""Crash consistency: the writer is stopped after EVERY step of its commit (through the
injectable fault hook, not by racing a timer), and what it leaves on disk is read back.
Every artifact and its metadata must be the complete old version or the complete new one.

How a stop is simulated: the hook copies the folder exactly as it is on disk at that step (a
SIGKILL there would leave precisely that), then stops the writer. The copy is then read by
the project's own readers. One real SIGKILL, in a subprocess, checks that the simulation
matches a real kill and that the next run clears what the killed writer left."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from resnet_deploy import atomic
from resnet_deploy.sidecar import artifact_meta, sha256_file


class _Stop(BaseException):
    """Stops the writer at a step (BaseException: nothing in the writer may swallow it)."""


Selector = Callable[[str, Path], bool]


def _steps(write: Callable[[], object], select: Selector) -> list[int]:
    """Run `write` once; the indices (in hook-call order) of the steps `select` keeps."""
    seen: list[tuple[str, Path]] = []
    previous = atomic.set_fault_hook(lambda step, path: seen.append((step, path)))
    try:
        write()
    finally:
        atomic.set_fault_hook(previous)
    return [i for i, (step, path) in enumerate(seen) if select(step, path)]


def _states_at_each_step(folder: Path, write: Callable[[], object], tmp: Path,
                         select: Selector = lambda step, path: True) -> list[tuple[str, Path]]:
    """Stop `write` at each selected step, from the same starting folder every time; returns
    (step, a copy of the folder exactly as it was on disk at that step)."""
    pristine = tmp / "pristine"
    shutil.copytree(folder, pristine)
    indices = _steps(write, select)
    assert indices, "the writer reported no selected steps"
    states = []
    for index in indices:
        shutil.rmtree(folder)
        shutil.copytree(pristine, folder)
        calls = 0
        stopped: list[str] = []

        def hook(step: str, path: Path, index: int = index, stopped: list[str] = stopped) -> None:
            nonlocal calls
            calls += 1
            if calls - 1 == index:
                stopped.append(f"{step} {path.name}")
                shutil.copytree(folder, tmp / f"at-{index}")
                raise _Stop(step)

        previous = atomic.set_fault_hook(hook)
        try:
            with pytest.raises(_Stop):
                write()
        finally:
            atomic.set_fault_hook(previous)
        states.append((stopped[0], tmp / f"at-{index}"))
    shutil.rmtree(folder)
    shutil.copytree(pristine, folder)
    return states


def _complete(path: Path) -> dict[str, object]:
    """The metadata record that describes `path`'s bytes, as JSON: the artifact and its
    metadata are one complete version (which one, the caller reads from the record)."""
    record = artifact_meta(path)
    assert record is not None and record.sha256 == sha256_file(path), "the metadata does not describe the artifact"
    return record.to_dict()


def test_write_artifact_stopped_at_every_step_leaves_one_typed_record(tmp_path: Path) -> None:
    """The protocol itself, with a typed record and a field no model names: at every stop
    artifact_meta returns the record of the version whose bytes are on disk (after a stop
    past the sidecar's commit, the new sidecar's typed `previous`); once committed, the new
    record carries the old one under `previous`."""
    from resnet_deploy.export.onnx_record import OnnxSidecar
    from resnet_deploy.sidecar import Sidecar, write_artifact

    folder = tmp_path / "models"
    folder.mkdir()
    target = folder / "m.onnx"

    def write(version: str) -> OnnxSidecar:
        return write_artifact(target, lambda tmp: tmp.write_text(version),
                              OnnxSidecar.new("onnx", None, precision=version, legacy_field=[version]))

    old = write("fp16")
    seen = set()
    for step, state in _states_at_each_step(folder, lambda: write("int8"), tmp_path):
        record = artifact_meta(state / "m.onnx")
        assert isinstance(record, Sidecar) and record.sha256 == sha256_file(state / "m.onnx"), step
        onnx = record.as_kind(OnnxSidecar)
        assert onnx.precision == (state / "m.onnx").read_text(), step  # record and bytes agree
        assert record.to_dict()["legacy_field"] == [onnx.precision], step
        seen.add(onnx.precision)
    assert seen == {"fp16", "int8"}
    new = write("int8")
    assert isinstance(new, OnnxSidecar) and new.previous is not None and new.previous.to_dict() == old.to_dict()


def test_onnx_model_and_sidecar_after_a_stop_at_every_step(tmp_path: Path, r20_onnx: Path) -> None:
    from resnet_deploy.export import load_onnx_model
    from resnet_deploy.precision import convert_fp16, quantize_int8

    folder = tmp_path / "models"
    folder.mkdir()
    source = folder / "r20.onnx"
    shutil.copy(r20_onnx, source)
    shutil.copy(r20_onnx.with_name(r20_onnx.name + ".json"), folder / "r20.onnx.json")
    target = folder / "out.onnx"
    import numpy as np

    np.save(folder / "calib.npy", np.random.default_rng(0).standard_normal((8, 3, 32, 32), dtype=np.float32))

    def write() -> object:  # the new version: INT8 over it
        return quantize_int8(source, target, calib=str(folder / "calib.npy"), samples=8)

    convert_fp16(source, target)  # the old version: FP16
    seen = set()
    for step, state in _states_at_each_step(folder, write, tmp_path, lambda step, path: path.name == "out.onnx"):
        precision = _complete(state / "out.onnx")["precision"]
        model = load_onnx_model(state / "out.onnx")  # the project's reader accepts it
        graph_ops = {n.op_type for n in model.graph.node}
        assert (precision == "int8") == ("QuantizeLinear" in graph_ops), step  # record and bytes agree
        seen.add(precision)
    assert seen == {"fp16", "int8"}  # the stops fell on both sides of the commit point


def test_checkpoint_after_a_stop_at_every_step(tmp_path: Path) -> None:
    from resnet_deploy.input_spec import InputSpec
    from resnet_deploy.models import build_model
    from resnet_deploy.train.checkpoint import load_checkpoint, save_checkpoint

    folder = tmp_path / "run"
    folder.mkdir()
    spec = InputSpec(1, 32, 32, (0.5,), (0.5,))
    kwargs = {"num_classes": 10, "in_channels": 1}

    def save(epoch: int, seed: int) -> object:
        import torch

        torch.manual_seed(seed)
        return save_checkpoint(folder / "last.safetensors", build_model("resnet20", **kwargs), model_name="resnet20",
                               model_kwargs=kwargs, input_spec=spec, dataset="digits", epoch=epoch, metrics={})

    save(1, 0)
    seen = set()
    for step, state in _states_at_each_step(folder, lambda: save(2, 1), tmp_path):
        epoch = _complete(state / "last.safetensors")["epoch"]
        assert load_checkpoint(state / "last.safetensors").meta.epoch == epoch, step
        seen.add(epoch)
    assert seen == {1, 2}


def test_training_resumes_after_a_stop_at_every_step_of_its_state(tmp_path: Path) -> None:
    """A run stopped anywhere in writing its training state resumes (`train --resume`)."""
    from resnet_deploy.train import TrainConfig, train

    run = tmp_path / "run"
    config = dict(model="resnet20", dataset="digits", train_limit=48, val_limit=16, batch_size=16, plot=False, seed=0)
    train(TrainConfig(out=run, epochs=1, **config), progress=False)

    def write() -> object:
        return train(TrainConfig(out=run, epochs=2, resume=True, **config), progress=False)

    def training_state(step: str, path: Path) -> bool:  # what --resume reads
        return path.name.startswith("train_state.pt")

    state_steps = _states_at_each_step(run, write, tmp_path, training_state)
    assert len(state_steps) >= 5  # artifact written, sidecar temp and commit, artifact commit
    for step, state in state_steps:
        result = train(TrainConfig(out=state, epochs=2, resume=True, **config), progress=False)
        assert result.history[-1].epoch == 2, step


def test_a_real_sigkill_mid_commit_leaves_the_old_version_and_the_next_run_cleans_up(tmp_path: Path,
                                                                                     r20_onnx: Path) -> None:
    from resnet_deploy.export import load_onnx_model
    from resnet_deploy.precision import convert_fp16

    source = tmp_path / "r20.onnx"
    shutil.copy(r20_onnx, source)
    target = tmp_path / "out.onnx"
    convert_fp16(source, target)
    old = sha256_file(target)
    script = ("import os, signal, sys\n"
              "from resnet_deploy import atomic\n"
              "from resnet_deploy.precision import convert_fp16\n"
              "def hook(step, path):\n"
              "    if step == 'sidecar-committed':\n"
              "        os.kill(os.getpid(), signal.SIGKILL)\n"
              "atomic.set_fault_hook(hook)\n"
              "convert_fp16(sys.argv[1], sys.argv[2], keep_io_types=False)\n")
    killed = subprocess.run([sys.executable, "-c", script, str(source), str(target)], capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers, "the killed writer should have left its temporary artifact"
    assert sha256_file(target) == old and _complete(target)["sha256"] == old  # the previous record, intact
    assert _complete(target)["io_dtype"] == "float32"
    load_onnx_model(target)
    convert_fp16(source, target, keep_io_types=False)  # the next run: replaces it and clears the dead temporary
    assert _complete(target)["io_dtype"] == "float16"
    assert not any(p.exists() for p in leftovers)
    assert os.listdir(tmp_path).count("out.onnx.json") == 1
