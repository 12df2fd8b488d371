"""MLPerf Inference's load generator (LoadGen) driving any backend, in-process or through a
Triton server: the four scenarios, accuracy mode, MLPerf's results layout, and the peak
Server load within the latency bound (docs/mlperf.md).

    from resnet_deploy.mlperf import MlperfConfig, RunSettings, run_mlperf
    result = run_mlperf(MlperfConfig("r50.onnx", Path("out"), RunSettings(scenarios=("Offline",))))

Layer: beside serving and pipeline (it reads backends, compare, precision and bench below it).
LoadGen itself is imported only inside each scenario's process (child.py).
"""

from resnet_deploy.mlperf.result import MlperfResult, ScenarioRun
from resnet_deploy.mlperf.run import MlperfConfig, RunFailedError, run_mlperf
from resnet_deploy.mlperf.settings import SCENARIOS, RunSettings, Seeds

__all__ = ["SCENARIOS", "MlperfConfig", "MlperfResult", "RunFailedError", "RunSettings", "ScenarioRun", "Seeds",
           "run_mlperf"]
