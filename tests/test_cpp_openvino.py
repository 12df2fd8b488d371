"""examples/cpp/resnet_infer_openvino: a C++ program that embeds the toolkit's ONNX models with
OpenVINO's C++ API, built here with CMake against the openvino wheel of this interpreter.

What a C++ service relies on: its logits equal the Python OpenVINO runner's on the same inputs
(FP32, FP16 and the INT8 CPU-layout model), from any number of threads; an image is
preprocessed exactly as Python preprocesses it; the top-5 it prints is the model's; a wrong
file is refused with one line and exit code 2. Skips with the reason without CMake, a compiler
or OpenVINO."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_deploy.data.transforms import imagenet_eval, normalize
from resnet_deploy.input_spec import InputSpec
from tests.cpp_build import GROUP, build_examples

pytestmark = pytest.mark.xdist_group(GROUP)
pytest.importorskip("openvino", reason="OpenVINO is not installed (pip install -e '.[openvino]')")


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import openvino

    if not (Path(openvino.__file__).parent / "cmake" / "OpenVINOConfig.cmake").is_file():
        pytest.skip(f"this openvino wheel ({openvino.__version__}) ships no CMake config (openvino/cmake)")
    build = build_examples(tmp_path_factory)
    program = build / "resnet_infer_openvino"
    if not program.is_file():
        log = (build / "configure.log").read_text()
        pytest.fail(f"openvino imports but CMake did not build resnet_infer_openvino:\n{log}")
    return program


@pytest.fixture(scope="module")
def models(r20_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The untrained resnet20 (3x32x32, classes "0".."9") as FP32, FP16 and INT8 (CPU layout)."""
    from resnet_deploy.precision import convert_fp16, quantize_int8

    folder = tmp_path_factory.mktemp("cpp_models")
    convert_fp16(r20_onnx, folder / "r20.fp16.onnx")
    quantize_int8(r20_onnx, folder / "r20.int8.onnx", calib="random", samples=16, target="cpu")
    return {"fp32": r20_onnx, "fp16": folder / "r20.fp16.onnx", "int8": folder / "r20.int8.onnx"}


def run(binary: Path, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, check=False, timeout=120)


def python_logits(model: Path, x: np.ndarray, batch: int) -> np.ndarray:
    """The Python OpenVINO runner on the same batches the C++ program runs."""
    from resnet_deploy.backends.openvino_runner import OpenVinoRunner

    with OpenVinoRunner(model) as runner:
        return np.concatenate([runner.infer({"input": x[i:i + batch]})["logits"] for i in range(0, len(x), batch)])


def batch_npy(folder: Path, count: int = 10) -> tuple[Path, np.ndarray]:
    x = np.random.default_rng(7).standard_normal((count, 3, 32, 32)).astype(np.float32)
    np.save(folder / "x.npy", x)
    return folder / "x.npy", x


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_logits_equal_the_python_runner(binary: Path, models: dict[str, Path], tmp_path: Path, precision: str) -> None:
    npy, x = batch_npy(tmp_path)
    result = run(binary, models[precision], "--npy", npy, "--out", tmp_path / "logits.npy", "--batch", 4, "--threads", 2)
    assert result.returncode == 0, result.stderr
    ours = np.load(tmp_path / "logits.npy")
    reference = python_logits(models[precision], x, 4)
    assert ours.shape == reference.shape == (10, 10)
    # Same runtime, same settings, same inputs: equal up to float rounding (seen: bit for bit).
    scale = float(np.sqrt(np.mean(reference.astype(np.float64) ** 2)))
    assert float(np.abs(ours - reference).max()) <= 1e-5 * scale
    assert "model " in result.stdout and "resnet20" in result.stdout and "timing:" in result.stdout


def test_threads_give_the_same_answers(binary: Path, models: dict[str, Path], tmp_path: Path) -> None:
    npy, _ = batch_npy(tmp_path, 12)
    outputs = []
    for threads in (1, 3):
        out = tmp_path / f"logits{threads}.npy"
        result = run(binary, models["int8"], "--npy", npy, "--out", out, "--batch", 2, "--threads", threads, "--quiet")
        assert result.returncode == 0, result.stderr
        assert f"on {threads} thread(s)" in result.stdout and "image 0" not in result.stdout
        outputs.append(np.load(out))
    np.testing.assert_array_equal(outputs[0], outputs[1])


def _write_images(folder: Path) -> list[Path]:
    """PPM and PGM files that shrink and enlarge, with odd sizes, in both orientations."""
    rng = np.random.default_rng(3)
    paths = []
    for name, shape in (("wide.ppm", (40, 50, 3)), ("tall.pgm", (61, 45)), ("small.ppm", (13, 21, 3)),
                        ("square.pgm", (37, 37)), ("big.ppm", (97, 130, 3))):
        path = folder / name
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def _python_preprocess(path: Path, spec: InputSpec) -> np.ndarray:
    """What the image-folder evaluation path does to one file (resnet_deploy/data/imagefolder.py)."""
    with Image.open(path) as opened:
        image = opened.convert("RGB")
    x = imagenet_eval(image, spec.height, round(spec.height * 256 / 224))
    return normalize(x, spec.mean, spec.std).numpy()


def test_images_are_preprocessed_as_python_does_and_top5_is_the_models(binary: Path, models: dict[str, Path],
                                                                       tmp_path: Path) -> None:
    from resnet_deploy.export import read_onnx_metadata

    spec = InputSpec.from_dict(read_onnx_metadata(models["fp32"])["input_spec"])
    images = _write_images(tmp_path)
    result = run(binary, models["fp32"], *images, "--save-input", tmp_path / "pre.npy", "--out", tmp_path / "logits.npy")
    assert result.returncode == 0, result.stderr
    ours = np.load(tmp_path / "pre.npy")
    expected = np.stack([_python_preprocess(p, spec) for p in images])
    assert float(np.abs(ours - expected).max()) <= 1e-6  # PIL's fixed-point resize, reproduced (seen: bit for bit)
    logits = python_logits(models["fp32"], expected, len(images))
    probabilities = torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy()
    lines = [line for line in result.stdout.splitlines() if line.startswith("image ")]
    assert len(lines) == len(images)
    for index, (line, path) in enumerate(zip(lines, images, strict=True)):
        head, ranked = line.split(": ", 1)
        assert head == f"image {index} ({path})"
        entries = [entry.rsplit(" ", 1) for entry in ranked.split(" | ")]
        top5 = np.argsort(-logits[index], kind="stable")[:5]
        assert [label for label, _ in entries] == [spec.class_names[c] for c in top5]
        assert [float(p) for _, p in entries] == pytest.approx(probabilities[index][top5], abs=6e-5)


def _foreign(model: Path, folder: Path) -> Path:
    """The same network without resnet-deploy's metadata."""
    import onnx

    proto = onnx.load(model)
    del proto.metadata_props[:]
    onnx.save(proto, folder / "foreign.onnx")
    return folder / "foreign.onnx"


@pytest.mark.parametrize(("case", "message"), [
    ("text", "does not start like an ONNX protobuf"),
    ("truncated", "is not an ONNX model OpenVINO can read"),
    ("not_onnx", "is not an ONNX model (.onnx)"),
    ("missing", "cannot open model"),
    ("no_metadata", "carries no resnet-deploy input spec"),
    ("wrong_shape", "the model takes (N, 3, 32, 32)"),
    ("not_npy", "is not a .npy file"),
    ("overwrite", "would overwrite an input"),
    ("no_folder", "the folder of output"),
    ("not_image", "is not a binary PPM/PGM image"),
])
def test_refuses_a_wrong_file_with_one_line(binary: Path, models: dict[str, Path], tmp_path: Path, case: str,
                                            message: str) -> None:
    model, npy = models["fp32"], batch_npy(tmp_path)[0]
    image = _write_images(tmp_path)[0]
    args: list[object]
    if case == "text":
        (tmp_path / "m.onnx").write_text("this is not a model\n")
        args = [tmp_path / "m.onnx", "--npy", npy]
    elif case == "truncated":
        (tmp_path / "m.onnx").write_bytes(model.read_bytes()[: model.stat().st_size // 3])
        args = [tmp_path / "m.onnx", "--npy", npy]
    elif case == "not_onnx":
        args = [npy, "--npy", npy]
    elif case == "missing":
        args = [tmp_path / "nowhere.onnx", "--npy", npy]
    elif case == "no_metadata":
        args = [_foreign(model, tmp_path), image]
    elif case == "wrong_shape":
        np.save(tmp_path / "bad.npy", np.zeros((2, 1, 32, 32), np.float32))
        args = [model, "--npy", tmp_path / "bad.npy"]
    elif case == "not_npy":
        args = [model, "--npy", image]
    elif case == "overwrite":
        (tmp_path / "link.npy").symlink_to(npy)
        args = [model, "--npy", npy, "--out", tmp_path / "link.npy"]
    elif case == "no_folder":
        args = [model, "--npy", npy, "--out", tmp_path / "nowhere" / "logits.npy"]
    else:
        args = [model, npy]
    before = npy.read_bytes()
    result = run(binary, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr
    assert npy.read_bytes() == before and not (tmp_path / "logits.npy").exists()


def test_a_model_without_metadata_runs_on_tensors(binary: Path, models: dict[str, Path], tmp_path: Path) -> None:
    """Metadata is needed to preprocess images, not to run a normalized batch."""
    npy, x = batch_npy(tmp_path, 4)
    result = run(binary, _foreign(models["fp32"], tmp_path), "--npy", npy, "--out", tmp_path / "logits.npy")
    assert result.returncode == 0, result.stderr
    assert "not made by resnet-deploy" in result.stdout
    np.testing.assert_allclose(np.load(tmp_path / "logits.npy"), python_logits(models["fp32"], x, 8), rtol=0, atol=1e-5)


@pytest.mark.parametrize(("args", "message"), [
    ((), "usage: resnet_infer_openvino MODEL.onnx"),
    (("{model}", "--random", "2", "--hint", "fast"), "--hint must be latency or throughput"),
    (("{model}", "--random", "2", "--threads", "0"), "--threads needs a positive integer"),
    (("{model}", "--random", "2", "--npy", "{model}"), "give images, or --npy BATCH.npy, or --random N (exactly one)"),
])
def test_bad_usage_is_one_line_and_exit_2(binary: Path, models: dict[str, Path], args: tuple[str, ...], message: str) -> None:
    result = run(binary, *(a.format(model=models["fp32"]) for a in args))
    assert result.returncode == 2 and result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
