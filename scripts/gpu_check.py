#!/usr/bin/env python
"""The whole GPU verification, for an offline GPU machine: `bash scripts/gpu_check.sh OUTDIR`.

Stages (each a subprocess with its own timeout, inside a 9-minute budget for the whole run):
install the wheels from .whl/ into a throw-away folder (never touching the image's torch;
onnxruntime-gpu shadows the image's CPU onnxruntime there), `resnet-deploy info`,
`pytest -m gpu`, export ResNet-50 (FP32 and FP16 ONNX), build a TensorRT FP16 plan (when
TensorRT imports), the batch sweep (torch eager FP16 channels_last, torch-cudagraph,
torch-compile, ort-cuda FP32/FP16, TensorRT), the C++ TensorRT example built and run on the
plan (where TensorRT's headers and libnvinfer are installed), the training throughput benchmark
(AMP, channels_last), the validation of each GPU backend against onnxruntime CPU, then the BF16
and FP8 paths (quantize --precision bf16/fp8; TensorRT build with the per-layer precision check,
validate against the CPU reference and bench; ort-cuda validate and bench; torch CUDA bf16
autocast bench; the torch CUDA bf16 agreement test runs in pytest -m gpu; FP8 needs compute
capability 8.9, BF16 8.0: an older GPU is a skip reason), short MLPerf LoadGen Offline and
Server runs (TensorRT plan, onnxruntime CUDA), the per-layer
profiles (ort-cuda, TensorRT's IProfiler), the per-layer comparison of a TensorRT debug engine,
and a summary.

Everything lands in OUTDIR: info.txt/json, pytest_gpu.txt/xml, sweep/*.json, the merged
gpu_sweep_resnet50.{json,csv,md} with plots, train/, validate/*.json, profile/*.json and
profile_tensorrt_fp16.png, logs/<stage>.log and
summary.md (which stages ran, failed with the error, or were skipped with the reason; the best
images/s and its fraction of the GPU's dense FP16 peak). `--dry-run` checks every prerequisite
and prints the plan without running anything (on a CPU machine the missing GPU is a skip
reason, not a failure).

This driver uses the standard library only, so it runs before anything is installed; the
summary stage runs in a subprocess that imports resnet_deploy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 9 * 60 - 15  # the whole run, install included, with a margin for the summary
SITE_MARKER = ".resnet-deploy-gpu-check"
# The sweep: ~1 s measured per point after 0.3 s of warm-up; slow backends get fewer points.
SWEEP_ARGS = ["--duration", "1", "--warmup", "0.3s"]
ALL_BATCHES = "1-256"
FEW_BATCHES = "1,8,64,256"
COMPILE_BATCHES = "1,32,256"
VALIDATE_OPTIONS = ("--backend", "--reference", "--reference-backend", "--per-layer", "--json")


@dataclass
class Stage:
    name: str
    timeout: int
    what: str
    command: list[str] = field(default_factory=list)
    needs: tuple[str, ...] = ()  # prerequisites: "cuda", "ort-cuda", "tensorrt", "tensorrt-cpp", "mlperf", "validate", or a stage name
    stdout_to: str | None = None  # file in OUTDIR that receives stdout
    status: str = "pending"  # ran | failed | skipped
    detail: str = ""
    seconds: float = 0.0


def _py() -> str:
    return sys.executable


def _cli(*args: str) -> list[str]:
    return [_py(), "-m", "resnet_deploy", *args]


def plan_stages(out: Path, work: Path) -> list[Stage]:
    onnx, fp16, plan = work / "r50.onnx", work / "r50.fp16.onnx", work / "r50_fp16.plan"
    sweep = out / "sweep"
    torch_opts = ["--model", "resnet50", "--device", "cuda", "--precision", "fp16", "--channels-last"]
    return [
        Stage("environment", 60, "resnet-deploy info", _cli("info"), stdout_to="info.txt"),
        Stage("pytest-gpu", 150, "pytest -m gpu (GPU tests of every area)",
              [_py(), "-m", "pytest", "-m", "gpu", "-rs", "-q", "-p", "no:cacheprovider",
               "--junitxml", str(out / "pytest_gpu.xml")], ("cuda",), stdout_to="pytest_gpu.txt"),
        Stage("export", 150, "ResNet-50 224x224 to ONNX (FP32, dynamic batch) and its FP16 model",
              [_py(), str(Path(__file__).resolve()), "--export", str(work)], ("cuda",)),
        Stage("sweep-torch-eager-fp16", 75, f"torch eager FP16 channels_last, batches {ALL_BATCHES}",
              _cli("bench", "--backend", "torch", *torch_opts, "--batch-sizes", ALL_BATCHES, *SWEEP_ARGS,
                   "--save-json", str(sweep / "torch-eager-fp16.json")), ("cuda",)),
        Stage("sweep-torch-cudagraph-fp16", 90, f"torch-cudagraph FP16 channels_last, batches {ALL_BATCHES}",
              _cli("bench", "--backend", "torch-cudagraph", *torch_opts, "--batch-sizes", ALL_BATCHES, *SWEEP_ARGS,
                   "--save-json", str(sweep / "torch-cudagraph-fp16.json")), ("cuda",)),
        Stage("sweep-ort-cuda-fp32", 75, f"onnxruntime CUDA EP, FP32 model, batches {FEW_BATCHES}",
              _cli("bench", "--onnx", str(onnx), "--backend", "ort-cuda", "--batch-sizes", FEW_BATCHES, *SWEEP_ARGS,
                   "--save-json", str(sweep / "ort-cuda-fp32.json")), ("cuda", "ort-cuda", "export")),
        Stage("sweep-ort-cuda-fp16", 75, f"onnxruntime CUDA EP, FP16 model, batches {FEW_BATCHES}",
              _cli("bench", "--onnx", str(fp16), "--backend", "ort-cuda", "--batch-sizes", FEW_BATCHES, *SWEEP_ARGS,
                   "--save-json", str(sweep / "ort-cuda-fp16.json")), ("cuda", "ort-cuda", "export")),
        Stage("tensorrt-build", 240, "TensorRT FP16 plan, batch 1..256 (opt 64), timing cache",
              _cli("build", str(fp16), "-o", str(plan), "--min-batch", "1", "--opt-batch", "64", "--max-batch", "256",
                   "--timing-cache", str(work / "trt.cache")), ("cuda", "tensorrt", "export")),
        Stage("sweep-tensorrt-fp16", 60, f"TensorRT FP16 plan, batches {ALL_BATCHES}",
              _cli("bench", "--engine", str(plan), "--backend", "tensorrt", "--batch-sizes", ALL_BATCHES, *SWEEP_ARGS,
                   "--save-json", str(sweep / "tensorrt-fp16.json")), ("cuda", "tensorrt", "tensorrt-build")),
        Stage("cpp-tensorrt", 120, "examples/cpp: build resnet_infer_tensorrt (scripts/build_cpp_example.sh) and run "
              "the FP16 plan, 256 images in batches of 32 from 2 threads",
              ["bash", str(ROOT / "scripts" / "build_cpp_example.sh"), str(plan), "--random", "256", "--batch", "32",
               "--threads", "2", "--quiet", "--out", str(out / "cpp" / "tensorrt_logits.npy")],
              ("cuda", "tensorrt-cpp", "tensorrt-build"), stdout_to="cpp/tensorrt.txt"),
        Stage("train", 120, "training throughput, ResNet-50, AMP fp16, channels_last, batch 128",
              [_py(), str(ROOT / "benchmarks" / "train_gpu_resnet50.py"), "--batch", "128", "--amp", "fp16",
               "--warmup", "10", "--steps", "30", "--out", str(out / "train")], ("cuda",)),
        Stage("validate-ort-cuda-fp32", 90, "ort-cuda vs ort-cpu, FP32 model",
              _cli("validate", str(onnx), "--backend", "ort-cuda", "--reference", str(onnx), "--reference-backend",
                   "ort-cpu", "--json"), ("cuda", "ort-cuda", "validate", "export"),
              stdout_to="validate/ort-cuda-fp32.json"),
        Stage("validate-ort-cuda-fp16", 90, "ort-cuda vs ort-cpu, FP16 model against the FP32 one",
              _cli("validate", str(fp16), "--backend", "ort-cuda", "--reference", str(onnx), "--reference-backend",
                   "ort-cpu", "--json"), ("cuda", "ort-cuda", "validate", "export"),
              stdout_to="validate/ort-cuda-fp16.json"),
        Stage("validate-tensorrt-fp16", 90, "TensorRT FP16 plan vs ort-cpu on the FP32 model",
              _cli("validate", str(plan), "--reference", str(onnx), "--json"),
              ("cuda", "tensorrt", "validate", "tensorrt-build"), stdout_to="validate/tensorrt-fp16.json"),
        Stage("mlperf-tensorrt-offline", 60, "MLPerf LoadGen Offline, quick (not compliant), TensorRT FP16 plan: "
              "NVIDIA's SUT design (stream slots, pinned buffers, CUDA graphs per batch)",
              _cli("mlperf", str(plan), "--scenario", "Offline", "--quick", "--random", "1024", "--json",
                   "-o", str(out / "mlperf" / "tensorrt-offline")), ("cuda", "tensorrt", "mlperf", "tensorrt-build"),
              stdout_to="mlperf/tensorrt-offline.json"),
        Stage("mlperf-tensorrt-server", 60, "MLPerf LoadGen Server, quick (not compliant), TensorRT FP16 plan, "
              "p99 within 15 ms", _cli("mlperf", str(plan), "--scenario", "Server", "--quick", "--random", "1024",
                                       "--json", "-o", str(out / "mlperf" / "tensorrt-server")),
              ("cuda", "tensorrt", "mlperf", "tensorrt-build"), stdout_to="mlperf/tensorrt-server.json"),
        Stage("mlperf-ort-cuda-fp16", 75, "MLPerf LoadGen Offline and Server, quick (not compliant), onnxruntime CUDA "
              "EP, FP16 model", _cli("mlperf", str(fp16), "--backend", "ort-cuda", "--scenario", "Offline,Server",
                                     "--quick", "--random", "1024", "--json", "-o", str(out / "mlperf" / "ort-cuda-fp16")),
              ("cuda", "ort-cuda", "mlperf", "export"), stdout_to="mlperf/ort-cuda-fp16.json"),
        Stage("profile-ort-cuda-fp16", 60, "per-layer profile, onnxruntime CUDA EP, FP16 model, batch 1",
              _cli("profile", str(fp16), "--backend", "ort-cuda", "--iterations", "30", "--json"),
              ("cuda", "ort-cuda", "export"), stdout_to="profile/ort-cuda-fp16.json"),
        Stage("profile-tensorrt-fp16", 60, "per-layer profile, TensorRT FP16 plan (IProfiler in a separate run), batch 1",
              _cli("profile", str(plan), "--iterations", "30", "--plot", str(out / "profile_tensorrt_fp16.png"),
                   "--json"), ("cuda", "tensorrt", "tensorrt-build"), stdout_to="profile/tensorrt-fp16.json"),
        Stage("validate-tensorrt-per-layer", 180, "TensorRT debug engine (layer outputs marked) vs ort-cpu, per layer",
              _cli("validate", str(plan), "--reference", str(onnx), "--per-layer", "--batch-sizes", "4", "--json"),
              ("cuda", "tensorrt", "validate", "tensorrt-build"), stdout_to="validate/tensorrt-fp16-per-layer.json"),
        Stage("sweep-torch-compile-fp16", 150, f"torch.compile FP16 channels_last, batches {COMPILE_BATCHES} "
              "(one compilation per batch size)",
              _cli("bench", "--backend", "torch-compile", *torch_opts, "--batch-sizes", COMPILE_BATCHES, *SWEEP_ARGS,
                   "--save-json", str(sweep / "torch-compile-fp16.json")), ("cuda",)),
        *low_precision_stages(work, sweep),
    ]


LOW_BATCHES = "1,8,64"


def low_precision_stages(work: Path, sweep: Path) -> list[Stage]:
    """BF16 and FP8 on every GPU path: graph models for TensorRT and ort-cuda (built, validated
    against onnxruntime CPU on the FP32 model, benched), torch CUDA bf16 autocast (benched; its
    agreement with FP32 is a pytest -m gpu test). Last in the plan, so the stages before keep
    their share of the budget."""
    onnx = work / "r50.onnx"
    stages = [Stage("sweep-torch-eager-bf16", 60, f"torch eager BF16 autocast channels_last, batches {LOW_BATCHES}",
                    _cli("bench", "--backend", "torch", "--model", "resnet50", "--device", "cuda", "--precision", "bf16",
                         "--channels-last", "--batch-sizes", LOW_BATCHES, *SWEEP_ARGS,
                         "--save-json", str(sweep / "torch-eager-bf16.json")), ("cuda", "bf16"))]
    for precision, quantize_args in (("bf16", ()), ("fp8", ("--calib-data", "random", "--calib-samples", "32"))):
        model, plan = work / f"r50.{precision}.onnx", work / f"r50_{precision}.plan"
        label = precision.upper()
        stages += [
            Stage(f"quantize-{precision}", 120, f"{label} ONNX model of the FP32 one (quantize --precision {precision})",
                  _cli("quantize", str(onnx), "--precision", precision, *quantize_args, "-o", str(model)),
                  ("cuda", precision, "export")),
            Stage(f"tensorrt-build-{precision}", 180, f"TensorRT {label} plan (strongly typed), batch 1..64, per-layer "
                  "precision check", _cli("build", str(model), "-o", str(plan), "--min-batch", "1", "--opt-batch", "8",
                                          "--max-batch", "64", "--timing-cache", str(work / "trt.cache")),
                  ("cuda", "tensorrt", precision, f"quantize-{precision}")),
            Stage(f"validate-tensorrt-{precision}", 90, f"TensorRT {label} plan vs ort-cpu on the FP32 model",
                  _cli("validate", str(plan), "--reference", str(onnx), "--json"),
                  ("cuda", "tensorrt", "validate", f"tensorrt-build-{precision}"),
                  stdout_to=f"validate/tensorrt-{precision}.json"),
            Stage(f"sweep-tensorrt-{precision}", 60, f"TensorRT {label} plan, batches {LOW_BATCHES}",
                  _cli("bench", "--engine", str(plan), "--backend", "tensorrt", "--batch-sizes", LOW_BATCHES,
                       *SWEEP_ARGS, "--save-json", str(sweep / f"tensorrt-{precision}.json")),
                  ("cuda", "tensorrt", f"tensorrt-build-{precision}")),
            Stage(f"validate-ort-cuda-{precision}", 90, f"ort-cuda {label} model vs ort-cpu on the FP32 model",
                  _cli("validate", str(model), "--backend", "ort-cuda", "--reference", str(onnx),
                       "--reference-backend", "ort-cpu", "--json"),
                  ("cuda", "ort-cuda", "validate", f"quantize-{precision}"),
                  stdout_to=f"validate/ort-cuda-{precision}.json"),
            Stage(f"sweep-ort-cuda-{precision}", 60, f"onnxruntime CUDA EP, {label} model, batches {LOW_BATCHES}",
                  _cli("bench", "--onnx", str(model), "--backend", "ort-cuda", "--batch-sizes", LOW_BATCHES,
                       *SWEEP_ARGS, "--save-json", str(sweep / f"ort-cuda-{precision}.json")),
                  ("cuda", "ort-cuda", f"quantize-{precision}")),
        ]
    return stages


# -- the wheels ------------------------------------------------------------------------------
def check_wheels(wheels: Path) -> tuple[list[str], list[str], list[str]]:
    """(whole wheel names, problems, notes) of a .whl/ folder made by fetch_gpu_wheels.sh."""
    if not wheels.is_dir():
        return [], [], [f"no wheel folder {wheels}: nothing to install (run scripts/fetch_gpu_wheels.sh on a "
                        "networked machine); ort-cuda needs onnxruntime-gpu"]
    sums_file = wheels / "SHA256SUMS"
    if not sums_file.is_file():
        return [], [f"{sums_file} is missing: re-run scripts/fetch_gpu_wheels.sh"], []
    names, problems = [], []
    for line in sums_file.read_text().splitlines():
        if not line.strip():
            continue
        digest, name = line.split(maxsplit=1)
        name = name.strip().lstrip("*")
        parts = sorted(wheels.glob(f"{name}.part-*"))
        whole = wheels / name
        if not whole.is_file() and not parts:
            problems.append(f"{name}: neither the wheel nor its parts are in {wheels}")
            continue
        numbers = [int(p.name.rsplit("-", 1)[1]) for p in parts]
        if parts and numbers != list(range(len(parts))):
            problems.append(f"{name}: parts {numbers} are not 000..{len(parts) - 1:03d} (one is missing)")
            continue
        sha = hashlib.sha256()
        for piece in parts or [whole]:
            with open(piece, "rb") as handle:
                for chunk in iter(lambda h=handle: h.read(1 << 22), b""):
                    sha.update(chunk)
        if sha.hexdigest() != digest:
            problems.append(f"{name}: sha256 does not match SHA256SUMS (a part is truncated or corrupt)")
            continue
        names.append(name)
    return names, problems, []


def install(wheels: Path, names: list[str], site: Path, log: Path) -> str:
    """Join split wheels, then pip install --no-index --no-deps --target SITE; returns a summary."""
    if site.exists():
        if not (site / SITE_MARKER).exists():
            raise RuntimeError(f"{site} exists and was not made by gpu_check; choose another RD_SITE")
        shutil.rmtree(site)
    joined = site.parent / (site.name + "-wheels")
    shutil.rmtree(joined, ignore_errors=True)
    joined.mkdir(parents=True)
    files = []
    for name in names:
        target = joined / name
        parts = sorted(wheels.glob(f"{name}.part-*"))
        with open(target, "wb") as out:
            for piece in parts or [wheels / name]:
                with open(piece, "rb") as handle:
                    shutil.copyfileobj(handle, out, 1 << 22)
        files.append(str(target))
    command = [_py(), "-m", "pip", "install", "--no-index", "--no-deps", "--disable-pip-version-check",
               "--target", str(site), *files]
    try:
        with open(log, "w") as handle:
            result = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=False, timeout=300)
    finally:
        shutil.rmtree(joined, ignore_errors=True)
    if result.returncode != 0:
        errors = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("ERROR")]
        raise RuntimeError(f"pip install failed: {errors[-1] if errors else _last_line(log)}")
    (site / SITE_MARKER).write_text("made by scripts/gpu_check.py; safe to delete\n")
    return f"{len(files)} wheels into {site}"


# -- prerequisites -----------------------------------------------------------------------------
PROBE = r"""
import importlib, importlib.util, json, re, sys
out = {"python": sys.version.split()[0], "missing": []}
try:
    import torch
    out["torch"] = torch.__version__
    out["cuda"] = bool(torch.cuda.is_available())
    out["gpu"] = torch.cuda.get_device_name(0) if out["cuda"] else None
    out["compute_capability"] = list(torch.cuda.get_device_capability(0)) if out["cuda"] else None
except Exception as exc:
    out["torch"] = None; out["cuda"] = False; out["torch_error"] = str(exc)
try:
    import onnxruntime as ort
    out["onnxruntime"] = {"file": ort.__file__, "version": ort.__version__, "providers": ort.get_available_providers()}
except Exception as exc:
    out["onnxruntime"] = {"error": str(exc)}
try:
    from resnet_deploy.optional import tensorrt_module
    trt = tensorrt_module()
    out["tensorrt"] = str(trt.__version__) if trt is not None else None
except Exception as exc:
    out["tensorrt"] = None; out["resnet_deploy_error"] = str(exc)
out["loadgen"] = importlib.util.find_spec("mlperf_loadgen") is not None
try:
    import tomllib
    deps = tomllib.loads(open(sys.argv[1]).read())["project"]["dependencies"]
except Exception:
    deps = []
modules = {"scikit-learn": "sklearn", "pillow": "PIL", "pydantic": "pydantic", "onnxslim": "onnxslim"}
for dep in deps:
    name = re.split(r"[<>=!~\[ ;]", dep, 1)[0].strip()
    module = modules.get(name.lower(), name.lower().replace("-", "_"))
    if importlib.util.find_spec(module) is None:
        out["missing"].append(name)
print(json.dumps(out))
"""


def probe(env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run([_py(), "-c", PROBE, str(ROOT / "pyproject.toml")], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=120, check=False)
    try:
        return dict(json.loads(result.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        return {"error": (result.stderr or result.stdout).strip()[-400:], "cuda": False, "missing": []}


def validate_interface(env: dict[str, str]) -> str | None:
    """None when `resnet-deploy validate` takes the options the validate stages use, else why not."""
    result = subprocess.run(_cli("validate", "--help"), capture_output=True, text=True, env=env, cwd=ROOT,
                            timeout=120, check=False)
    if result.returncode != 0:
        return f"`resnet-deploy validate --help` failed: {(result.stderr or result.stdout).strip()[-200:]}"
    missing = [option for option in VALIDATE_OPTIONS if option not in result.stdout]
    if missing:
        return (f"this resnet-deploy's validate lacks {', '.join(missing)} (the validate CLI that compares any "
                "backend with any reference has not landed yet)")
    return None


def tensorrt_cpp_reason() -> str | None:
    """None when the TensorRT C++ example can be built here (CMake, a compiler, TensorRT's headers
    and libnvinfer, the CUDA toolkit's headers), else what is missing. The pip wheels of TensorRT
    ship libnvinfer but no headers: the C++ example needs a TensorRT tarball, container or package."""
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    roots = [Path(r) for r in (os.environ.get("TENSORRT_ROOT"), "/usr", "/usr/local/tensorrt") if r]
    headers = [r / "include" / "NvInfer.h" for r in roots] + [Path("/usr/include/x86_64-linux-gnu/NvInfer.h"),
                                                              Path("/usr/include/aarch64-linux-gnu/NvInfer.h")]
    if not any(h.is_file() for h in headers):
        missing.append("TensorRT's headers (NvInfer.h; set TENSORRT_ROOT)")
    libs = [r / d for r in roots for d in ("lib", "lib64")] + [Path("/usr/lib/x86_64-linux-gnu"), Path("/usr/lib/aarch64-linux-gnu")]
    if not any((d / "libnvinfer.so").exists() for d in libs):
        missing.append("libnvinfer.so")
    cuda = [Path(os.environ.get("CUDA_HOME", "/usr/local/cuda")) / "include", Path("/usr/include")]
    if not any((d / "cuda_runtime_api.h").is_file() for d in cuda):
        missing.append("the CUDA toolkit's headers (cuda_runtime_api.h; set CUDA_HOME)")
    return f"cannot build the TensorRT C++ example: no {', '.join(missing)}" if missing else None


def requirement_reasons(facts: dict[str, Any], ort_from_wheels: bool,
                        loadgen_from_wheels: bool = False) -> dict[str, str | None]:
    """Prerequisite -> None when met, else the reason the stages that need it are skipped."""
    gpu_reason = None if facts.get("cuda") else (
        "no CUDA device visible (torch.cuda.is_available() is False"
        + (f"; torch {facts.get('torch')}" if facts.get("torch") else "") + ")")
    ort = facts.get("onnxruntime") or {}
    if "CUDAExecutionProvider" in (ort.get("providers") or []):
        ort_reason = None
    elif ort_from_wheels:
        ort_reason = None  # installed from .whl/ by the install stage; re-checked after it
    else:
        ort_reason = (f"onnxruntime here has no CUDAExecutionProvider ({ort.get('version') or ort.get('error')}); "
                      "onnxruntime-gpu is not in .whl/")
    trt_reason = None if facts.get("tensorrt") else "TensorRT does not import here (WITH_TENSORRT=1 fetches it)"
    loadgen_reason = None if facts.get("loadgen") or loadgen_from_wheels else (
        "MLPerf LoadGen (mlcommons-loadgen) is neither installed nor in .whl/ (fetch_gpu_wheels.sh fetches it)")
    capability = tuple(facts.get("compute_capability") or ())
    precision_reasons = {}
    for precision, needed in (("bf16", (8, 0)), ("fp8", (8, 9))):
        precision_reasons[precision] = None if not capability or capability >= needed else (
            f"{precision} needs compute capability {needed[0]}.{needed[1]}; {facts.get('gpu')} is "
            f"{'.'.join(map(str, capability))}")
    return {"cuda": gpu_reason, "ort-cuda": ort_reason, "tensorrt": trt_reason,
            "tensorrt-cpp": tensorrt_cpp_reason(), "mlperf": loadgen_reason, "validate": facts.get("validate_problem"),
            **precision_reasons}


# -- running -----------------------------------------------------------------------------------
def run_stage(stage: Stage, out: Path, env: dict[str, str], deadline: float) -> None:
    remaining = deadline - time.monotonic()
    timeout = int(min(stage.timeout, remaining))
    if timeout < 10:
        stage.status, stage.detail = "skipped", "the 9-minute budget ran out before this stage"
        return
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{stage.name}.log"
    stdout_path = out / stage.stdout_to if stage.stdout_to else log_path
    stdout_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(stdout_path, "w") as stdout, open(log_path, "a") as stderr:
        try:
            result = subprocess.run(stage.command, stdout=stdout, stderr=stderr if stdout_path != log_path else stdout,
                                    env=env, cwd=ROOT, timeout=timeout, check=False)
            code: int | None = result.returncode
        except subprocess.TimeoutExpired:
            code = None
    stage.seconds = time.monotonic() - started
    if code == 0:
        stage.status, stage.detail = "ran", ""
        return
    stage.status = "failed"
    tail = _last_line(log_path) or _last_line(stdout_path)
    stage.detail = f"timed out after {timeout} s" if code is None else f"exit {code}: {tail}"


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def stage_env(site: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(site)] if site is not None else []
    paths.append(str(ROOT))
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["RESNET_DEPLOY_TEST_DEVICE"] = "cuda"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def gate(stage: Stage, reasons: dict[str, str | None], done: dict[str, Stage]) -> str | None:
    for need in stage.needs:
        if reasons.get(need):
            return str(reasons[need])
        if need in done and done[need].status != "ran":
            return f"needs the {need} stage, which {'failed' if done[need].status == 'failed' else 'was skipped'}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir", type=Path, nargs="?")
    parser.add_argument("--dry-run", action="store_true", help="check every prerequisite and print the plan")
    parser.add_argument("--wheels", type=Path, default=Path(os.environ.get("RD_WHEELS", ROOT / ".whl")))
    parser.add_argument("--site", type=Path, default=Path(os.environ.get("RD_SITE", "/tmp/rd-site")))
    parser.add_argument("--export", type=Path, help=argparse.SUPPRESS)  # the export stage, in its own process
    parser.add_argument("--summary", action="store_true", help=argparse.SUPPRESS)  # the summary stage
    args = parser.parse_args(argv)
    if args.export is not None:
        return export_models(args.export)
    if args.outdir is None:
        parser.error("OUTDIR is required")
    if args.summary:
        from gpu_check_summary import write_summary  # type: ignore[import-not-found]

        return write_summary(args.outdir)
    return run_all(args)


def export_models(work: Path) -> int:
    from resnet_deploy.export import export_onnx
    from resnet_deploy.precision import convert_fp16

    work.mkdir(parents=True, exist_ok=True)
    fp32 = work / "r50.onnx"
    export_onnx(fp32, model="resnet50", input_size=224)
    convert_fp16(fp32, work / "r50.fp16.onnx")
    return 0


def run_all(args: argparse.Namespace) -> int:
    started = time.monotonic()
    deadline = started + BUDGET_S
    out: Path = args.outdir.resolve()
    if out.exists() and not out.is_dir():
        print(f"error: OUTDIR {out} is a file", file=sys.stderr)
        return 2
    work = out / "work"
    stages = plan_stages(out, work)
    names, wheel_problems, wheel_notes = check_wheels(args.wheels)
    has_ort_gpu = any(n.startswith("onnxruntime_gpu-") for n in names)
    hard: list[str] = list(wheel_problems)

    if args.dry_run:
        env = stage_env(None)
        facts = probe(env)
        facts["validate_problem"] = validate_interface(env)
        reasons = requirement_reasons(facts, has_ort_gpu, any(n.startswith("mlcommons_loadgen-") for n in names))
        if facts.get("error") or facts.get("resnet_deploy_error"):
            hard.append(f"resnet_deploy does not import: {facts.get('error') or facts.get('resnet_deploy_error')}")
        missing = [m for m in facts.get("missing", []) if m not in ("pydantic", "onnxslim") or not names]
        print(f"gpu_check dry run: python {facts.get('python')}, torch {facts.get('torch')}, "
              f"GPU: {facts.get('gpu') or 'none'}, onnxruntime {(facts.get('onnxruntime') or {}).get('version')}, "
              f"TensorRT {facts.get('tensorrt') or 'none'}")
        print(f"wheels ({args.wheels}): " + (", ".join(names) if names else "none")
              + "".join(f"\n  PROBLEM: {p}" for p in wheel_problems) + "".join(f"\n  note: {n}" for n in wheel_notes))
        if names:
            print(f"  would install them with pip --no-index --no-deps --target {args.site}, first on PYTHONPATH "
                  "(the image's torch is untouched; onnxruntime-gpu shadows the CPU onnxruntime)")
            tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
            foreign = [n for n in names if "-cp3" in n and f"-{tag}-" not in n]
            if foreign:
                print(f"  note: {', '.join(foreign)} are not for this Python ({tag}); they install on the GPU "
                      "image's Python 3.12")
        if missing:
            print(f"runtime dependencies that do not import here and are not in .whl/: {', '.join(missing)}")
        print("validate interface: " + ("ok (" + " ".join(VALIDATE_OPTIONS) + ")" if reasons["validate"] is None
                                        else f"MISSING: {reasons['validate']}"))
        print(f"plan (budget {BUDGET_S} s for the whole run; each stage has its own timeout):")
        planned: dict[str, Stage] = {}
        for stage in stages:
            why = gate(stage, reasons, planned)
            stage.status = "skipped" if why else "ran"
            planned[stage.name] = stage
            verdict = f"would skip: {why}" if why else "would run"
            print(f"  {stage.name:28s} {stage.timeout:4d} s  {verdict}\n      {stage.what}")
        print("  summary                        60 s  would run: merge the sweeps (JSON, CSV, Markdown, PNG) and "
              f"write {out / 'summary.md'}")
        for problem in hard:
            print(f"PROBLEM: {problem}", file=sys.stderr)
        return 2 if hard else 0

    if hard:
        for problem in hard:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    install_stage = Stage("install", 300, "wheels from .whl/ into a throw-away folder (pip --no-index --no-deps)")
    site: Path | None = None
    if names:
        t0 = time.monotonic()
        try:
            install_stage.detail = install(args.wheels, names, args.site, out / "logs" / "install.log")
            install_stage.status = "ran"
            site = args.site
        except Exception as exc:
            install_stage.status, install_stage.detail = "failed", str(exc)
        install_stage.seconds = time.monotonic() - t0
    else:
        install_stage.status, install_stage.detail = "skipped", "; ".join(wheel_notes) or "no wheels"
    env = stage_env(site)
    facts = probe(env)
    facts["validate_problem"] = validate_interface(env)
    (out / "prerequisites.json").write_text(json.dumps(facts, indent=2) + "\n")
    reasons = requirement_reasons(facts, False)
    ort = facts.get("onnxruntime") or {}
    if site is not None and reasons["ort-cuda"] is None and not str(ort.get("file", "")).startswith(str(site)):
        reasons["ort-cuda"] = f"onnxruntime resolves to {ort.get('file')}, not the installed onnxruntime-gpu"
    done: dict[str, Stage] = {"install": install_stage}
    print(f"[{time.monotonic() - started:5.0f} s] install: {install_stage.status} {install_stage.detail}", flush=True)
    for stage in stages:
        why = gate(stage, reasons, done)
        if why:
            stage.status, stage.detail = "skipped", why
        else:
            run_stage(stage, out, env, deadline)
        done[stage.name] = stage
        print(f"[{time.monotonic() - started:5.0f} s] {stage.name}: {stage.status}"
              + (f" ({stage.detail})" if stage.detail else ""), flush=True)
    record = {"budget_s": BUDGET_S, "elapsed_s": round(time.monotonic() - started, 1), "prerequisites": facts,
              "stages": [{"name": s.name, "what": s.what, "status": s.status, "detail": s.detail,
                          "seconds": round(s.seconds, 1), "timeout_s": s.timeout} for s in done.values()]}
    (out / "stages.json").write_text(json.dumps(record, indent=2) + "\n")
    summary = subprocess.run([_py(), str(Path(__file__).resolve()), str(out), "--summary"], env=env, cwd=ROOT,
                             timeout=120, check=False, capture_output=True, text=True)
    if summary.returncode != 0:
        print(f"summary failed: {(summary.stderr or summary.stdout).strip()[-500:]}", file=sys.stderr)
    else:
        print(summary.stdout.strip())
    failed = [s.name for s in done.values() if s.status == "failed"]
    print(f"done in {time.monotonic() - started:.0f} s; " + (f"FAILED: {', '.join(failed)}" if failed else "no stage failed")
          + f"; see {out / 'summary.md'}")
    return 1 if failed or summary.returncode != 0 else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main())

