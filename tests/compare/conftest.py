"""Models shared by the comparison tests: small exports, their FP16/INT8 variants, and
deliberately damaged copies (exported once per xdist worker)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from resnet_deploy.export import export_onnx


@pytest.fixture(scope="session")
def digits_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A resnet20 trained on digits to ~99% (3 epochs, no augmentation): INT8 and FP16 are
    judged against a model whose logits mean something, as users' models do."""
    from resnet_deploy.train import TrainConfig, train

    out = tmp_path_factory.mktemp("r20_train")
    result = train(TrainConfig(model="resnet20", dataset="digits", out=out, epochs=3, augment=False,
                               warmup_epochs=0.3, val_limit=128, plot=False, seed=0), progress=False)
    return result.best_checkpoint


@pytest.fixture(scope="session")
def digits_onnx(digits_checkpoint: Path) -> Path:
    path = digits_checkpoint.parent / "r20_digits.onnx"
    export_onnx(path, checkpoint=digits_checkpoint, exporter="torchscript")
    return path


@pytest.fixture(scope="session")
def digits_fp16(digits_onnx: Path) -> Path:
    from resnet_deploy.precision import convert_fp16

    return convert_fp16(digits_onnx, digits_onnx.with_name("r20_digits.fp16.onnx")).output


@pytest.fixture(scope="session")
def digits_int8(digits_onnx: Path) -> Path:
    """INT8 for CPU runtimes, made for this CPU (7-bit weights where there is no VNNI)."""
    from resnet_deploy.precision import quantize_int8

    return quantize_int8(digits_onnx, digits_onnx.with_name("r20_digits.int8.onnx"), calib="digits", samples=128,
                         target="cpu").output


@pytest.fixture(scope="session")
def digits_int8_trt(digits_onnx: Path) -> Path:
    """INT8 in TensorRT's Q/DQ layout (made for GPUs)."""
    from resnet_deploy.precision import quantize_int8

    return quantize_int8(digits_onnx, digits_onnx.with_name("r20_digits.int8-trt.onnx"), calib="digits", samples=128,
                         target="tensorrt").output


@pytest.fixture(scope="session")
def digits_fp8(digits_onnx: Path) -> Path:
    """FP8 (E4M3) in TensorRT's Q/DQ layout, calibrated as the INT8 one is."""
    from resnet_deploy.precision.fp8 import quantize_fp8

    return quantize_fp8(digits_onnx, digits_onnx.with_name("r20_digits.fp8.onnx"), calib="digits", samples=128).output


@pytest.fixture(scope="session")
def digits_bf16(digits_onnx: Path) -> Path:
    from resnet_deploy.precision.bf16 import convert_bf16

    return convert_bf16(digits_onnx, digits_onnx.with_name("r20_digits.bf16.onnx")).output


def damage(source: Path, target: Path, kind: str) -> Path:
    """A copy with one thing broken: `weights` multiplies one convolution's weights by 100,
    `scale` one INT8 weight scale by 100 (the issue's example: top-1 fell from 100% to 17%)."""
    model = onnx.load(str(source))
    inits = {t.name: t for t in model.graph.initializer}
    if kind == "scale":
        node = next(n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits
                    and len(inits[n.input[0]].dims) == 4)
        name = node.input[1]
    else:
        convs = [n for n in model.graph.node if n.op_type == "Conv" and n.input[1] in inits]
        name = convs[len(convs) // 2].input[1]
    array = numpy_helper.to_array(inits[name])
    inits[name].CopyFrom(numpy_helper.from_array((array * 100).astype(array.dtype), name))
    onnx.save(model, str(target))
    return target


@pytest.fixture(scope="session")
def damaged_fp16(digits_fp16: Path) -> Path:
    return damage(digits_fp16, digits_fp16.with_name("damaged.fp16.onnx"), "weights")


@pytest.fixture(scope="session")
def damaged_int8(digits_int8_trt: Path) -> Path:
    return damage(digits_int8_trt, digits_int8_trt.with_name("damaged.int8.onnx"), "scale")


@pytest.fixture(scope="session")
def damaged_fp8(digits_fp8: Path) -> Path:
    return damage(digits_fp8, digits_fp8.with_name("damaged.fp8.onnx"), "scale")


@pytest.fixture(scope="session")
def damaged_bf16(digits_bf16: Path) -> Path:
    return damage(digits_bf16, digits_bf16.with_name("damaged.bf16.onnx"), "weights")


def logits_of(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]
