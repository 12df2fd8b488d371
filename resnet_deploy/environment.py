"""What this machine has: Python, torch, ONNX, runtimes and their providers, CPU and GPU.

Used by `resnet-deploy info` and recorded with every benchmark result. Every probe is
guarded: a missing or broken optional package is reported as absent, never raised. This is
the one place that reads /proc/cpuinfo (the CPU's name and its instruction-set flags);
cpu_isa.py classifies the flags.

The snapshot is typed records (`Environment` and its parts); `to_dict()` gives the JSON that
`info --json`, bench results and benchmarks/ record, in the layout they always had (a key
that a probe did not fill, such as `cuda_error` or the CPU's INT8 class, is left out).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import platform
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING

from resnet_deploy import __version__
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.optional import is_installed, tensorrt_module

if TYPE_CHECKING:
    from resnet_deploy.runtime.cuda import GpuProperties

CPUINFO = "/proc/cpuinfo"
# CPU features that change how fast (and, for INT8 without VNNI, how exactly) models run:
# what results record as the CPU's instruction set.
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "asimd", "asimddp")


@dataclass(frozen=True)
class CpuInfo:
    """The CPU: model, cores, the ISA_FLAGS it has (None without /proc/cpuinfo) and what the
    INT8 and BF16 kernels get here (`int8_isa` None when detection failed)."""

    model: str
    logical_cores: int | None
    affinity: int | None
    isa: tuple[str, ...] | None
    int8_isa: str | None = None
    vnni: bool | None = None
    bf16: str | None = None
    isa_source: str | None = None

    def to_dict(self) -> JsonObject:
        data: JsonObject = {"model": self.model, "logical_cores": self.logical_cores, "affinity": self.affinity,
                            "isa": None if self.isa is None else list(self.isa)}
        if self.int8_isa is not None:
            data.update({"int8_isa": self.int8_isa, "vnni": self.vnni, "bf16": self.bf16,
                         "isa_source": self.isa_source})
        return data


@dataclass(frozen=True)
class TorchInfo:
    """torch's version, threads, CUDA build and whether CUDA is usable (`cuda_error`: why not,
    when asking raised)."""

    version: str
    threads: int
    cuda_build: str | None
    cuda_available: bool = False
    cuda_error: str | None = None

    def to_dict(self) -> JsonObject:
        data: JsonObject = {"version": self.version, "threads": self.threads, "cuda_build": self.cuda_build,
                            "cuda_available": self.cuda_available}
        if self.cuda_error is not None:
            data["cuda_error"] = self.cuda_error
        return data


@dataclass(frozen=True)
class GpuInfo:
    """One visible GPU. `index` and `memory_gib` are unknown (None) when only nvidia-smi saw it."""

    name: str | None
    compute_capability: str | None
    driver: str | None = None
    index: int | None = None
    memory_gib: float | None = None

    @classmethod
    def from_properties(cls, props: GpuProperties, driver: str | None = None) -> GpuInfo:
        return cls(props.name, props.compute_capability, driver, props.index, round(props.total_memory / 2**30, 1))

    def to_dict(self) -> JsonObject:
        data: JsonObject = {} if self.index is None else {"index": self.index}
        data.update({"name": self.name, "compute_capability": self.compute_capability})
        if self.memory_gib is not None:
            data["memory_gib"] = self.memory_gib
        data["driver"] = self.driver
        return data


@dataclass(frozen=True)
class RuntimeInfo:
    """An inference runtime that is installed: its version and what it offers (onnxruntime's
    providers and package, OpenVINO's devices), or the error that stopped it loading."""

    version: str | None = None
    providers: tuple[str, ...] | None = None
    package: str | None = None
    devices: tuple[str, ...] | None = None
    error: str | None = None

    def to_dict(self) -> JsonObject:
        data: JsonObject = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if value is not None:
                data[item.name] = list(value) if isinstance(value, tuple) else value
        return data


@dataclass(frozen=True)
class Environment:
    """Everything `info` shows; `library_versions` (the exact versions a result records) is
    filled by bench.telemetry.capture_environment."""

    resnet_deploy: str
    python: str
    platform: str
    cpu: CpuInfo
    torch: TorchInfo
    onnx: str | None
    onnxruntime: RuntimeInfo | None
    tensorrt: RuntimeInfo | None
    openvino: RuntimeInfo | None
    cuda_python: str | None
    gpus: tuple[GpuInfo, ...]
    library_versions: Mapping[str, str] | None = None

    def to_dict(self) -> JsonObject:
        """The JSON `info --json` prints and results record (`library_versions` only when set)."""
        def runtime(info: RuntimeInfo | None) -> JsonObject | None:
            return None if info is None else info.to_dict()

        data: JsonObject = {
            "resnet_deploy": self.resnet_deploy, "python": self.python, "platform": self.platform,
            "cpu": self.cpu.to_dict(), "torch": self.torch.to_dict(), "onnx": self.onnx,
            "onnxruntime": runtime(self.onnxruntime), "tensorrt": runtime(self.tensorrt),
            "openvino": runtime(self.openvino), "cuda_python": self.cuda_python,
            "gpus": [gpu.to_dict() for gpu in self.gpus]}
        if self.library_versions is not None:
            data["library_versions"] = dict(self.library_versions)
        return data


@functools.lru_cache(maxsize=1)
def _cpuinfo_fields() -> dict[str, str] | None:
    """The first CPU's fields of /proc/cpuinfo (Linux), or None where there is none."""
    fields: dict[str, str] = {}
    try:
        with open(CPUINFO, encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    if fields:
                        break  # the first processor's block is enough: all cores report the same
                    continue
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        return None
    return fields


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else platform.processor()."""
    fields = _cpuinfo_fields() or {}
    return fields.get("model name") or platform.processor() or platform.machine()


def cpu_flags() -> frozenset[str] | None:
    """The CPU's instruction-set flags ("flags" on x86, "Features" on ARM), or None without
    /proc/cpuinfo."""
    fields = _cpuinfo_fields()
    if fields is None:
        return None
    return frozenset((fields.get("flags") or fields.get("Features") or "").split())


def isa_flags() -> list[str] | None:
    """The ISA_FLAGS this CPU has (what a result records), or None when unknown."""
    flags = cpu_flags()
    return None if flags is None else [flag for flag in ISA_FLAGS if flag in flags]


def cpu_info() -> CpuInfo:
    """Model, cores, the instruction-set flags that matter, and what the INT8 and BF16
    kernels get here (cpu_isa.detect_isa, which honours its override)."""
    from resnet_deploy import cpu_isa

    flags = isa_flags()
    info = CpuInfo(model=cpu_model(), logical_cores=os.cpu_count(),
                   affinity=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
                   isa=None if flags is None else tuple(flags))
    with contextlib.suppress(Exception):  # a bad override must not break `info`
        isa = cpu_isa.detect_isa()
        info = dataclasses.replace(info, int8_isa=isa.name, vnni=isa.vnni, bf16=isa.bf16, isa_source=isa.source)
    return info


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def torch_info() -> TorchInfo:
    import torch

    info = TorchInfo(version=torch.__version__, threads=torch.get_num_threads(), cuda_build=torch.version.cuda)
    try:
        return dataclasses.replace(info, cuda_available=bool(torch.cuda.is_available()))
    except Exception as exc:  # a broken driver must not break `info`
        return dataclasses.replace(info, cuda_error=str(exc))


def gpu_info() -> list[GpuInfo]:
    """Name, compute capability, memory and driver of each visible GPU, or [] without one."""
    gpus: list[GpuInfo] = []
    with contextlib.suppress(Exception):
        import torch

        if torch.cuda.is_available():
            for index in range(torch.cuda.device_count()):
                props = torch.cuda.get_device_properties(index)
                gpus.append(GpuInfo(props.name, f"{props.major}.{props.minor}", index=index,
                                    memory_gib=round(props.total_memory / 2**30, 1)))
    if not gpus:  # a CPU torch next to TensorRT: ask cuda-python (the TensorRT runtime's own view)
        gpus = _cuda_python_gpus()
    driver = nvidia_driver_version()
    gpus = [dataclasses.replace(gpu, driver=driver) for gpu in gpus]
    if not gpus and driver is not None:
        gpus.append(GpuInfo(_nvidia_smi_query("name"), _nvidia_smi_query("compute_cap"), driver))
    return gpus


def _cuda_python_gpus() -> list[GpuInfo]:
    """GPUs as cuda-python sees them (name, compute capability, memory), or [] without it."""
    if not (is_installed("cuda") or is_installed("cuda.bindings")):
        return []
    try:
        from resnet_deploy.runtime.cuda import cuda_call, cudart, gpu_properties

        count = int(cuda_call(cudart().cudaGetDeviceCount(), "cudaGetDeviceCount"))
        return [GpuInfo.from_properties(gpu_properties(index)) for index in range(count)]
    except Exception:  # no GPU or a broken driver must not break `info`
        return []


def _nvidia_smi_query(field: str) -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    first = out.strip().splitlines()
    return first[0].strip() if first else None


def nvidia_driver_version() -> str | None:
    return _nvidia_smi_query("driver_version")


def onnxruntime_info() -> RuntimeInfo | None:
    if not is_installed("onnxruntime"):
        return None
    try:
        import onnxruntime as ort

        return RuntimeInfo(version=ort.__version__, providers=tuple(ort.get_available_providers()),
                           package="onnxruntime-gpu" if _version("onnxruntime-gpu") else "onnxruntime")
    except Exception as exc:
        return RuntimeInfo(error=str(exc))


def tensorrt_info() -> RuntimeInfo | None:
    trt = tensorrt_module()
    if trt is None:
        return None
    return RuntimeInfo(version=getattr(trt, "__version__", "unknown"))


def openvino_info() -> RuntimeInfo | None:
    if not is_installed("openvino"):
        return None
    try:
        import openvino as ov

        return RuntimeInfo(version=ov.get_version(), devices=tuple(ov.Core().available_devices))
    except Exception as exc:
        return RuntimeInfo(error=str(exc))


def collect_environment() -> Environment:
    """Everything `info` shows, as one record (`to_dict()` for JSON)."""
    return Environment(
        resnet_deploy=__version__,
        python=platform.python_version(),
        platform=platform.platform(),
        cpu=cpu_info(),
        torch=torch_info(),
        onnx=_version("onnx"),
        onnxruntime=onnxruntime_info(),
        tensorrt=tensorrt_info(),
        openvino=openvino_info(),
        cuda_python=_version("cuda-python") or _version("cuda-bindings"),
        gpus=tuple(gpu_info()),
    )
