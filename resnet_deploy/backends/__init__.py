"""One runner per runtime, all with the same small interface (see base.py).

Each runner module imports its runtime lazily, inside activate(), so importing this package
never needs onnxruntime-gpu, TensorRT, cuda-python or OpenVINO.
"""

from resnet_deploy.backends.base import DeviceTimingHooks, Runner, TensorInfo
from resnet_deploy.backends.registry import BACKENDS, RunOptions, open_runner

__all__ = ["BACKENDS", "DeviceTimingHooks", "RunOptions", "Runner", "TensorInfo", "open_runner"]
