"""What a result must carry to be comparable later: machine, libraries, artifact, GPU state.

GPU clocks, temperature and power are read with nvidia-ml-py (pynvml) before and after a
run when it is installed: a benchmark that ended at 85 °C with the SM clock down is not the
same measurement as one that ran cool, and the record should show it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from pathlib import Path

from resnet_deploy.environment import Environment, collect_environment
from resnet_deploy.errors import ArtifactError
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.sidecar import artifact_meta, library_versions, read_sidecar, sha256_file

log = logging.getLogger(__name__)


def gpu_telemetry() -> list[JsonObject] | None:
    """Per-GPU clocks (MHz), temperature (°C), power (W) and utilisation; None without NVML."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception as exc:
        log.debug("NVML unavailable: %s", exc)
        return None
    gpus: list[JsonObject] = []
    try:
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            entry: JsonObject = {"index": index}
            probes = {
                "name": lambda h: pynvml.nvmlDeviceGetName(h),
                "sm_clock_mhz": lambda h: pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM),
                "mem_clock_mhz": lambda h: pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_MEM),
                "max_sm_clock_mhz": lambda h: pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_SM),
                "temperature_c": lambda h: pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU),
                "power_w": lambda h: pynvml.nvmlDeviceGetPowerUsage(h) / 1000.0,
                "power_limit_w": lambda h: pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0,
                "utilization_pct": lambda h: pynvml.nvmlDeviceGetUtilizationRates(h).gpu,
            }
            for key, probe in probes.items():
                with contextlib.suppress(Exception):
                    value = probe(handle)
                    entry[key] = value.decode() if isinstance(value, bytes) else value
            gpus.append(entry)
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()
    return gpus


def artifact_record(path: Path | None) -> JsonObject | None:
    """Path, size, sha256 and sidecar (when one exists) of the benchmarked artifact. The
    sidecar is the record that matches the file (artifacts.artifact_meta: after an
    interrupted write, the previous one); `sidecar_mismatch` flags a file that matches
    neither, beside the sidecar as written."""
    if path is None or not path.is_file():
        return None
    record: JsonObject = {"path": str(path), "bytes": path.stat().st_size, "sha256": sha256_file(path)}
    try:
        written = read_sidecar(path, required=False)
    except ArtifactError as exc:
        record["sidecar"] = {"error": str(exc)}
        return record
    if written is None:
        return record
    try:
        matching = artifact_meta(path)
        assert matching is not None  # the sidecar exists (read above)
        record["sidecar"] = matching.to_dict()
    except ArtifactError:
        record["sidecar"], record["sidecar_mismatch"] = written.to_dict(), True
    return record


def capture_environment() -> Environment:
    """collect_environment() (which holds the CPU's instruction set) plus the exact library
    versions; `.to_dict()` is what a result records."""
    return dataclasses.replace(collect_environment(), library_versions=library_versions())


def device_slug(env: Environment, gpu: bool) -> str:
    """A folder name for results: the GPU's name (e.g. "nvidia-h100-80gb-hbm3") or "cpu-<N>core"."""
    if gpu and env.gpus:
        name = str(env.gpus[0].name or "gpu")
        return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-").replace("--", "-")
    cores = env.cpu.affinity or env.cpu.logical_cores or 1
    return f"cpu-{cores}core"
