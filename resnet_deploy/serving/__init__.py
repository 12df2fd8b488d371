"""Serving with NVIDIA Triton Inference Server.

    from resnet_deploy.serving import RepoOptions, build_triton_repo, ServeOptions, start_serving
    build_triton_repo(["r50_fp16.plan", "r50.onnx"], "repo", RepoOptions(bench=Path("bench.json"), latency_budget_ms=20))
    with start_serving("r20.onnx", ServeOptions(http_port=8000)) as server:   # a real Triton server
        server.wait()                                                         # until SIGINT/SIGTERM

`build_triton_repo` writes model repositories for a production Triton (TensorRT plans,
onnxruntime, OpenVINO); `start_serving` runs the Triton server bundled in the nvidia-pytriton
wheel on this machine with our own runner as a Python-backend model. tritonclient (the
`serve` extra) is imported only where a configuration is built or checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from resnet_deploy.optional import lazy_exports

if TYPE_CHECKING:
    from resnet_deploy.serving.batching import BatchingChoice, choose_batching
    from resnet_deploy.serving.runtime import TritonRuntime, ensure_runtime
    from resnet_deploy.serving.server import ServeOptions, ServingSession, start_serving
    from resnet_deploy.serving.signature import ModelSignature, read_signature
    from resnet_deploy.serving.triton_repo import (
        RepoOptions,
        TritonRepoResult,
        build_triton_repo,
        check_model_folder,
    )

_LAZY = {
    "BatchingChoice": "resnet_deploy.serving.batching", "choose_batching": "resnet_deploy.serving.batching",
    "TritonRuntime": "resnet_deploy.serving.runtime", "ensure_runtime": "resnet_deploy.serving.runtime",
    "ServeOptions": "resnet_deploy.serving.server", "ServingSession": "resnet_deploy.serving.server", "start_serving": "resnet_deploy.serving.server",
    "ModelSignature": "resnet_deploy.serving.signature", "read_signature": "resnet_deploy.serving.signature",
    "RepoOptions": "resnet_deploy.serving.triton_repo", "TritonRepoResult": "resnet_deploy.serving.triton_repo", "build_triton_repo": "resnet_deploy.serving.triton_repo",
    "check_model_folder": "resnet_deploy.serving.triton_repo",
}

__all__ = ["BatchingChoice", "ModelSignature", "RepoOptions", "ServeOptions", "ServingSession", "TritonRepoResult",
           "TritonRuntime", "build_triton_repo", "check_model_folder", "choose_batching", "ensure_runtime", "read_signature",
           "start_serving"]


__getattr__ = lazy_exports(__name__, _LAZY)
