"""Where the time goes, per layer: each runtime's own profiler (onnxruntime's trace, OpenVINO's
performance counters, torch.profiler, TensorRT's IProfiler) read into one record, and two
profiles compared layer by layer through the ONNX nodes each layer came from.

    result = profile_model("r50.onnx", backend="openvino", settings=ProfileSettings(iterations=50))
    print(result.layer_sum_ms, result.end_to_end_ms)
    diff = compare_profiles(result, profile_model("r50.int8.onnx", backend="openvino"))
"""

from resnet_deploy.profile.diff import LayerPair, ProfileComparison, compare_profiles
from resnet_deploy.profile.profiler import PROFILERS, profile_model
from resnet_deploy.profile.record import LayerTime, ProfileResult
from resnet_deploy.profile.settings import ProfileSettings

__all__ = ["PROFILERS", "LayerPair", "LayerTime", "ProfileComparison", "ProfileResult",
           "ProfileSettings", "compare_profiles", "profile_model"]
