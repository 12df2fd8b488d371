"""The TensorRT profiler's control flow on the project's stand-in TensorRT (tests/tensorrt/
fake_trt.py): end-to-end timed first with no profiler, then an IProfiler attached and one
report per iteration, layers named by the engine inspector's JSON and mapped to the plan's
source ONNX model. The real API use is checked by mypy against tensorrt-stubs; the real run
is a stage of scripts/gpu_check.sh."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest

from resnet_deploy.profile import ProfileSettings, profile_model
from tests.tensorrt.helpers import conv_model, engine_json, install_fake_engine

# What the stand-in engine reports per iteration (ms): an input reformat, two fused convs, pooling, the classifier.
LAYER_MS = {"Reformatting CopyNode for Input Tensor 0 to /conv1/Conv + /relu/Relu": 0.01,
            "/conv1/Conv + /relu/Relu": 0.20, "/layer1/layer1.1/conv1/Conv + /layer1/layer1.1/relu/Relu": 0.30,
            "/avgpool/GlobalAveragePool": 0.02, "/fc/Gemm": 0.05}


def _with_profiler(trt: Any, events: list[str]) -> None:
    """Give the stand-in the profiling API: IProfiler, report_to_profiler, the engine inspector."""

    class IProfiler:
        def __init__(self) -> None:
            events.append("profiler created")

    trt.IProfiler = IProfiler
    trt.LayerInformationFormat = types.SimpleNamespace(JSON="JSON")
    runtime_class = trt.Runtime

    class Runtime(runtime_class):  # type: ignore[misc,valid-type]
        def deserialize_cuda_engine(self, data: bytes) -> Any:
            engine = super().deserialize_cuda_engine(data)
            make_context = engine.create_execution_context

            def create_execution_context() -> Any:
                context = make_context()
                context.profiler = None
                context.enqueue_emits_profile = True
                execute = context.execute_async_v3

                def execute_async_v3(stream: int) -> bool:
                    events.append("execute with profiler" if context.profiler else "execute")
                    return bool(execute(stream))

                def report_to_profiler() -> bool:
                    assert context.enqueue_emits_profile is False  # one report per iteration, when asked
                    for name, ms in LAYER_MS.items():
                        context.profiler.report_layer_time(name, ms)
                    return True

                context.execute_async_v3 = execute_async_v3
                context.report_to_profiler = report_to_profiler
                return context

            engine.create_execution_context = create_execution_context
            engine.create_engine_inspector = lambda: types.SimpleNamespace(
                execution_context=None, get_engine_information=lambda fmt: engine_json(["int8", "fp16"]))
            return engine

    trt.Runtime = Runtime


def test_tensorrt_profile_runs_the_profiler_apart_from_the_timed_run(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    plan, _, trt = install_fake_engine(tmp_path, monkeypatch)
    conv_model(tmp_path / "model.fp16.onnx", size=4)  # the plan's recorded source model
    events: list[str] = []
    _with_profiler(trt, events)
    monkeypatch.setattr("resnet_deploy.backends.registry.tensorrt_module", lambda: trt)
    result = profile_model(plan, settings=ProfileSettings(iterations=4, warmup=2))
    assert result.backend == "tensorrt" and result.model_precision == "fp16" and result.end_to_end_ms > 0
    timed = events.index("profiler created")
    assert "execute with profiler" not in events[:timed]  # the end-to-end run had no profiler attached
    assert events[timed + 1:].count("execute with profiler") == 4
    layers = {layer.name: layer for layer in result.layers}
    assert list(layers) == list(LAYER_MS)
    assert layers["Reformatting CopyNode for Input Tensor 0 to /conv1/Conv + /relu/Relu"].onnx_nodes == ()
    conv = layers["/conv1/Conv + /relu/Relu"]
    assert conv.onnx_nodes == ("/conv1/Conv", "/relu/Relu") and conv.op_type == "Conv" and conv.precision == "int8"
    assert conv.times_ms == (0.2,) * 4
    assert layers["/layer1/layer1.1/conv1/Conv + /layer1/layer1.1/relu/Relu"].precision == "fp16"
    assert result.layer_sum_ms == pytest.approx(sum(LAYER_MS.values()))
    assert any("before the profiler was attached" in note for note in result.notes)


def test_tensorrt_profile_needs_tensorrt() -> None:
    from resnet_deploy.errors import MissingDependencyError
    from resnet_deploy.optional import tensorrt_module

    if tensorrt_module() is not None:
        pytest.skip("TensorRT is installed here")
    with pytest.raises(MissingDependencyError, match="TensorRT"):
        profile_model("model.plan")
