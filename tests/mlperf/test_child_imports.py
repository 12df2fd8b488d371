"""An MLPerf child that runs an ONNX model never imports torch (1.4 s of start-up per scenario)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# What a child imports to run an ONNX model on onnxruntime: its own modules, the runner, and
# the model description the runner reads (export.artifact, export.detect).
PROBE = """
import sys
import resnet_deploy.mlperf.child, resnet_deploy.mlperf.suts, resnet_deploy.mlperf.samples
import resnet_deploy.mlperf.predictors
from resnet_deploy.backends.registry import RunOptions, open_runner
runner = open_runner("ort-cpu", sys.argv[1], RunOptions(threads=1))
with runner:
    runner.inputs()
print("torch" in sys.modules)
"""


def test_running_an_onnx_model_in_a_child_does_not_import_torch(digits_r20: Path) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, str(digits_r20)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False", "torch was imported"
