"""What this machine has: Python, torch, ONNX, runtimes and their providers, CPU and GPU.

Used by `resnet-deploy info` and recorded with every benchmark result. Every probe is
guarded: a missing or broken optional package is reported as absent, never raised. This is
the one place that reads /proc/cpuinfo (the CPU's name and its instruction-set flags);
cpu_isa.py classifies the flags.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import shutil
import subprocess
from importlib import metadata
from typing import Any

from resnet_deploy import __version__
from resnet_deploy.optional import is_installed, tensorrt_module

CPUINFO = "/proc/cpuinfo"
# CPU features that change how fast (and, for INT8 without VNNI, how exactly) models run:
# what results record as the CPU's instruction set.
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "asimd", "asimddp")


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


def cpu_info() -> dict[str, Any]:
    """Model, cores, the instruction-set flags that matter, and what the INT8 and BF16
    kernels get here (cpu_isa.detect_isa, which honours its override)."""
    from resnet_deploy import cpu_isa

    info: dict[str, Any] = {"model": cpu_model(), "logical_cores": os.cpu_count(),
                            "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
                            "isa": isa_flags()}
    with contextlib.suppress(Exception):  # a bad override must not break `info`
        isa = cpu_isa.detect_isa()
        info.update({"int8_isa": isa.name, "vnni": isa.vnni, "bf16": isa.bf16, "isa_source": isa.source})
    return info


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def torch_info() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"version": torch.__version__, "threads": torch.get_num_threads(),
                            "cuda_build": torch.version.cuda, "cuda_available": False}
    try:
        info["cuda_available"] = bool(torch.cuda.is_available())
    except Exception as exc:  # a broken driver must not break `info`
        info["cuda_error"] = str(exc)
    return info


def gpu_info() -> list[dict[str, Any]]:
    """Name, compute capability, memory and driver of each visible GPU, or [] without one."""
    gpus: list[dict[str, Any]] = []
    with contextlib.suppress(Exception):
        import torch

        if torch.cuda.is_available():
            for index in range(torch.cuda.device_count()):
                props = torch.cuda.get_device_properties(index)
                gpus.append({"index": index, "name": props.name,
                             "compute_capability": f"{props.major}.{props.minor}",
                             "memory_gib": round(props.total_memory / 2**30, 1)})
    if not gpus:  # a CPU torch next to TensorRT: ask cuda-python (the TensorRT runtime's own view)
        gpus = _cuda_python_gpus()
    driver = nvidia_driver_version()
    for gpu in gpus:
        gpu["driver"] = driver
    if not gpus and driver is not None:
        gpus.append({"name": _nvidia_smi_query("name"), "compute_capability": _nvidia_smi_query("compute_cap"),
                     "driver": driver})
    return gpus


def _cuda_python_gpus() -> list[dict[str, Any]]:
    """GPUs as cuda-python sees them (name, compute capability, memory), or [] without it."""
    if not (is_installed("cuda") or is_installed("cuda.bindings")):
        return []
    try:
        from resnet_deploy.runtime.cuda import cuda_call, cudart, gpu_properties

        count = int(cuda_call(cudart().cudaGetDeviceCount(), "cudaGetDeviceCount"))
        return [gpu_properties(index).to_dict() for index in range(count)]
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


def onnxruntime_info() -> dict[str, Any] | None:
    if not is_installed("onnxruntime"):
        return None
    try:
        import onnxruntime as ort

        return {"version": ort.__version__, "providers": ort.get_available_providers(),
                "package": "onnxruntime-gpu" if _version("onnxruntime-gpu") else "onnxruntime"}
    except Exception as exc:
        return {"error": str(exc)}


def tensorrt_info() -> dict[str, Any] | None:
    trt = tensorrt_module()
    if trt is None:
        return None
    return {"version": getattr(trt, "__version__", "unknown")}


def openvino_info() -> dict[str, Any] | None:
    if not is_installed("openvino"):
        return None
    try:
        import openvino as ov

        return {"version": ov.get_version(), "devices": ov.Core().available_devices}
    except Exception as exc:
        return {"error": str(exc)}


def collect_environment() -> dict[str, Any]:
    """Everything `info` shows, as one JSON-ready dict."""
    return {
        "resnet_deploy": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_info(),
        "torch": torch_info(),
        "onnx": _version("onnx"),
        "onnxruntime": onnxruntime_info(),
        "tensorrt": tensorrt_info(),
        "openvino": openvino_info(),
        "cuda_python": _version("cuda-python") or _version("cuda-bindings"),
        "gpus": gpu_info(),
    }
