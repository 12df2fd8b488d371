"""Tiny ONNX graphs, fake plans and realistic engine-inspector JSON for the TensorRT tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from resnet_deploy.sidecar import new_sidecar, write_sidecar


def conv_model(path: Path, *, fp16: bool = False, batch: int | str = "batch", size: int | str = 8,
               classes: int = 5) -> Path:
    """input [N,3,size,size] -> Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm -> logits."""
    rng = np.random.default_rng(0)
    dtype = np.float16 if fp16 else np.float32
    weights = [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(dtype) * 0.3, "w"),
               numpy_helper.from_array(np.zeros(4, dtype), "b"),
               numpy_helper.from_array(rng.standard_normal((classes, 4)).astype(dtype), "fc_w"),
               numpy_helper.from_array(np.zeros(classes, dtype), "fc_b")]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="/conv1/Conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="/relu/Relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["p"], name="/pool/GlobalAveragePool"),
             helper.make_node("Flatten", ["p"], ["f"], name="/flatten/Flatten"),
             helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], name="/fc/Gemm", transB=1)]
    if fp16:  # FP32 I/O around an FP16 body, as convert_fp16 writes it
        nodes.insert(0, helper.make_node("Cast", ["input"], ["x"], to=TensorProto.FLOAT16, name="cast_in"))
        nodes.append(helper.make_node("Cast", ["y"], ["logits"], to=TensorProto.FLOAT, name="cast_out"))
    else:
        nodes[0].input[0] = "input"
        nodes[-1].output[0] = "logits"
    graph = helper.make_graph(nodes, "tiny",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, size, size])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, classes])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def _tensor(name: str, dims: list[int], text: str, trt11: bool) -> dict[str, Any]:
    if trt11:
        fmt, _, dtype = text.partition("|")
        return {"Name": name, "Location": "Device", "Dimensions": dims, "Format": fmt, "Datatype": dtype}
    return {"Name": name, "Location": "Device", "Dimensions": dims, "Format/Datatype": text}


# (TensorRT 10 "Format/Datatype", TensorRT 11 "Format|Datatype")
FORMATS = {
    "fp32": ("Row major linear FP32 format (kLINEAR)", "Row major linear format (kLINEAR)|Float"),
    "fp16": ("Channel major FP16 format where channel % 8 == 0 (kHWC8)", "Channel major format where channel % 8 == 0 (kHWC8)|Half"),
    "int8": ("Thirty-two wide channel vectorized row major Int8 format (kCHW32)", "Thirty-two wide channel vectorized row major format (kCHW32)|Int8"),
    "bf16": ("Channel major BF16 format where channel % 8 == 0 (kHWC8)", "Channel major format where channel % 8 == 0 (kHWC8)|BFloat16"),
    "fp8": ("Channel major FP8 format where channel % 16 == 0 (kHWC16)", "Channel major format where channel % 16 == 0 (kHWC16)|FP8"),
}
WEIGHTS = {"fp32": "Float", "fp16": "Half", "int8": "Int8", "bf16": "BFloat16", "fp8": "FP8"}
TACTICS = {"fp32": "sm80_xmma_fprop_implicit_gemm_tf32f32_tf32f32_f32_nhwckrsc_nhwc_tilesize128x128x16_stage4",
           "fp16": "sm80_xmma_fprop_implicit_gemm_f16f16_f16f16_f16_nhwckrsc_nhwc_tilesize128x64x64_stage4_warpsize2x2x1_g1_tensor16x8x16",
           "int8": "sm80_xmma_fprop_implicit_gemm_interleaved_i8i8_i8i32_f32_nchw_vect_c_32kcrs_vect_c_32_nchw_vect_c_32_tilesize256x128x64_stage4",
           "bf16": "sm80_xmma_fprop_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc_tilesize128x64x64_stage4",
           "fp8": "sm90_xmma_fprop_implicit_gemm_e4m3e4m3_e4m3f32_f32_nhwckrsc_nhwc_tilesize128x128x64_stage3"}


def conv_layer(name: str, precision: str, *, trt11: bool = False, myelin: bool = False) -> dict[str, Any]:
    text = FORMATS[precision][1 if trt11 else 0]
    layer: dict[str, Any] = {
        "Name": name, "LayerType": "gemm" if myelin else "CaskConvolution",
        "Inputs": [_tensor(f"{name}:in", [32, 64, 56, 56], text, trt11)],
        "Outputs": [_tensor(f"{name}:out", [32, 64, 56, 56], text, trt11)],
        "TacticName": TACTICS[precision], "StreamId": 0,
        "Metadata": "[ONNX Layer: " + name.split(" + ")[0] + "]",
    }
    if not myelin:
        layer.update({"ParameterType": "Convolution", "Kernel": [3, 3], "PaddingMode": "kEXPLICIT_ROUND_DOWN",
                      "PrePadding": [1, 1], "PostPadding": [1, 1], "Stride": [1, 1], "Dilation": [1, 1],
                      "OutMaps": 64, "Groups": 1, "Weights": {"Type": WEIGHTS[precision], "Count": 36864},
                      "Bias": {"Type": "Float", "Count": 64}, "HasBias": 1, "HasReLU": 1, "Activation": "RELU",
                      "TacticValue": "0x11bde0e1d9f2f35d"})
    return layer


def reformat_layer(name: str, src: str, dst: str, *, trt11: bool = False) -> dict[str, Any]:
    return {"Name": name, "LayerType": "Reformat", "ParameterType": "Reformat", "Origin": "REFORMAT",
            "Inputs": [_tensor("input", [32, 3, 224, 224], FORMATS[src][1 if trt11 else 0], trt11)],
            "Outputs": [_tensor(name + ":out", [32, 3, 224, 224], FORMATS[dst][1 if trt11 else 0], trt11)],
            "TacticValue": "0x00000000000003e8", "StreamId": 0, "Metadata": ""}


def engine_json(conv_precisions: list[str], *, trt11: bool = False, myelin: bool = False) -> str:
    """An inspector report of a small ResNet-like engine: an input reformat, then one fused
    Conv(+Add)+ReLU layer per entry of `conv_precisions`, then pooling and the classifier."""
    layers = [reformat_layer("Reformatting CopyNode for Input Tensor 0 to /conv1/Conv + /relu/Relu",
                             "fp32", conv_precisions[0], trt11=trt11)]
    for i, precision in enumerate(conv_precisions):
        name = f"/layer1/layer1.{i}/conv1/Conv + /layer1/layer1.{i}/relu/Relu" if i else "/conv1/Conv + /relu/Relu"
        layers.append(conv_layer(name, precision, trt11=trt11, myelin=myelin))
    layers.append({"Name": "/avgpool/GlobalAveragePool", "LayerType": "CaskPooling",
                   "Inputs": [_tensor("p:in", [32, 512, 7, 7], FORMATS["fp16"][1 if trt11 else 0], trt11)],
                   "Outputs": [_tensor("p:out", [32, 512, 1, 1], FORMATS["fp16"][1 if trt11 else 0], trt11)],
                   "ParameterType": "Pooling", "PoolingType": "AVERAGE", "TacticValue": "0x5faf4fda4eed4b5c",
                   "StreamId": 0, "Metadata": "[ONNX Layer: /avgpool/GlobalAveragePool]"})
    layers.append({"Name": "/fc/Gemm", "LayerType": "CaskGemmMatrixMultiply",
                   "Inputs": [_tensor("f:in", [32, 512], FORMATS["fp32"][1 if trt11 else 0], trt11)],
                   "Outputs": [_tensor("logits", [32, 1000], FORMATS["fp32"][1 if trt11 else 0], trt11)],
                   "ParameterType": "MatrixMultiply", "TacticName": "sm80_xmma_gemm_f32f32_tf32f32_f32_tn_n",
                   "StreamId": 0, "Metadata": "[ONNX Layer: /fc/Gemm]"})
    data: dict[str, Any] = {"Layers": layers}
    if trt11:
        data["I/O Tensors"] = [{"Name": "input", "IOMode": "Input", "DataType": "Float", "Dimensions": [-1, 3, 224, 224],
                                "Location": "Device", "IsShapeInferenceIO": False},
                               {"Name": "logits", "IOMode": "Output", "DataType": "Float", "Dimensions": [-1, 1000],
                                "Location": "Device", "IsShapeInferenceIO": False}]
    else:
        data["Bindings"] = ["input", "logits"]
    return json.dumps(data)


def plan_meta(**overrides: Any) -> dict[str, Any]:
    """A sidecar as build_engine writes it (TensorRT 10.13 on an RTX A6000)."""
    from resnet_deploy.runtime.inspector import parse_engine_information

    meta: dict[str, Any] = {
        "tensorrt_version": "10.13.0.35", "gpu": {"index": 0, "name": "NVIDIA RTX A6000", "compute_capability": "8.6",
                                                   "memory_gib": 47.5},
        "version_compatible": False, "hardware_compatibility": "none", "precision": "fp16",
        "profile": {"input": {"min": [1, 3, 224, 224], "opt": [32, 3, 224, 224], "max": [256, 3, 224, 224]}},
        "io_tensors": [{"name": "input", "mode": "input", "dtype": "float32", "shape": [-1, 3, 224, 224]},
                       {"name": "logits", "mode": "output", "dtype": "float32", "shape": [-1, 1000]}],
        "build_seconds": 41.2, "source_onnx": {"path": "model.fp16.onnx", "sha256": "ab" * 32},
        "precision_check": {"expected": "fp16", "convolutions": 3, "matching": 3, "ok": True, "note": "", "mismatched": []},
        "layers": parse_engine_information(engine_json(["fp16", "fp16", "fp16"])).to_dict(),
        "architecture": "resnet50",
    }
    meta.update(overrides)
    return meta


ENGINE_PROFILE = ([1, 3, 4, 4], [4, 3, 4, 4], [8, 3, 4, 4])


def install_fake_engine(folder: Path, monkeypatch: Any, **fake_options: Any) -> tuple[Path, Any, Any]:
    """A stand-in TensorRT runtime and CUDA (tests/tensorrt/fake_trt.py) patched in, and a fake
    plan for it in `folder`: (plan, cudart, trt)."""
    from resnet_deploy.runtime import cuda as cuda_util
    from tests.tensorrt.fake_trt import FakeCudart, make_fake_runtime_trt

    cudart = FakeCudart()
    trt = make_fake_runtime_trt(cudart, profile=ENGINE_PROFILE, **fake_options)
    monkeypatch.setattr("resnet_deploy.runtime.engine.require_tensorrt", lambda purpose: trt)
    monkeypatch.setattr("resnet_deploy.runtime.trt.require_tensorrt", lambda purpose: trt)
    monkeypatch.setattr(cuda_util, "cudart", lambda: cudart)
    monkeypatch.setattr(cuda_util, "gpu_properties",
                        lambda device=0: cuda_util.GpuProperties(0, "NVIDIA RTX A6000", "8.6", 48 << 30))
    low, opt, high = ENGINE_PROFILE
    plan = fake_plan(folder, profile={"input": {"min": low, "opt": opt, "max": high}})
    return plan, cudart, trt


def fake_plan(folder: Path, name: str = "r50_fp16.plan", **overrides: Any) -> Path:
    """Plan bytes (not a real engine) plus a sidecar written the way build_engine writes it."""
    path = folder / name
    path.write_bytes(b"ftrt" + bytes(range(256)) * 4)
    write_sidecar(path, new_sidecar("plan", path, **plan_meta(**overrides)))
    return path
