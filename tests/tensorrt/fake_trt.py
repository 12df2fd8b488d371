"""A stand-in for the `tensorrt` module with just the builder API build_engine uses, so the
builder's control flow (sidecar, timing cache, precision check, parser errors) runs on a CPU.

It is no substitute for TensorRT: it only records what the builder asked for and returns what
the test chose (the plan bytes and the engine inspector's JSON). mypy checks the real API use
against tensorrt-stubs; the integration tests run the real thing on a GPU machine.
"""

from __future__ import annotations

import types
from typing import Any


class _Enum:
    def __init__(self, name: str) -> None:
        self.name = name

    def __int__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return self.name


def make_fake_trt(*, inspector_json: str, parse_ok: bool = True, build_ok: bool = True,
                  io: list[tuple[str, str, list[int]]] | None = None, version: str = "10.13.0.35",
                  timing_cache: str = "ok",
                  hardware_levels: tuple[str, ...] = ("AMPERE_PLUS", "SAME_COMPUTE_CAPABILITY")) -> types.SimpleNamespace:
    """`timing_cache`: what TensorRT does with a non-empty cache file: "ok" uses it, "raise" fails
    to deserialize it (the bindings raise), "none" returns None, "mismatch" deserializes it but
    set_timing_cache refuses it (another GPU or version). `hardware_levels`: the members of
    HardwareCompatibilityLevel this TensorRT has (SAME_COMPUTE_CAPABILITY arrived in 10.10)."""
    calls: dict[str, Any] = {"flags": [], "profiles": [], "timing_cache_in": None}
    io = io or [("input", "input", [-1, 3, 8, 8]), ("logits", "output", [-1, 5])]

    class ILogger:
        class Severity:
            VERBOSE, INFO, WARNING, ERROR = _Enum("VERBOSE"), _Enum("INFO"), _Enum("WARNING"), _Enum("ERROR")

        def __init__(self) -> None:
            pass

    class TimingCache:
        def __init__(self, data: bytes) -> None:
            self.data = bytes(data) or b"fresh"

        def serialize(self) -> bytes:
            return self.data + b"+tuned"

    class Config:
        def __init__(self) -> None:
            self.profiling_verbosity = None
            self.builder_optimization_level = 3
            self.hardware_compatibility_level = None
            self.cache: TimingCache | None = None

        def set_memory_pool_limit(self, pool: Any, size: int) -> None:
            calls["workspace"] = size

        def set_flag(self, flag: Any) -> None:
            calls["flags"].append(flag.name)

        def add_optimization_profile(self, profile: Any) -> int:
            calls["profiles"].append(profile.shapes)
            return 0

        def create_timing_cache(self, data: bytes) -> TimingCache | None:
            if data:
                calls["timing_cache_in"] = bytes(data)
                if timing_cache == "raise":
                    raise RuntimeError("Error Code 1: Serialized timing cache is corrupted")
                if timing_cache == "none":
                    return None
            return TimingCache(data)

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            if timing_cache == "mismatch" and cache.data != b"fresh":
                return False
            self.cache = cache
            return True

        def get_timing_cache(self) -> TimingCache:
            assert self.cache is not None
            return self.cache

    class Profile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple[list[int], list[int], list[int]]] = {}

        def set_shape(self, name: str, low: Any, opt: Any, high: Any) -> None:
            self.shapes[name] = (list(low), list(opt), list(high))

    class Builder:
        def __init__(self, logger: Any) -> None:
            self.logger = logger

        def create_network(self, flags: int) -> object:
            calls["network_flags"] = flags
            return object()

        def create_builder_config(self) -> Config:
            calls["config"] = Config()
            return calls["config"]

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Any, config: Config) -> bytes | None:
            calls["verbosity"] = config.profiling_verbosity
            if not build_ok:
                self.logger.log(ILogger.Severity.ERROR, "no implementation obeys reformatting-free rules")
                return None
            return b"PLAN" + bytes(64)

    class ParserError:
        def desc(self) -> str:
            return "Unsupported operator Foo"

        def node(self) -> int:
            return 3

        def node_name(self) -> str:
            return "/head/foo"

        def node_operator(self) -> str:
            return "Foo"

    class OnnxParser:
        def __init__(self, network: Any, logger: Any) -> None:
            self.num_errors = 0 if parse_ok else 1

        def parse_from_file(self, path: str) -> bool:
            calls["parsed"] = path
            return parse_ok

        def get_error(self, index: int) -> ParserError:
            return ParserError()

    class Inspector:
        def get_engine_information(self, fmt: Any) -> str:
            return inspector_json

    class Engine:
        num_io_tensors = len(io)

        def create_engine_inspector(self) -> Inspector:
            return Inspector()

        def get_tensor_name(self, index: int) -> str:
            return io[index][0]

        def get_tensor_mode(self, name: str) -> Any:
            return TensorIOMode.INPUT if dict((n, m) for n, m, _ in io)[name] == "input" else TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name: str) -> _Enum:
            return _Enum("FLOAT")

        def get_tensor_shape(self, name: str) -> list[int]:
            return dict((n, s) for n, _, s in io)[name]

    class Runtime:
        def __init__(self, logger: Any) -> None:
            self.engine_host_code_allowed = False

        def deserialize_cuda_engine(self, data: bytes) -> Engine:
            calls["host_code_allowed"] = self.engine_host_code_allowed
            return Engine()

    TensorIOMode = types.SimpleNamespace(INPUT=_Enum("INPUT"), OUTPUT=_Enum("OUTPUT"))
    return types.SimpleNamespace(
        __version__=version, calls=calls, ILogger=ILogger, Builder=Builder, OnnxParser=OnnxParser,
        Runtime=Runtime, Dims=list, TensorIOMode=TensorIOMode,
        NetworkDefinitionCreationFlag=types.SimpleNamespace(STRONGLY_TYPED=_Enum("STRONGLY_TYPED")),
        ProfilingVerbosity=types.SimpleNamespace(DETAILED=_Enum("DETAILED")),
        MemoryPoolType=types.SimpleNamespace(WORKSPACE=_Enum("WORKSPACE")),
        BuilderFlag=types.SimpleNamespace(VERSION_COMPATIBLE=_Enum("VERSION_COMPATIBLE")),
        HardwareCompatibilityLevel=types.SimpleNamespace(**{name: _Enum(name) for name in hardware_levels}),
        LayerInformationFormat=types.SimpleNamespace(JSON=_Enum("JSON")),
    )


# -- the runtime side: a fake engine that computes on host memory posing as device memory ------
OK = types.SimpleNamespace(value=0, name="cudaSuccess")


class FakeCudart:
    """cuda-python's runtime API over host memory: cudaMalloc hands out real (host) addresses,
    copies are memmoves, and work captured into a graph is replayed on launch."""

    cudaStreamNonBlocking = 1
    cudaMemcpyKind = types.SimpleNamespace(cudaMemcpyHostToDevice=1, cudaMemcpyDeviceToHost=2, cudaMemcpyDeviceToDevice=3)
    cudaStreamCaptureMode = types.SimpleNamespace(cudaStreamCaptureModeThreadLocal=0)

    def __init__(self) -> None:
        import ctypes

        self._ctypes = ctypes
        self.memory: dict[int, Any] = {}
        self.streams: dict[int, list[Any] | None] = {}  # handle -> capture list while capturing
        self.synchronized: list[int] = []  # streams, in the order cudaStreamSynchronize saw them
        self._next_stream = 100

    def _alloc(self, nbytes: int) -> tuple[Any, int]:
        buffer = self._ctypes.create_string_buffer(nbytes)
        address = self._ctypes.addressof(buffer)
        self.memory[address] = buffer
        return OK, address

    def cudaMalloc(self, nbytes: int) -> tuple[Any, int]:
        return self._alloc(nbytes)

    def cudaMallocHost(self, nbytes: int) -> tuple[Any, int]:
        return self._alloc(nbytes)

    def cudaFree(self, ptr: int) -> tuple[Any]:
        del self.memory[ptr]
        return (OK,)

    cudaFreeHost = cudaFree

    def cudaStreamCreateWithFlags(self, flags: int) -> tuple[Any, int]:
        self._next_stream += 1
        self.streams[self._next_stream] = None
        return OK, self._next_stream

    def cudaStreamDestroy(self, stream: int) -> tuple[Any]:
        del self.streams[int(stream)]
        return (OK,)

    def cudaStreamSynchronize(self, stream: int) -> tuple[Any]:
        self.synchronized.append(int(stream))
        return (OK,)

    def cudaStreamQuery(self, stream: int) -> tuple[Any]:
        return (OK,)

    def cudaSetDevice(self, device: int) -> tuple[Any]:
        return (OK,)

    def run_or_capture(self, stream: int, work: Any) -> None:
        captured = self.streams[int(stream)]
        if captured is None:
            work()
        else:
            captured.append(work)

    def cudaMemcpyAsync(self, dst: int, src: int, nbytes: int, kind: int, stream: int) -> tuple[Any]:
        self.run_or_capture(stream, lambda: self._ctypes.memmove(dst, src, nbytes))
        return (OK,)

    def cudaStreamBeginCapture(self, stream: int, mode: int) -> tuple[Any]:
        self.streams[int(stream)] = []
        return (OK,)

    def cudaStreamEndCapture(self, stream: int) -> tuple[Any, list[Any]]:
        work, self.streams[int(stream)] = self.streams[int(stream)], None
        return OK, work or []

    def cudaGraphInstantiate(self, graph: list[Any], flags: int) -> tuple[Any, list[Any]]:
        return OK, list(graph)

    def cudaGraphLaunch(self, graph_exec: list[Any], stream: int) -> tuple[Any]:
        for work in graph_exec:
            self.run_or_capture(stream, work)
        return (OK,)

    def cudaGraphExecDestroy(self, graph_exec: Any) -> tuple[Any]:
        return (OK,)

    cudaGraphDestroy = cudaGraphExecDestroy


def make_fake_runtime_trt(cudart: FakeCudart, *, profile: tuple[list[int], list[int], list[int]],
                          classes: int = 5, refuse_profile: bool = False,
                          refuse_address: bool = False) -> types.SimpleNamespace:
    """A TensorRT whose engine computes logits[b, k] = sum(input[b]) * (k + 1) in float32.

    `refuse_profile`: set_optimization_profile_async raises RuntimeError, as the real bindings
    do on failure (they never return False); `refuse_address`: set_tensor_address returns False.
    """
    import numpy as np

    fake = make_fake_trt(inspector_json="{}")
    low, opt, high = profile

    class Context:
        def __init__(self) -> None:
            self.shapes: dict[str, list[int]] = {}
            self.addresses: dict[str, int] = {}
            self.executions = 0

        def set_optimization_profile_async(self, index: int, stream: int) -> bool:
            if refuse_profile or index != 0:
                raise RuntimeError("Error in set optimization profile async.")
            return True

        def set_input_shape(self, name: str, shape: Any) -> bool:
            shape = list(shape)
            if len(shape) != len(low) or not all(a <= s <= b for a, s, b in zip(low, shape, high, strict=True)):
                return False
            self.shapes[name] = shape
            return True

        def get_tensor_shape(self, name: str) -> list[int]:
            return self.shapes["input"] if name == "input" else [self.shapes["input"][0], classes]

        def set_tensor_address(self, name: str, address: int) -> bool:
            if refuse_address:
                return False
            self.addresses[name] = address
            return True

        def execute_async_v3(self, stream: int) -> bool:
            shape = list(self.shapes["input"])
            src, dst = self.addresses["input"], self.addresses["logits"]

            def work() -> None:
                count = int(np.prod(shape))
                x = np.ctypeslib.as_array((cudart._ctypes.c_float * count).from_address(src)).reshape(shape)
                out = np.ctypeslib.as_array((cudart._ctypes.c_float * (shape[0] * classes)).from_address(dst))
                sums = x.reshape(shape[0], -1).sum(axis=1, dtype=np.float32)
                out[:] = (sums[:, None] * np.arange(1, classes + 1, dtype=np.float32)).ravel()
                self.executions += 1

            cudart.run_or_capture(stream, work)
            return True

    class Engine:
        num_io_tensors = 2

        def __init__(self) -> None:
            self.contexts: list[Context] = []

        def get_tensor_name(self, index: int) -> str:
            return ["input", "logits"][index]

        def get_tensor_mode(self, name: str) -> Any:
            return fake.TensorIOMode.INPUT if name == "input" else fake.TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name: str) -> Any:
            return types.SimpleNamespace(name="FLOAT")

        def get_tensor_shape(self, name: str) -> list[int]:
            return [-1, *low[1:]] if name == "input" else [-1, classes]

        def get_tensor_profile_shape(self, name: str, index: int) -> list[list[int]]:
            return [low, opt, high]

        def create_execution_context(self) -> Context:
            context = Context()
            self.contexts.append(context)
            return context

    class Runtime:
        def __init__(self, logger: Any) -> None:
            self.engine_host_code_allowed = False

        def deserialize_cuda_engine(self, data: bytes) -> Engine:
            fake.calls["engine"] = Engine()
            return fake.calls["engine"]

    fake.Runtime = Runtime
    return fake
