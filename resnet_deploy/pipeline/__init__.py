"""The end-to-end job: train, export, validate, quantize, build, benchmark, report.

    from resnet_deploy.pipeline import PipelineConfig, run_pipeline
    result = run_pipeline(PipelineConfig(model="resnet20", dataset="digits", out=Path("runs/demo")))
    result.report_md, result.exit_code
"""

from resnet_deploy.pipeline.run import PipelineConfig, PipelineResult, run_pipeline

__all__ = ["PipelineConfig", "PipelineResult", "run_pipeline"]
