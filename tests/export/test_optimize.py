"""fold_batchnorm on hand-built graphs: the folded Conv computes what Conv -> BN did, and a
Conv whose output is also used elsewhere is left alone."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from resnet_deploy.export.optimize import fold_batchnorm


def _conv_bn(extra_consumer: bool, with_bias: bool) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.uniform(0.5, 2, 4).astype(np.float32), "gamma"),
             numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "beta"),
             numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "mean"),
             numpy_helper.from_array(rng.uniform(0.1, 3, 4).astype(np.float32), "var")]
    conv_inputs = ["x", "w"]
    if with_bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b"))
        conv_inputs.append("b")
    nodes = [helper.make_node("Conv", conv_inputs, ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["y"], epsilon=1e-3, name="bn")]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4, 8, 8])]
    if extra_consumer:
        nodes.append(helper.make_node("Relu", ["c"], ["r"]))
        outputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, [2, 4, 8, 8]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 8])],
                              outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x})[0]  # type: ignore[no-any-return]


def test_fold_matches_conv_then_bn() -> None:
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    for with_bias in (False, True):
        model = _conv_bn(extra_consumer=False, with_bias=with_bias)
        before = _run(model, x)
        assert fold_batchnorm(model) == 1
        assert [n.op_type for n in model.graph.node] == ["Conv"]
        onnx.checker.check_model(model, full_check=True)
        np.testing.assert_allclose(_run(model, x), before, rtol=1e-5, atol=1e-5)


def test_shared_conv_output_is_not_folded() -> None:
    model = _conv_bn(extra_consumer=True, with_bias=False)
    assert fold_batchnorm(model) == 0
    assert [n.op_type for n in model.graph.node] == ["Conv", "BatchNormalization", "Relu"]
