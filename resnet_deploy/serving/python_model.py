"""The Triton Python-backend model that `resnet-deploy serve` puts into its repository as
`1/model.py`: it opens OUR runner for the artifact and runs every batch Triton forms with it.

This file runs inside Triton's backend stub process, never inside resnet-deploy itself; it
imports `triton_python_backend_utils` (which only the stub provides) and reads what to run
from the model's parameters: `artifact` (absolute path), `runner` (a resnet-deploy backend
name: ort-cpu, openvino, tensorrt, ...), `threads` (empty: the runtime's default) and
`precision` (empty: the model's own; bf16: computed by the runner, e.g. OpenVINO).

Triton's dynamic batcher hands `execute` several requests at once; their inputs are joined
along the batch axis, run as one batch, and the outputs split back per request. Shape and
data type were already checked by Triton against config.pbtxt; a runner error fails only the
requests of that batch, and the model keeps serving.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from resnet_deploy.jsontypes import JsonObject


class TritonPythonModel:
    def initialize(self, args: JsonObject) -> None:
        if int(np.__version__.split(".")[0]) >= 2:
            raise RuntimeError(f"this Triton Python backend was built for numpy 1.x; the stub imported numpy "
                               f"{np.__version__} (run the model through resnet-deploy serve)")
        from resnet_deploy.bench.config import BackendSpec
        from resnet_deploy.bench.runners import open_runner

        config = json.loads(args["model_config"])
        params = {key: value.get("string_value", "") for key, value in config.get("parameters", {}).items()}
        threads = int(params["threads"]) if params.get("threads") else None
        from resnet_deploy.backends.registry import RunOptions

        options = RunOptions(precision=params.get("precision") or None)
        spec = BackendSpec(params["runner"], artifact=Path(params["artifact"]), options=options)
        self.runner = open_runner(spec, threads=threads)
        self.runner.activate()
        self.batched = int(config.get("max_batch_size", 0)) > 0
        self.input_names = [entry["name"] for entry in config["input"]]
        self.output_names = [entry["name"] for entry in config["output"]]

    def execute(self, requests: list[Any]) -> list[Any]:
        if not self.batched:
            return [self._run([request])[0] for request in requests]
        return self._run(requests)

    def _run(self, requests: list[Any]) -> list[Any]:
        parts = {name: [pb_utils.get_input_tensor_by_name(r, name).as_numpy() for r in requests]
                 for name in self.input_names}
        first = parts[self.input_names[0]]
        feeds = {name: arrays[0] if len(arrays) == 1 else np.concatenate(arrays) for name, arrays in parts.items()}
        try:
            outputs = self.runner.infer(feeds)
        except Exception as exc:  # one failed batch answers its requests with the error
            error = pb_utils.TritonError(f"{type(exc).__name__}: {exc}")
            return [pb_utils.InferenceResponse(output_tensors=[], error=error) for _ in requests]
        if not self.batched:
            return [pb_utils.InferenceResponse([pb_utils.Tensor(n, np.ascontiguousarray(outputs[n]))
                                                for n in self.output_names])]
        responses, start = [], 0
        for array in first:
            stop = start + len(array)
            tensors = [pb_utils.Tensor(name, np.ascontiguousarray(outputs[name][start:stop]))
                       for name in self.output_names]
            responses.append(pb_utils.InferenceResponse(tensors))
            start = stop
        return responses

    def finalize(self) -> None:
        runner = getattr(self, "runner", None)
        if runner is not None:
            runner.deactivate()
