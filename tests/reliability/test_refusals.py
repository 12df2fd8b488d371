"""Bad input, as a careless user gives it, to every command: each is refused with the right
exit code and ONE stderr line without a traceback, and the folder is exactly as it was (no
file created, none changed, no folder left behind).

`{w}` in a case is the test's own copy of the artifacts (see conftest.artifacts)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability.conftest import invoke, snapshot


def _truncate(name: str) -> Callable[[Path], None]:
    def make(work: Path) -> None:
        data = (work / name).read_bytes()
        (work / name).write_bytes(data[: len(data) // 2])
    return make


def _write(name: str, content: str | bytes) -> Callable[[Path], None]:
    def make(work: Path) -> None:
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return make


def _edit_sidecar(name: str, **changes: object) -> Callable[[Path], None]:
    def make(work: Path) -> None:
        sidecar = work / f"{name}.json"
        meta = json.loads(sidecar.read_text())
        meta.update(changes)
        sidecar.write_text(json.dumps(meta))
    return make


def _mkdir(name: str) -> Callable[[Path], None]:
    return lambda work: (work / name).mkdir(parents=True)


def _link(name: str, target: str) -> Callable[[Path], None]:
    return lambda work: (work / name).symlink_to(work / target)


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(200)
BAD_ARGUMENT = {"name": "resnet20", "kwargs": {"num_classes": "ten", "in_channels": 1}}

# (id, arguments, expected exit code, a fragment of the error line, preparation)
CASES: list[tuple[str, list[str], int, str, Callable[[Path], None] | None]] = [
    # export
    ("export-over-its-checkpoint", ["export", "--checkpoint", "{w}/ckpt.safetensors", "-o", "{w}/ckpt.safetensors"],
     2, "overwrite an input", None),
    ("export-over-a-symlink-to-its-checkpoint", ["export", "--checkpoint", "{w}/ckpt.safetensors", "-o", "{w}/link.x"],
     2, "overwrite an input", _link("link.x", "ckpt.safetensors")),
    ("export-over-its-checkpoint-sidecar",
     ["export", "--checkpoint", "{w}/ckpt.safetensors", "-o", "{w}/ckpt.safetensors.json"], 2, "input", None),
    ("export-into-missing-folder", ["export", "--model", "resnet20", "-o", "{w}/nodir/x.onnx"], 2, "does not exist", None),
    ("export-onto-a-folder", ["export", "--model", "resnet20", "-o", "{w}/adir"], 2, "folder", _mkdir("adir")),
    ("export-depth-and-model-disagree", ["export", "--depth", "50", "--model", "resnet20", "-o", "{w}/x.onnx"], 2,
     "--depth", None),
    ("export-unknown-model", ["export", "--model", "resnet9999", "-o", "{w}/x.onnx"], 2, "unknown model", None),
    ("export-huge-input", ["export", "--model", "resnet50", "--input-size", "100000", "-o", "{w}/x.onnx"], 2,
     "GiB of memory", None),
    ("export-truncated-checkpoint", ["export", "--checkpoint", "{w}/ckpt.safetensors", "-o", "{w}/x.onnx"], 2,
     "sha256", _truncate("ckpt.safetensors")),
    ("export-jpeg-as-checkpoint", ["export", "--checkpoint", "{w}/photo.safetensors", "-o", "{w}/x.onnx"], 2,
     "photo.safetensors", _write("photo.safetensors", JPEG)),
    ("export-bad-opset", ["export", "--model", "resnet20", "--opset", "3", "-o", "{w}/x.onnx"], 2, "opset", None),
    ("export-garbage-checkpoint-sidecar", ["export", "--checkpoint", "{w}/ckpt.safetensors", "-o", "{w}/x.onnx"], 2,
     "architecture", _edit_sidecar("ckpt.safetensors", architecture="garbage")),
    # A constructor argument of the wrong type in the sidecar: refused where the checkpoint is read.
    ("export-checkpoint-argument-of-wrong-type", ["export", "--checkpoint", "{w}/ckpt.safetensors", "-o", "{w}/x.onnx"],
     2, "num_classes", _edit_sidecar("ckpt.safetensors", architecture=BAD_ARGUMENT)),
    ("eval-checkpoint-argument-of-wrong-type", ["eval", "{w}/ckpt.safetensors"], 2, "num_classes",
     _edit_sidecar("ckpt.safetensors", architecture=BAD_ARGUMENT)),
    ("bench-checkpoint-argument-of-wrong-type", ["bench", "--checkpoint", "{w}/ckpt.safetensors", "--backend", "torch"],
     2, "num_classes", _edit_sidecar("ckpt.safetensors", architecture=BAD_ARGUMENT)),
    # validate
    ("validate-missing", ["validate", "{w}/none.onnx"], 2, "does not exist", None),
    ("validate-truncated", ["validate", "{w}/r20.onnx"], 2, "sha256", _truncate("r20.onnx")),
    ("validate-jpeg", ["validate", "{w}/photo.onnx"], 2, "not a valid ONNX model", _write("photo.onnx", JPEG)),
    ("validate-zero-batch", ["validate", "{w}/r20.onnx", "--batch-sizes", "0"], 2, "batch", None),
    ("validate-random-and-dataset", ["validate", "{w}/r20.onnx", "--random", "2", "--dataset", "digits"], 2, "either",
     None),
    ("validate-nan-tolerance", ["validate", "{w}/r20.onnx", "--max-error", "nan"], 2, "--max-error", None),
    ("validate-wrong-backend", ["validate", "{w}/r20.onnx", "--backend", "torch"], 2, "does not run", None),
    ("validate-other-architecture", ["validate", "{w}/r20.onnx", "--reference", "{w}/ckpt.safetensors",
                                     "--random", "2"], 2, "differ", None),
    ("validate-plan-without-tensorrt", ["validate", "{w}/r20.plan", "--reference", "{w}/r20.onnx"], 3, "TensorRT",
     None),
    ("validate-unknown-reference", ["validate", "{w}/r20.onnx", "--reference", "resnet9999"], 2, "unknown model", None),
    # quantize
    ("quantize-int8-without-data", ["quantize", "{w}/r20.onnx", "--precision", "int8"], 2, "--calib-data", None),
    ("quantize-over-its-input", ["quantize", "{w}/r20.onnx", "--precision", "fp16", "-o", "{w}/r20.onnx"], 2,
     "overwrite an input", None),
    ("quantize-over-its-input-sidecar", ["quantize", "{w}/r20.onnx", "--precision", "fp16", "-o", "{w}/r20.onnx.json"],
     2, "input", None),
    ("quantize-an-fp16-model", ["quantize", "{w}/r20.fp16.onnx", "--precision", "fp16", "-o", "{w}/x.onnx"], 2,
     "already an FP16", None),
    ("quantize-bad-npy", ["quantize", "{w}/r20.onnx", "--precision", "int8", "--calib-data", "{w}/bad.npy",
                          "-o", "{w}/x.onnx"], 2, "bad.npy", _write("bad.npy", b"not numpy")),
    ("quantize-zero-samples", ["quantize", "{w}/r20.onnx", "--precision", "int8", "--calib-data", "{w}/calib.npy",
                               "--calib-samples", "0"], 2, "--calib-samples", None),
    ("quantize-into-missing-folder", ["quantize", "{w}/r20.onnx", "--precision", "fp16", "-o", "{w}/no/x.onnx"], 2,
     "does not exist", None),
    ("quantize-unknown-method", ["quantize", "{w}/r20.onnx", "--precision", "int8", "--calib-data", "{w}/calib.npy",
                                 "--method", "magic", "-o", "{w}/x.onnx"], 2, "magic", None),
    # accuracy
    ("accuracy-no-reference", ["accuracy", "{w}/r20.fp16.onnx", "--dataset", "digits"], 2, "--reference", None),
    ("accuracy-unknown-dataset", ["accuracy", "{w}/r20.fp16.onnx", "--dataset", "nope", "--reference", "{w}/r20.onnx"],
     2, "nope", None),
    ("accuracy-negative-drop", ["accuracy", "{w}/r20.fp16.onnx", "--dataset", "digits", "--reference", "{w}/r20.onnx",
                                "--max-drop", "-1"], 2, "--max-drop", None),
    ("accuracy-missing-reference", ["accuracy", "{w}/r20.fp16.onnx", "--dataset", "digits",
                                    "--reference", "{w}/none.onnx"], 2, "does not exist", None),
    ("accuracy-npz-without-labels", ["accuracy", "{w}/r20.fp16.onnx", "--dataset", "{w}/x.npz",
                                     "--reference", "{w}/r20.onnx"], 2, "labels", None),
    # bench
    ("bench-json-over-the-model", ["bench", "--onnx", "{w}/r20.onnx", "--save-json", "{w}/r20.onnx"], 2,
     "overwrite an input", None),
    ("bench-json-into-missing-folder", ["bench", "--onnx", "{w}/r20.onnx", "--save-json", "{w}/no/x.json"], 2,
     "does not exist", None),
    ("bench-out-is-a-file", ["bench", "--onnx", "{w}/r20.onnx", "--out", "{w}/r20.onnx.json"], 2, "not a folder", None),
    ("bench-negative-warmup", ["bench", "--onnx", "{w}/r20.onnx", "--warmup=-5s"], 2, "--warmup", None),
    ("bench-zero-batch", ["bench", "--onnx", "{w}/r20.onnx", "--batch-sizes", "0"], 2, "batch", None),
    ("bench-tensorrt-without-engine", ["bench", "--onnx", "{w}/r20.onnx", "--backend", "tensorrt"], 2, "--engine", None),
    ("bench-engine-without-tensorrt", ["bench", "--engine", "{w}/r20.plan"], 3, "TensorRT", None),
    ("bench-missing-model", ["bench", "--onnx", "{w}/none.onnx"], 2, "does not exist", None),
    ("bench-nan-duration", ["bench", "--onnx", "{w}/r20.onnx", "--duration", "nan"], 2, "--duration", None),
    # bench-compare
    ("bench-compare-garbage", ["bench-compare", "{w}/bench.json", "{w}/x.json"], 2, "x.json", _write("x.json", "{garbage")),
    ("bench-compare-empty-backend", ["bench-compare", "{w}/bench.json", "{w}/x.json"], 2, "x.json",
     _write("x.json", '{"kind": "bench", "backends": [{}]}')),
    ("bench-compare-backends-number", ["bench-compare", "{w}/bench.json", "{w}/x.json"], 2, "x.json",
     _write("x.json", '{"kind": "bench", "backends": 5}')),
    ("bench-compare-truncated", ["bench-compare", "{w}/bench.json", "{w}/bench.json"], 2, "bench.json",
     _truncate("bench.json")),
    # train
    ("train-out-is-a-file", ["train", "--out", "{w}/r20.onnx", "--epochs", "1"], 2, "not a folder", None),
    ("train-nan-lr", ["train", "--out", "{w}/run", "--lr", "nan"], 2, "--lr", None),
    ("train-zero-limit", ["train", "--out", "{w}/run", "--train-limit", "0"], 2, "--train-limit", None),
    ("train-zero-epochs", ["train", "--out", "{w}/run", "--epochs", "0"], 2, "--epochs", None),
    ("train-empty-mnist", ["train", "--out", "{w}/run", "--dataset", "mnist", "--data-dir", "{w}/mnist"], 2, "mnist",
     _mkdir("mnist")),
    ("train-missing-init", ["train", "--out", "{w}/run", "--init-from", "{w}/none.pth"], 2, "does not exist", None),
    ("train-out-under-a-file", ["train", "--out", "{w}/r20.onnx/run"], 2, "r20.onnx", None),
    # eval
    ("eval-png-over-the-checkpoint", ["eval", "{w}/ckpt.safetensors", "--confusion-png", "{w}/ckpt.safetensors"], 2,
     "overwrite an input", None),
    ("eval-zero-batch", ["eval", "{w}/ckpt.safetensors", "--batch-size", "0"], 2, "--batch-size", None),
    ("eval-negative-limit", ["eval", "{w}/ckpt.safetensors", "--limit", "-5"], 2, "--limit", None),
    ("eval-missing", ["eval", "{w}/none.safetensors"], 2, "does not exist", None),
    ("eval-dataset-needs-folder", ["eval", "{w}/ckpt.safetensors", "--dataset", "cifar10"], 2, "cifar", None),
    # inspect
    ("inspect-truncated", ["inspect", "{w}/r20.onnx"], 2, "sha256", _truncate("r20.onnx")),
    ("inspect-plan-garbage-layers", ["inspect", "{w}/r20.plan"], 2, "layers", _edit_sidecar("r20.plan", layers="garbage")),
    ("inspect-missing-plan", ["inspect", "{w}/none.plan"], 2, "does not exist", None),
    ("inspect-jpeg", ["inspect", "{w}/photo.onnx"], 2, "not a valid ONNX model", _write("photo.onnx", JPEG)),
    # build
    ("build-over-its-input", ["build", "{w}/r20.onnx", "-o", "{w}/r20.onnx"], 2, "overwrite an input", None),
    ("build-without-tensorrt", ["build", "{w}/r20.onnx", "-o", "{w}/x.plan"], 3, "TensorRT", None),
    # mlperf (refused before LoadGen starts)
    ("mlperf-unknown-scenario", ["mlperf", "{w}/r20.onnx", "--scenario", "Bursty", "-o", "{w}/out"], 2,
     "unknown scenario", None),
    ("mlperf-accuracy-needs-labels", ["mlperf", "{w}/r20.onnx", "--mode", "accuracy", "-o", "{w}/out"], 2,
     "labelled images", None),
    ("mlperf-bad-server", ["mlperf", "r20", "--server", "nowhere", "-o", "{w}/out"], 2, "HOST:PORT", None),
    # profile
    ("profile-fused-backend", ["profile", "{w}/r20.onnx", "--backend", "torch-compile"], 2, "cannot be profiled", None),
    ("profile-engine-node-backend", ["profile", "{w}/r20.onnx", "--backend", "ort-trt"], 2, "one TensorRT engine", None),
    ("profile-csv-over-its-model", ["profile", "{w}/r20.onnx", "--csv", "{w}/r20.onnx"], 2, "overwrite an input", None),
    ("profile-plot-into-missing-folder", ["profile", "{w}/r20.onnx", "--plot", "{w}/nodir/x.png"], 2, "does not exist",
     None),
    ("profile-missing-model", ["profile", "{w}/missing.onnx"], 2, "does not exist", None),
    # pipeline, models, experiment
    ("pipeline-unknown-model", ["pipeline", "--model", "resnet9999", "--out", "{w}/run"], 2, "unknown model", None),
    ("pipeline-out-is-a-file", ["pipeline", "--out", "{w}/r20.onnx"], 2, "not a folder", None),
    ("pipeline-mnist-without-folder", ["pipeline", "--dataset", "mnist", "--out", "{w}/run"], 2, "--data-dir", None),
    ("models-bad-family", ["models", "--family", "bogus"], 2, "bogus", None),
    ("experiment-bad-depths", ["experiment", "degradation", "--depths", "x", "--out", "{w}/run"], 2, "depths", None),
]


def _npz_without_labels(work: Path) -> None:
    import numpy as np

    np.savez(work / "x.npz", x=np.zeros((2, 3, 32, 32), dtype=np.float32))


PREPARE_EXTRA = {"accuracy-npz-without-labels": _npz_without_labels}


@pytest.mark.parametrize(("args", "code", "fragment", "prepare"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_in_one_line_and_nothing_changes(args: list[str], code: int, fragment: str,
                                                 prepare: Callable[[Path], None] | None, work: Path,
                                                 request: pytest.FixtureRequest) -> None:
    case = request.node.callspec.id
    for make in (prepare, PREPARE_EXTRA.get(case)):
        if make is not None:
            make(work)
    before = snapshot(work)
    outcome = invoke([a.replace("{w}", str(work)) for a in args], work)
    assert outcome.code == code, f"exit {outcome.code}, expected {code}\n{outcome.stdout}\n{outcome.stderr}"
    line = outcome.one_line_error()
    assert fragment in line, line
    assert snapshot(work) == before, "the command created or changed files"


def test_there_are_enough_cases_across_every_command() -> None:
    from resnet_deploy.cli import COMMANDS

    commands = {args[0] for _, args, *_ in CASES}
    assert len(CASES) >= 60
    missing = set(COMMANDS) - commands - {"info", "serve", "triton-repo"}
    assert not missing, f"no refusal case for {sorted(missing)}"
