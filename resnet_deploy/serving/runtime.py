"""The Triton server that `serve` runs, and the Python environment its models run in.

NVIDIA publishes a self-contained `tritonserver` build, with its Python backend, inside the
`nvidia-pytriton` wheel (Linux x86_64/aarch64; it starts on CPU-only machines). That wheel's
Python package pins numpy<2, so it is never installed into this environment. Instead the
wheel is installed once, without dependencies, into a cache folder (`pip install --no-deps
--target`), and `serve` drives its `tritonserver` directly with a Python-backend model of our
own that runs our runner.

Three facts decide how the backend's Python works (all measured on this project's machine):
- The backend's stub process embeds Python through `libpython3.X.so`. The dynamic loader
  finds the system's copy unless told otherwise; a venv of another interpreter build (pyenv
  3.11.7 vs Debian's 3.11.2) then imports a mismatched standard library and fails. So the
  stub gets LD_LIBRARY_PATH pointing at THIS interpreter's own shared libpython.
- The stub ignores PYTHON* variables (it starts like `python -E`) and finds its prefix by
  looking for `python3` on PATH. So the stub gets a tiny venv of this interpreter first on
  PATH whose one `.pth` file adds this environment's site-packages: the served model imports
  exactly the packages resnet-deploy runs with.
- The stub's tensor conversion was compiled against numpy 1.x: under numpy 2 it reads arrays
  with the wrong item size (zero strides on inputs, "output tensor shape does not match size"
  on outputs). So that venv puts numpy 1.26.4 (installed once into the cache) in front of
  this environment's numpy 2; onnxruntime, OpenVINO and torch wheels built against numpy 2
  run on numpy 1.x by numpy's compatibility rules.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import shutil
import site
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from resnet_deploy.atomic import atomic_directory, atomic_write_text
from resnet_deploy.errors import MissingDependencyError

log = logging.getLogger(__name__)

PYTRITON_VERSION = "0.7.0"  # bundles Triton Inference Server 2.51.0 (the NGC 24.10 release)
STUB_NUMPY = "1.26.4"  # the last numpy 1.x: wheels for Python 3.9-3.12
HOME_ENV = "RESNET_DEPLOY_TRITON_HOME"

Progress = Callable[[str], None]


def runtime_home() -> Path:
    """Where the server runtime is cached: $RESNET_DEPLOY_TRITON_HOME, else
    $XDG_CACHE_HOME/resnet-deploy/triton, else ~/.cache/resnet-deploy/triton."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "resnet-deploy" / "triton"


@dataclass(frozen=True)
class Interpreter:
    """This Python, as the backend stub must load it."""

    version: str  # "3.11"
    libdir: Path  # the folder holding libpython3.X.so.1.0
    executable: Path


def check_platform() -> None:
    """MissingDependencyError (exit 3) where the bundled server binary cannot run."""
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "aarch64"):
        raise MissingDependencyError(f"the Triton server that serve runs is built for Linux x86_64 and aarch64; this is "
                                     f"{sys.platform} {platform.machine()}: use Triton's container instead "
                                     "(resnet-deploy triton-repo, docs/serving.md)")


def check_interpreter() -> Interpreter:
    """This interpreter, if the Python backend can embed it: a shared libpython (the stub links
    it) and a Python version with a stub and numpy 1.x wheels (3.10-3.12)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if not (3, 8) <= sys.version_info[:2] <= (3, 12):
        raise MissingDependencyError(f"serve runs models in Triton's Python backend, whose stub needs numpy 1.x; numpy "
                                     f"1.x has no wheels for Python {version}: use Python 3.10-3.12")
    libdir = Path(str(sysconfig.get_config_var("LIBDIR") or ""))
    soname = str(sysconfig.get_config_var("INSTSONAME") or f"libpython{version}.so.1.0")
    if not sysconfig.get_config_var("Py_ENABLE_SHARED") or not (libdir / soname).is_file():
        raise MissingDependencyError(f"serve needs a Python built with a shared libpython (Triton's Python backend embeds "
                                     f"it); {sys.executable} is linked statically. Create the environment with "
                                     f"Debian/Ubuntu's /usr/bin/python{version}, conda, or pyenv with "
                                     "PYTHON_CONFIGURE_OPTS=--enable-shared")
    return Interpreter(version, libdir, Path(sys.executable))


@dataclass(frozen=True)
class TritonRuntime:
    """The cached server runtime for this Python version."""

    home: Path
    version: str  # Python version the backend folder was assembled for

    @property
    def server_root(self) -> Path:
        return self.home / f"pytriton-{PYTRITON_VERSION}"

    @property
    def server_binary(self) -> Path:
        return self.server_root / "pytriton" / "tritonserver" / "bin" / "tritonserver"

    @property
    def libs_dir(self) -> Path:
        return self.server_root / "nvidia_pytriton.libs"

    @property
    def backends_dir(self) -> Path:
        """A --backend-directory whose python/ holds the backend and the stub for this Python."""
        return self.home / f"backends-{PYTRITON_VERSION}-py{self.version}"

    @property
    def numpy_dir(self) -> Path:
        return self.home / f"numpy-{STUB_NUMPY}-py{self.version}"

    def is_complete(self) -> bool:
        return (self.server_binary.is_file() and (self.backends_dir / "python" / "triton_python_backend_stub").is_file()
                and (self.numpy_dir / "numpy").is_dir())


def find_runtime() -> TritonRuntime | None:
    runtime = TritonRuntime(runtime_home(), f"{sys.version_info.major}.{sys.version_info.minor}")
    return runtime if runtime.is_complete() else None


@contextlib.contextmanager
def _install_lock(home: Path) -> Iterator[None]:
    """One installer at a time (two test workers may both need the runtime)."""
    import fcntl

    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".install.lock", "w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pip_install_target(spec: str, final: Path, progress: Progress) -> None:
    """`pip install --no-deps --target` into a temporary folder beside `final`, then rename."""
    progress(f"installing {spec} into {final}")
    with atomic_directory(final, replace=True) as tmp:
        command = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-input", "--disable-pip-version-check",
                   "--quiet", "--target", str(tmp), spec]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            detail = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["no output"])[-1]
            raise MissingDependencyError(f"could not install {spec} for the Triton server runtime with pip "
                                         f"({detail}); check the network or the pip index, then run: "
                                         "resnet-deploy serve --setup")


def _assemble_backends(runtime: TritonRuntime) -> None:
    """backends-.../python/: the Python backend library, its utils and the stub for this Python."""
    source = runtime.server_root / "pytriton" / "tritonserver"
    stub = source / "python_backend_stubs" / runtime.version / "triton_python_backend_stub"
    if not stub.is_file():
        raise MissingDependencyError(f"nvidia-pytriton {PYTRITON_VERSION} has no Python backend stub for Python "
                                     f"{runtime.version}; use Python 3.10-3.12")
    with atomic_directory(runtime.backends_dir, replace=True) as tmp:
        (tmp / "python").mkdir()
        for name in ("libtriton_python.so", "triton_python_backend_utils.py"):
            shutil.copy2(source / "backends" / "python" / name, tmp / "python" / name)
        shutil.copy2(stub, tmp / "python" / "triton_python_backend_stub")


def install_runtime(progress: Progress | None = None) -> TritonRuntime:
    """Install (once) the Triton server from the nvidia-pytriton wheel, numpy 1.x for its
    Python backend, and the backend folder for this Python; returns the runtime. A
    download failure is MissingDependencyError (exit 3)."""
    report = progress or (lambda message: log.info("%s", message))
    check_platform()
    interpreter = check_interpreter()
    runtime = TritonRuntime(runtime_home(), interpreter.version)
    with _install_lock(runtime.home):
        if not runtime.server_binary.is_file():
            _pip_install_target(f"nvidia-pytriton=={PYTRITON_VERSION}", runtime.server_root, report)
        if not (runtime.numpy_dir / "numpy").is_dir():
            _pip_install_target(f"numpy=={STUB_NUMPY}", runtime.numpy_dir, report)
        if not (runtime.backends_dir / "python" / "triton_python_backend_stub").is_file():
            _assemble_backends(runtime)
    if not runtime.is_complete():  # pragma: no cover - pip reported success but left no server
        raise MissingDependencyError(f"the Triton server runtime in {runtime.home} is incomplete; remove the folder "
                                     "and run: resnet-deploy serve --setup")
    return runtime


def ensure_runtime(*, install: bool = True, progress: Progress | None = None) -> TritonRuntime:
    """The cached runtime; installed on first use when `install`, else MissingDependencyError."""
    check_platform()
    check_interpreter()
    runtime = find_runtime()
    if runtime is not None:
        return runtime
    if not install:
        raise MissingDependencyError(f"the Triton server runtime is not installed in {runtime_home()}; run: "
                                     "resnet-deploy serve --setup")
    return install_runtime(progress)


def make_stub_environment(folder: Path, runtime: TritonRuntime) -> Path:
    """A venv of this interpreter (no pip, a few kB) whose site-packages puts numpy 1.x first
    and then this environment's site-packages; returns its bin/ for the server's PATH."""
    import venv

    venv.EnvBuilder(with_pip=False, symlinks=True, clear=True).create(folder)
    site_packages = Path(sysconfig.get_path("purelib", vars={"base": str(folder), "platbase": str(folder)}))
    ours = [p for p in site.getsitepackages() if Path(p).is_dir()]
    if site.ENABLE_USER_SITE and Path(site.getusersitepackages()).is_dir():
        ours.append(site.getusersitepackages())
    package_root = Path(__file__).resolve().parents[2]  # resnet-deploy run from a source tree
    lines = [str(runtime.numpy_dir)]
    lines += [f"import site; site.addsitedir({p!r})" for p in ours]
    lines.append(str(package_root))
    atomic_write_text(site_packages / "resnet_deploy_serving.pth", "\n".join(lines) + "\n")
    return folder / "bin"


def server_environment(runtime: TritonRuntime, stub_bin: Path) -> dict[str, str]:
    """The server's environment: this interpreter's libpython and the wheel's libraries for the
    loader, the stub venv first on PATH."""
    interpreter = check_interpreter()
    env = dict(os.environ)
    libraries = [str(interpreter.libdir), str(runtime.libs_dir)]
    if env.get("LD_LIBRARY_PATH"):
        libraries.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = os.pathsep.join(libraries)
    env["PATH"] = os.pathsep.join([str(stub_bin), env.get("PATH", "")])
    for name in ("PYTHONHOME", "PYTHONPATH"):
        env.pop(name, None)
    return env
