"""What can be allocated: the memory check honours the process's own limits (ulimit -v, the
cgroup's memory limit), and a runtime that fails to allocate anyway is bad input (exit 2)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from resnet_deploy import memory
from resnet_deploy.errors import InvalidInputError


def _cgroup(tmp_path: Path, line: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    proc = tmp_path / "proc_cgroup"
    proc.write_text(line + "\n")
    return root, proc


def test_cgroup_v2_limit_less_usage(tmp_path: Path) -> None:
    root, proc = _cgroup(tmp_path, "0::/job/42", {"job/42/memory.max": "1000000\n", "job/42/memory.current": "400000\n"})
    assert memory.cgroup_memory_left(root, proc) == 600000
    root, proc = _cgroup(tmp_path / "max", "0::/job", {"job/memory.max": "max\n", "job/memory.current": "5\n"})
    assert memory.cgroup_memory_left(root, proc) is None


def test_cgroup_v1_limit_and_the_container_root(tmp_path: Path) -> None:
    files = {"memory/memory.limit_in_bytes": "2000000\n", "memory/memory.usage_in_bytes": "500000\n"}
    root, proc = _cgroup(tmp_path, "4:memory:/docker/abc", files)  # the path is not mounted: the root is read
    assert memory.cgroup_memory_left(root, proc) == 1500000
    unlimited = {"memory/memory.limit_in_bytes": "9223372036854771712\n", "memory/memory.usage_in_bytes": "1\n"}
    root, proc = _cgroup(tmp_path / "u", "4:memory:/", unlimited)
    assert memory.cgroup_memory_left(root, proc) is None


def test_the_tightest_limit_is_checked_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 64 * 2**30)
    monkeypatch.setattr(memory, "address_space_left", lambda: None)
    monkeypatch.setattr(memory, "cgroup_memory_left", lambda: 2 * 2**30)
    with pytest.raises(InvalidInputError, match=r"more than the 2.0 GiB left under the cgroup's memory limit"):
        memory.require_memory(3 * 2**30, "this batch")
    memory.require_memory(2**30, "this batch")


def _python(code: str, limit: int) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter whose address space is limited to `limit` bytes more than
    it has mapped once numpy and onnxruntime are loaded (as `ulimit -v` would limit it)."""
    prelude = textwrap.dedent(f"""
        import resource
        import numpy, onnxruntime
        from resnet_deploy import memory
        mapped = memory._status_bytes("VmSize")
        resource.setrlimit(resource.RLIMIT_AS, (mapped + {limit}, resource.RLIM_INFINITY))
    """)
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120)


def test_the_address_space_limit_is_honoured() -> None:
    done = _python("""
        left = memory.address_space_left()
        assert left is not None and left <= 512 * 2**20, left
        print(memory.usable_memory().source)
        try:
            memory.require_memory(2**30, "one GiB")
        except memory.InvalidInputError as exc:
            print(exc)
    """, 512 * 2**20)
    assert done.returncode == 0, done.stderr
    assert "ulimit -v" in done.stdout and "one GiB needs about 1.0 GiB" in done.stdout, done.stdout


def test_onnxruntime_failing_to_allocate_is_bad_input(tmp_path: Path) -> None:
    """onnxruntime raises its own `Fail` (not MemoryError) when its arena cannot grow."""
    from resnet_deploy.export import export_onnx

    model = export_onnx(tmp_path / "r20.onnx", model="resnet20", exporter="torchscript").path
    done = _python(f"""
        from resnet_deploy.backends.onnxruntime_runner import OnnxRuntimeRunner
        with OnnxRuntimeRunner({str(model)!r}, threads=1) as runner:
            feeds = {{runner.inputs()[0].name: numpy.zeros((8000, 3, 32, 32), numpy.float32)}}
            try:
                with memory.allocation_failures_are_bad_input("ort-cpu at batch 8000", param="batch_sizes"):
                    runner.infer(feeds)
            except memory.InvalidInputError as exc:
                print("refused:", exc.param, exc)
    """, 768 * 2**20)
    assert done.returncode == 0, done.stderr
    assert "refused: batch_sizes ort-cpu at batch 8000 ran out of memory" in done.stdout, done.stdout + done.stderr
    assert "[E:onnxruntime" not in done.stderr  # the error is the exception, not a log line as well


@pytest.mark.parametrize(("error", "expected"), [
    (MemoryError(), True),
    (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 800 bytes"), True),
    (RuntimeError("std::bad_alloc"), True),
    (type("Fail", (Exception,), {})("[ONNXRuntimeError] : 1 : FAIL : Failed to allocate memory for buffer"), True),
    (RuntimeError("shape mismatch"), False),
    (InvalidInputError("out of memory is a phrase in a message"), False),
])
def test_allocation_failures_are_recognised(error: Exception, expected: bool) -> None:
    assert memory.is_allocation_failure(error) is expected
