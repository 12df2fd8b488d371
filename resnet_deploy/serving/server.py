"""`start_serving`: a real Triton Inference Server on this machine, serving one artifact with
our runner as a Python-backend model.

The server runs in its own process group (its backend stubs are its children in that
group), with the parent-death signal set, so stopping it - or this process dying - leaves no
orphan: `stop()` sends SIGTERM (Triton unloads its models and exits), waits, then SIGKILLs
whatever is left of the group. HTTP, gRPC and metrics endpoints are on, dynamic batching is
on, and readiness means the server AND the model are ready.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from resnet_deploy.atomic import atomic_write_text
from resnet_deploy.backends.registry import (
    check_run_precision,
    check_runs,
    default_backend,
    require_available,
)
from resnet_deploy.errors import CheckFailedError, InvalidInputError
from resnet_deploy.serving.model_config import ConfigRequest, resolve_max_batch
from resnet_deploy.serving.runtime import (
    TritonRuntime,
    ensure_runtime,
    make_stub_environment,
    server_environment,
)
from resnet_deploy.serving.signature import read_signature
from resnet_deploy.serving.triton_repo import _check_name, model_name_for, write_model_folder

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class ServeOptions:
    """How to serve. Ports 0 mean "any free port". `runner` is a resnet-deploy backend
    (ort-cpu, openvino, ort-cuda, ort-trt, tensorrt; default ort-cpu for ONNX, tensorrt for
    plans). `threads` per instance (default: the cores shared among the instances)."""

    runner: str | None = None
    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    max_batch: int | None = None
    instances: int = 1
    max_queue_delay_us: int = 0
    threads: int | None = None
    name: str | None = None
    precision: str | None = None  # a run precision the runner computes the model in (bf16: openvino)
    ready_timeout_s: float = 180.0
    exit_timeout_s: int = 10
    install: bool = True  # install the server runtime on first use


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the OS's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _check_port(host: str, port: int, param: str) -> None:
    if not 1 <= port <= 65535:
        raise InvalidInputError(f"{param} must be within 1..65535 (or 0 for any free port), got {port}", param=param)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise InvalidInputError(f"{param} {port} on {host} is not free ({exc.strerror}); choose another port",
                                    param=param) from exc


def _set_parent_death_signal() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the server gets SIGTERM if the process that started it dies."""
    import ctypes

    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def group_processes(pgid: int) -> list[int]:
    """The live processes of process group `pgid` (from /proc; zombies excluded)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(entry.name))
    return sorted(pids)


@dataclass
class ServingSession:
    """A running server. Use as a context manager (or call stop())."""

    artifact: Path
    model_name: str
    runner: str
    host: str
    http_port: int
    grpc_port: int
    metrics_port: int
    workdir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    runtime: TritonRuntime
    max_batch_size: int
    exit_timeout_s: int = 10
    _log_file: Any = field(default=None, repr=False)

    @property
    def http_url(self) -> str:
        return f"{self.host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self.metrics_port}/metrics"

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def processes(self) -> list[int]:
        """The server and its backend stubs (its process group)."""
        return group_processes(self.pid)

    def is_running(self) -> bool:
        return self.process.poll() is None

    def wait(self) -> int | None:
        """Block until SIGINT or SIGTERM (returns the signal number; handlers are installed when
        called from the main thread) or until the server exits by itself (returns None)."""
        received: list[int] = []
        stop = threading.Event()
        previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            def handler(signum: int, _frame: Any) -> None:
                received.append(signum)
                stop.set()

            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, handler)
        try:
            while not stop.wait(0.2):
                if self.process.poll() is not None:
                    break
        finally:
            for number, old in previous.items():
                signal.signal(number, old)
        return received[0] if received else None

    def stop(self) -> int | None:
        """SIGTERM the server, wait for it to unload (exit_timeout_s + 5 s), then SIGKILL what
        is left of its process group; removes the work folder. Returns the server's exit code."""
        code = self.process.poll()
        if code is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(timeout=self.exit_timeout_s + 5)
            except subprocess.TimeoutExpired:
                log.warning("the Triton server did not stop within %d s; killing it", self.exit_timeout_s + 5)
        self._kill_group()
        if code is None:
            code = self.process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        shutil.rmtree(self.workdir, ignore_errors=True)
        return code

    def _kill_group(self) -> None:
        deadline = time.monotonic() + 5.0
        while group_processes(self.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        return ""

    def __enter__(self) -> ServingSession:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


WORKDIR_PREFIX = "resnet-deploy-serve-"
OWNER_FILE = "owner.pid"


def remove_stale_workdirs() -> None:
    """Work folders left by a `serve` that was killed (SIGKILL leaves no chance to clean up):
    those whose owner process is gone are removed at the next start."""
    for folder in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        try:
            owner = int((folder / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        if not Path(f"/proc/{owner}").exists():
            shutil.rmtree(folder, ignore_errors=True)


def _first_error(log_text: str) -> str:
    """The most telling line of a failed start: a Python error, a failed load, or Triton's error."""
    lines = [line.strip() for line in log_text.splitlines() if line.strip()]
    for marker in ("Error:", "error:", "failed to load", "UNAVAILABLE"):
        hits = [line for line in lines if marker in line and "NVML" not in line and "DCGM" not in line
                and "CudaDriverHelper" not in line]
        if hits:
            return hits[-1][:400]
    return lines[-1][:400] if lines else "no output"


def _ready(host: str, port: int, model: str) -> bool:
    for path in ("/v2/health/ready", f"/v2/models/{model}/ready"):
        try:
            with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=2) as response:
                if response.status != 200:
                    return False
        except (urllib.error.URLError, OSError):
            return False
    return True


def _threads(options: ServeOptions) -> int | None:
    if options.threads is not None:
        if options.threads < 1:
            raise InvalidInputError(f"threads must be at least 1, got {options.threads}", param="threads")
        return options.threads
    if options.instances > 1:
        return max(1, (os.cpu_count() or 1) // options.instances)
    return None


def start_serving(artifact: str | os.PathLike[str], options: ServeOptions | None = None) -> ServingSession:
    """Start Triton with `artifact` (an ONNX model or a TensorRT plan) as one model run by our
    runner; returns once server and model are ready. Bad input is InvalidInputError (exit 2),
    a missing runtime or runner MissingDependencyError (exit 3), a server that does not come
    up CheckFailedError (exit 1) with Triton's own reason."""
    options = options or ServeOptions()
    artifact = Path(artifact)
    signature = read_signature(artifact)
    runner = options.runner or default_backend(signature.kind)
    try:
        check_runs(runner, artifact)
    except InvalidInputError as exc:
        raise InvalidInputError(str(exc), param="runner") from None
    if options.instances < 1:
        raise InvalidInputError(f"instances must be at least 1, got {options.instances}", param="instances")
    require_available(runner)
    check_run_precision(runner, options.precision)
    name = _check_name(options.name or model_name_for(artifact))
    ports = {}
    for param in ("http_port", "grpc_port", "metrics_port"):
        port = getattr(options, param)
        if port < 0:
            raise InvalidInputError(f"{param} must not be negative, got {port}", param=param)
        ports[param] = port or free_port(options.host)
        _check_port(options.host, ports[param], param)
    if len(set(ports.values())) != 3:
        raise InvalidInputError(f"the HTTP, gRPC and metrics ports must differ, got {sorted(ports.values())}",
                                param="http_port")
    threads = _threads(options)
    request = ConfigRequest(name=name, backend="python", max_batch=resolve_max_batch(signature, options.max_batch),
                            instances=options.instances, kind="cpu",
                            max_queue_delay_us=options.max_queue_delay_us if signature.batched else None,
                            labels=True, parameters={"artifact": str(artifact.resolve()), "runner": runner,
                                                     "threads": "" if threads is None else str(threads),
                                                     "precision": options.precision or ""})
    runtime = ensure_runtime(install=options.install)

    if sys.platform == "linux":
        remove_stale_workdirs()
    workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
    try:
        atomic_write_text(workdir / OWNER_FILE, f"{os.getpid()}\n")
        repository = workdir / "models"
        repository.mkdir()
        write_model_folder(repository / name, signature, request, {"model.py": Path(__file__).with_name("python_model.py")})
        stub_bin = make_stub_environment(workdir / "stub-env", runtime)
        log_path = workdir / "tritonserver.log"
        log_file = open(log_path, "wb")  # noqa: SIM115 - closed by the session
        command = [str(runtime.server_binary), f"--model-repository={repository}",
                   f"--backend-directory={runtime.backends_dir}",
                   f"--http-address={options.host}", f"--http-port={ports['http_port']}",
                   f"--grpc-address={options.host}", f"--grpc-port={ports['grpc_port']}",
                   f"--metrics-address={options.host}", f"--metrics-port={ports['metrics_port']}",
                   "--allow-http=true", "--allow-grpc=true", "--allow-metrics=true", "--allow-gpu-metrics=false",
                   "--strict-readiness=true", "--exit-on-error=true", "--disable-auto-complete-config",
                   f"--exit-timeout-secs={options.exit_timeout_s}", "--pinned-memory-pool-byte-size=0",
                   "--backend-config=python,shm-default-byte-size=4194304",
                   "--backend-config=python,shm-growth-byte-size=8388608", "--log-verbose=0"]
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                   env=server_environment(runtime, stub_bin), cwd=workdir, start_new_session=True,
                                   preexec_fn=_set_parent_death_signal if sys.platform == "linux" else None)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    session = ServingSession(artifact=artifact, model_name=name, runner=runner, host=options.host,
                             http_port=ports["http_port"], grpc_port=ports["grpc_port"],
                             metrics_port=ports["metrics_port"], workdir=workdir, process=process, log_path=log_path,
                             runtime=runtime, max_batch_size=int(request.max_batch or 0),
                             exit_timeout_s=options.exit_timeout_s, _log_file=log_file)
    try:
        _wait_ready(session, options.ready_timeout_s)
    except BaseException:
        session.stop()
        raise
    return session


def _wait_ready(session: ServingSession, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not session.is_running():
            raise CheckFailedError(f"the Triton server exited while starting (code {session.process.returncode}): "
                                   f"{_first_error(session.log_tail(200))}")
        if _ready(session.host, session.http_port, session.model_name):
            log.info("Triton is ready: model '%s' on http %s, grpc %s", session.model_name, session.http_url,
                     session.grpc_url)
            return
        time.sleep(0.2)
    raise CheckFailedError(f"the Triton server was not ready within {timeout_s:g} s: {_first_error(session.log_tail(200))}")
