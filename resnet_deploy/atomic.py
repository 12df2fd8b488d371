"""Writing files so that nothing is lost: atomic writes, the output guard, temporaries.

Every file is written to a temporary file in the same folder (`.NAME.PID.RANDOM.tmp`),
flushed to disk, and moved into place with one `os.replace`, so a crash never leaves a
half-written file under the final name. Temporaries are created with mode 0666 and the
process umask applies, exactly as for a plain `open()` (0644 under umask 022).

Temporaries left by a killed process are removed by the next write to the same folder (their
name carries the writer's PID, and only dead writers' files are removed). `guard_outputs`
refuses, before any work, an output that resolves to an input or an input's sidecar, and an
output whose folder is missing, not a folder, or not writable. An artifact and its sidecar
are committed together by resnet_deploy.sidecar.write_artifact, on top of this module.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import logging
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from resnet_deploy.errors import ArtifactError, InvalidInputError
from resnet_deploy.jsonfile import dumps_json

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".json"
PathLike = str | os.PathLike[str]

# Errors that mean "this output cannot be written here" (a user's problem, not a bug).
WRITE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EEXIST,
                errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.ENOENT}
# What libraries that do their own I/O (safetensors, torch, protobuf) say instead of raising OSError.
_WRITE_FAILURE_TEXT = re.compile(r"no space left on device|file too large|disk quota exceeded|read-only file system|"
                                 r"permission denied|os error (28|27|30|13|122)\b", re.IGNORECASE)
_TEMP_PATTERN = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$")


# -- fault injection (tests stop the writer after each step of a commit) ------------------
FaultHook = Callable[[str, Path], None]
_fault_hook: FaultHook | None = None


def set_fault_hook(hook: FaultHook | None) -> FaultHook | None:
    """Install `hook(step, path)` called after each step of every write (`path`: the file or
    folder being written); returns the previous hook. Tests use it to stop the writer at a
    chosen step, or to list the steps."""
    global _fault_hook
    previous, _fault_hook = _fault_hook, hook
    return previous


def fault_point(name: str, path: Path) -> None:
    if _fault_hook is not None:
        _fault_hook(name, path)


# -- paths -------------------------------------------------------------------------------
def sidecar_path(artifact: PathLike) -> Path:
    """`model.onnx` -> `model.onnx.json`: appended, so `x.onnx` and `x.plan` never collide."""
    path = Path(artifact)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _resolved(path: PathLike) -> Path:
    return Path(os.path.realpath(path))


def check_output_dir(path: PathLike) -> Path:
    """Refuse an output file whose folder does not exist, is not a folder or is not
    writable, or that is itself a folder (one clear line, before any work)."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise InvalidInputError(f"output folder '{parent}' does not exist; create it or choose another output")
    if not parent.is_dir():
        raise InvalidInputError(f"cannot write '{path}': '{parent}' is a file, not a folder")
    if path.is_dir():
        raise InvalidInputError(f"cannot write '{path}': it is a folder; give a file name")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidInputError(f"cannot write '{path}': the folder '{parent}' is not writable")
    return path


def check_output_folder(path: PathLike) -> Path:
    """Refuse an output folder that is a file, or that cannot be created or written."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise InvalidInputError(f"output folder '{path}' is not a folder (it is a file); give a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise InvalidInputError(f"output folder '{path}' is not writable")
        return path
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InvalidInputError(f"cannot create output folder '{path}': '{ancestor}' is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InvalidInputError(f"cannot create output folder '{path}': '{ancestor}' is not writable")
    return path


# -- the output guard ----------------------------------------------------------------------
_protected: contextvars.ContextVar[dict[Path, Path] | None] = contextvars.ContextVar("resnet_deploy_protected",
                                                                                    default=None)


def _input_files(inputs: Iterable[PathLike | None]) -> dict[Path, Path]:
    """resolved path -> the input it belongs to, for every input file and its sidecar."""
    files: dict[Path, Path] = {}
    for item in inputs:
        if item is None:
            continue
        path = Path(item)
        for candidate in (path, sidecar_path(path)):
            files.setdefault(_resolved(candidate), path)
    return files


def guard_outputs(*, inputs: Iterable[PathLike | None] = (), outputs: Iterable[PathLike | None] = (),
                  output_dirs: Iterable[PathLike | None] = ()) -> None:
    """Before any work: refuse an output file (or its sidecar) that resolves, symlinks
    included, to an input or an input's sidecar, and outputs that cannot be written.
    InvalidInputError (exit 2) naming both paths."""
    protected = {**(_protected.get() or {}), **_input_files(inputs)}
    for item in outputs:
        if item is None:
            continue
        out = Path(item)
        check_output_dir(out)
        for candidate in (out, sidecar_path(out)):
            source = protected.get(_resolved(candidate))
            if source is not None:
                what = "is" if candidate == out else "has a sidecar that is"
                raise InvalidInputError(f"output '{out}' {what} the input '{source}' (or its sidecar): writing it "
                                        "would overwrite an input; choose another output")
    for item in output_dirs:
        if item is not None:
            folder = check_output_folder(item)
            source = protected.get(_resolved(folder))
            if source is not None:
                raise InvalidInputError(f"output folder '{folder}' is the input '{source}'")


@contextlib.contextmanager
def protect_inputs(inputs: Iterable[PathLike | None]) -> Iterator[None]:
    """While the block runs, no write through this module may replace one of `inputs` or
    their sidecars (the net under outputs that are derived, not given)."""
    token = _protected.set({**(_protected.get() or {}), **_input_files(inputs)})
    try:
        yield
    finally:
        _protected.reset(token)


def refuse_protected(final: Path) -> None:
    source = (_protected.get() or {}).get(_resolved(final))
    if source is not None:
        raise InvalidInputError(f"refusing to write '{final}': it is the input '{source}' (or its sidecar), and "
                                "inputs are never overwritten; choose another output")


def _missing_chain(folder: Path) -> list[Path]:
    """`folder` and its ancestors that do not exist yet, deepest first."""
    chain = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        chain.append(probe)
        probe = probe.parent
    return chain


@contextlib.contextmanager
def folders_removed_on_failure(folders: Iterable[PathLike | None]) -> Iterator[None]:
    """If the block fails, remove those of `folders` (and their parents) that did not exist
    when it started and are still empty: a failed command leaves no empty folder behind."""
    chains = [_missing_chain(Path(folder)) for folder in folders if folder is not None]
    try:
        yield
    except BaseException:
        for chain in chains:
            for folder in chain:
                try:
                    folder.rmdir()
                except OSError:
                    break
        raise


# -- write errors as user errors -------------------------------------------------------------
def write_error(path: PathLike, exc: BaseException) -> ArtifactError:
    """One line for an output that could not be written (disk full, file-size limit,
    read-only or unwritable folder, ...), naming the path and the cause."""
    if isinstance(exc, OSError):
        name = errno.errorcode.get(exc.errno or 0, "") if exc.errno != errno.EIO else ""
        cause = f"{exc.strerror or exc}" + (f" ({name})" if name else "")
    else:
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ArtifactError(f"cannot write '{path}': {cause}; nothing was written")


def _diagnose(tmp: Path, exc: BaseException) -> OSError | None:
    """The file-system refusal behind `exc`, raised while writing `tmp`, or None when it is
    something else (a bug keeps its traceback). Libraries that do their own I/O (torch,
    safetensors) raise RuntimeError with their own text, so that text is read, and a full
    disk or the process's file-size limit are checked directly."""
    if isinstance(exc, OSError):
        return exc if exc.errno in WRITE_ERRNOS else None
    if not isinstance(exc, Exception):
        return None
    match = _WRITE_FAILURE_TEXT.search(str(exc))
    if match is not None:
        return OSError(errno.EIO, match.group(0))
    with contextlib.suppress(OSError):
        stat = os.statvfs(tmp.parent)
        if stat.f_bavail * stat.f_frsize < (1 << 16):
            return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with contextlib.suppress(ImportError, OSError, ValueError):
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
        if soft != resource.RLIM_INFINITY and tmp.exists() and tmp.stat().st_size >= soft - (1 << 16):
            return OSError(errno.EFBIG, os.strerror(errno.EFBIG) + ": the process's file-size limit")
    return None


# -- temporaries ---------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder: PathLike) -> list[Path]:
    """Remove this module's temporaries in `folder` whose writer process is gone (a SIGKILL
    or power loss mid-write); returns what was removed. Live writers' files are kept."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            match = _TEMP_PATTERN.match(entry.name)
            if match is None or _pid_alive(int(match["pid"])):
                continue
            path = Path(entry.path)
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(path)
                else:
                    path.unlink()
                removed.append(path)
    if removed:
        log.info("removed %d stale temporary file(s) in %s", len(removed), folder)
    return removed


def temp_name(final: PathLike) -> Path:
    """`.NAME.PID.RANDOM.tmp` beside `final`: hidden, unique, and recognisably ours."""
    final = Path(final)
    return final.with_name(f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _create_temp(final: Path) -> tuple[Path, int]:
    """An empty temporary beside `final`, created 0666 & ~umask; returns it and its mode."""
    tmp = temp_name(final)
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    try:
        mode = os.fstat(fd).st_mode & 0o777
    finally:
        os.close(fd)
    return tmp, mode


def _fsync_path(path: Path) -> None:
    """Flush a file (or, for a folder, its entries) to disk; best effort where unsupported."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if path.is_dir() else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _prepare(final: PathLike, *, folder: bool = False, annotation: bool = False) -> Path:
    """Check `final` can be written (a folder, with `folder`), is no input (unless it is an
    `annotation`: an input's sidecar updated to describe it), and clear the stale
    temporaries of dead writers beside it."""
    final = Path(final)
    if folder:
        if final.exists() and not final.is_dir():
            raise InvalidInputError(f"cannot write folder '{final}': it is a file")
        check_output_dir(final.parent / ".probe")  # the parent folder exists and is writable
    else:
        check_output_dir(final)
    if not annotation:
        refuse_protected(final)
    remove_stale_temps(final.parent)
    return final


@contextlib.contextmanager
def temp_folder(final: PathLike) -> Iterator[Path]:
    """A temporary folder beside `final` (for writers that produce several files, e.g. ONNX
    with external data), removed when the block ends. Named like the temporary files."""
    final = _prepare(final)
    folder = temp_name(final)
    try:
        folder.mkdir()
    except OSError as exc:
        raise write_error(final, exc) from exc
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def commit_file(tmp: Path, final: Path, mode: int | None = None) -> None:
    """Flush `tmp`, give it the umask's mode and move it over `final` (one atomic step)."""
    if mode is not None:
        os.chmod(tmp, mode)
    _fsync_path(tmp)
    os.replace(tmp, final)
    _fsync_path(final.parent if str(final.parent) else Path("."))


@contextlib.contextmanager
def atomic_path(final: PathLike, *, annotation: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `final`; move it over `final` only if the block succeeds.
    A file-system refusal (disk full, read-only, ...) becomes one ArtifactError line; on any
    failure (Ctrl-C and SIGTERM included) the temporary is removed and `final` is untouched.
    `annotation` (write_sidecar only) lets an input's own sidecar be updated."""
    final = _prepare(final, annotation=annotation)
    try:
        tmp, mode = _create_temp(final)
    except OSError as exc:
        raise write_error(final, exc) from exc
    try:
        yield tmp
        fault_point("temp-written", final)
        commit_file(tmp, final, mode)
        fault_point("committed", final)
    except BaseException as exc:
        cause = _diagnose(tmp, exc)
        with contextlib.suppress(OSError):
            tmp.unlink()
        if cause is not None and not isinstance(exc, ArtifactError):
            raise write_error(final, cause) from exc
        raise


@contextlib.contextmanager
def atomic_directory(final: PathLike, *, replace: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside `final`; when the block succeeds it becomes
    `final` by one rename, so readers (a Triton server polling a model repository) see the old
    folder or the complete new one, never a half-written one. An existing `final` is refused
    unless `replace`; then it is renamed aside first (`.NAME.PID.RANDOM.old`, which stale-temp
    cleanup never touches, so a crash between the two renames loses nothing) and removed
    after the swap. On failure the temporary folder is removed and `final` is untouched."""
    final = _prepare(final, folder=True)
    if final.exists() and not replace:
        raise InvalidInputError(f"'{final}' already exists; remove it or allow replacing it", param="replace")
    tmp = temp_name(final)
    try:
        tmp.mkdir()  # 0777 & ~umask, as a plain mkdir
    except OSError as exc:
        raise write_error(final, exc) from exc
    try:
        yield tmp
        fault_point("folder-written", final)
        if final.exists():
            aside = tmp.with_name(tmp.name[: -len(".tmp")] + ".old")
            os.rename(final, aside)
            try:
                os.rename(tmp, final)
            except OSError:
                os.rename(aside, final)  # put the old folder back
                raise
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.rename(tmp, final)
        _fsync_path(final.parent)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:
            raise write_error(final, exc) from exc
        raise


def atomic_write_bytes(final: PathLike, data: bytes) -> Path:
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
    return Path(final)


def atomic_write_text(final: PathLike, text: str) -> Path:
    return atomic_write_bytes(final, text.encode("utf-8"))


def atomic_write_with(final: PathLike, writer: Callable[[Path], Any]) -> Path:
    """Let `writer(tmp_path)` produce the file (e.g. onnx.save, safetensors.save_file)."""
    with atomic_path(final) as tmp:
        writer(tmp)
    return Path(final)


def write_json(final: PathLike, data: Any) -> Path:
    """`data` as indented JSON (dumps_json), written atomically."""
    return atomic_write_text(final, dumps_json(data))
