"""Fixtures for the serving tests: a tiny exported ResNet-20, the Triton server runtime, and
one real Triton server per test session (loopback, free ports).

The server runtime (the nvidia-pytriton wheel's tritonserver, plus numpy 1.26 for its Python
backend) is installed on first use into the user's cache, or RESNET_DEPLOY_TRITON_HOME, the
way `resnet-deploy serve` installs it; later runs reuse it. Tests skip only where the server
binary cannot run here (not Linux x86_64/aarch64, or a Python without a shared libpython).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from resnet_deploy.errors import MissingDependencyError

SERVER_GROUP = "triton-server"  # every test that starts a server runs on one xdist worker


@pytest.fixture(scope="session")
def triton_runtime() -> object:
    """The installed server runtime; installing it is part of the test session on a fresh machine."""
    from resnet_deploy.serving.runtime import check_interpreter, check_platform, ensure_runtime

    try:
        check_platform()
        check_interpreter()
    except MissingDependencyError as exc:
        pytest.skip(f"the bundled Triton server cannot run here: {exc}")
    started = time.perf_counter()
    runtime = ensure_runtime(install=True)
    print(f"\nTriton server runtime ready in {time.perf_counter() - started:.1f} s: {runtime.server_binary}")
    return runtime


@pytest.fixture(scope="session")
def server(triton_runtime: object, r20_onnx: Path) -> Iterator[object]:
    """A real Triton server serving r20.onnx through the ort-cpu runner (1 thread)."""
    from resnet_deploy.serving.server import ServeOptions, start_serving

    session = start_serving(r20_onnx, ServeOptions(http_port=0, grpc_port=0, metrics_port=0, threads=1,
                                                   max_queue_delay_us=500))
    try:
        yield session
    finally:
        session.stop()
