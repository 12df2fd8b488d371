"""The backend registry answers every backend question, and nothing else asks by name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import resnet_deploy
from resnet_deploy.backends.registry import (
    BACKENDS,
    RunOptions,
    backend_for_provider,
    backend_names,
    default_backend,
    get_backend,
    open_runner,
)
from resnet_deploy.bench.plan import Source, plan_specs
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.serving.model_config import TRITON_BACKENDS

PACKAGE = Path(resnet_deploy.__file__).parent
# A backend name compared or prefix-tested outside the table is a second registry in disguise.
# ("tensorrt" is also an INT8 layout and an onnxruntime provider, so only the other names are listed.)
_NAMES = "|".join(re.escape(name) for name in BACKENDS if name != "tensorrt")
NAME_TEST = re.compile(rf"""["']ort-|startswith\(["']ort|[!=]= ["']({_NAMES})["']""")


def test_no_module_outside_the_registry_compares_backend_names() -> None:
    offenders = [f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
                 for path in sorted(PACKAGE.rglob("*.py")) if path.name != "registry.py"
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if NAME_TEST.search(line)]
    assert not offenders, "\n".join(offenders)


def test_each_kind_has_one_default_backend_that_runs_it() -> None:
    for kind in ("onnx", "plan", "checkpoint"):
        assert [name for name, info in BACKENDS.items() if info.artifact == kind and info.default] == \
            [default_backend(kind)]
        assert get_backend(default_backend(kind)).artifact == kind


def test_rows_answer_the_questions_others_used_to_ask_by_name() -> None:
    assert {name: info.provider for name, info in BACKENDS.items() if info.provider} == \
        {"ort-cpu": "cpu", "ort-cuda": "cuda", "ort-trt": "tensorrt"}
    assert backend_for_provider("tensorrt") is BACKENDS["ort-trt"] and backend_for_provider("openvino") is None
    assert {name for name, info in BACKENDS.items() if info.outer_graph_refusal} == {"ort-cuda", "ort-trt"}
    assert {name for name, info in BACKENDS.items() if info.event_api == "torch"} == set(backend_names("checkpoint"))
    assert set(backend_names(served=True)) == set(backend_names("onnx")) | set(backend_names("plan"))
    assert all(info.triton_backend in TRITON_BACKENDS for info in BACKENDS.values() if info.triton_backend)
    openvino = get_backend("openvino")
    assert openvino.runs("int8", "cpu") and not openvino.runs("int8", "tensorrt") and openvino.runs("fp16")
    assert not get_backend("torch").runs("int8") and "bf16" in get_backend("torch").run_precisions


def test_options_are_one_typed_record_and_refused_where_not_taken(tmp_path: Path) -> None:
    options = RunOptions(device="cuda", channels_last=True, input_size=(24, 32))
    assert options.given() == {"device", "channels_last", "input_size"}
    assert options.to_dict() == {"channels_last": True, "device": "cuda", "input_size": [24, 32]}
    assert RunOptions.from_dict(options.to_dict()) == options
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    with pytest.raises(InvalidInputError, match="does not take channels_last, device, input_size"):
        open_runner("ort-cpu", model, options)


def test_plan_pairs_every_backend_with_the_artifacts_it_runs(tmp_path: Path) -> None:
    fp32, int8_cpu, int8_trt = (tmp_path / f"{n}.onnx" for n in ("fp32", "int8-cpu", "int8-trt"))
    explicit = plan_specs([Source(fp32), Source("resnet20")], ["ort-cpu", "torch"],
                          options=RunOptions(channels_last=True))
    assert [(s.backend, s.artifact or s.model, s.options.channels_last) for s in explicit] == \
        [("ort-cpu", fp32, False), ("torch", "resnet20", True)]
    with pytest.raises(InvalidInputError, match="resnet20 is not run by any --backend given"):
        plan_specs([Source(fp32), Source("resnet20")], ["ort-cpu"])
    with pytest.raises(InvalidInputError, match="--backend torch needs --checkpoint PATH or --model NAME"):
        plan_specs([Source(fp32)], ["torch"])
    suited = plan_specs([Source(fp32, "fp32", label="{backend} fp32"), Source(int8_cpu, "int8", "cpu"),
                         Source(int8_trt, "int8", "tensorrt")], ["openvino", "ort-cuda"], suited=True)
    assert [(s.backend, s.artifact) for s in suited] == \
        [("openvino", fp32), ("ort-cuda", fp32), ("openvino", int8_cpu), ("ort-cuda", int8_trt)]
    assert [s.name for s in suited[:2]] == ["openvino fp32", "ort-cuda fp32"]
