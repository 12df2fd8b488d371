"""One runner per runtime, all with the same small interface (see base.py).

Each runner module imports its runtime lazily, inside activate(), so importing this package
never needs onnxruntime-gpu, TensorRT, cuda-python or OpenVINO.
"""

from resnet_deploy.backends.base import BACKENDS, DeviceTimingHooks, Runner, TensorInfo

__all__ = ["BACKENDS", "DeviceTimingHooks", "Runner", "TensorInfo"]
