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
                  io: list[tuple[str, str, list[int]]] | None = None) -> types.SimpleNamespace:
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

        def create_timing_cache(self, data: bytes) -> TimingCache:
            if data:
                calls["timing_cache_in"] = bytes(data)
            return TimingCache(data)

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
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
        __version__="10.13.0.35", calls=calls, ILogger=ILogger, Builder=Builder, OnnxParser=OnnxParser,
        Runtime=Runtime, Dims=list, TensorIOMode=TensorIOMode,
        NetworkDefinitionCreationFlag=types.SimpleNamespace(STRONGLY_TYPED=_Enum("STRONGLY_TYPED")),
        ProfilingVerbosity=types.SimpleNamespace(DETAILED=_Enum("DETAILED")),
        MemoryPoolType=types.SimpleNamespace(WORKSPACE=_Enum("WORKSPACE")),
        BuilderFlag=types.SimpleNamespace(VERSION_COMPATIBLE=_Enum("VERSION_COMPATIBLE")),
        HardwareCompatibilityLevel=types.SimpleNamespace(AMPERE_PLUS=_Enum("AMPERE_PLUS"),
                                                         SAME_COMPUTE_CAPABILITY=_Enum("SAME_COMPUTE_CAPABILITY")),
        LayerInformationFormat=types.SimpleNamespace(JSON=_Enum("JSON")),
    )
