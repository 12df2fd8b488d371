"""Compare any runtime with any other (Polygraphy's split of loaders, runners and a
comparator): `stats` judges two outputs, `inputs` says what is fed, `comparator` feeds the
same inputs to any list of runners and compares them pairwise, `validate` is the command's
library function."""

from resnet_deploy.compare.stats import (
    DEFAULT_TOLERANCES,
    OutputComparison,
    Tolerance,
    compare_outputs,
    lower_precision,
)
from resnet_deploy.compare.validate import ValidationReport, validate, validate_onnx

__all__ = ["DEFAULT_TOLERANCES", "OutputComparison", "Tolerance", "ValidationReport", "compare_outputs",
           "lower_precision", "validate", "validate_onnx"]
