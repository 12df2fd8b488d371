"""`run_pipeline(PipelineConfig)`: train -> export -> validate -> FP16/INT8 -> accuracy ->
TensorRT engines -> bench -> one Markdown and HTML report, all under one output folder.

Each stage calls the library function that its own CLI command calls; this module only
chains them, records what each produced (or why it was skipped) and writes the report.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resnet_deploy.atomic import check_output_folder, write_json
from resnet_deploy.environment import gpu_info
from resnet_deploy.errors import CheckFailedError, InvalidInputError
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.pipeline.skips import Skip, backend_skip
from resnet_deploy.pipeline.steps import SkipStep, StepLog
from resnet_deploy.pipeline.summaries import (
    AccuracySummary,
    BenchSummary,
    ExportSummary,
    ModelVerdict,
    PrecisionSummary,
    TensorRTSummary,
    TrainSummary,
    ValidationSummary,
)
from resnet_deploy.pipeline.variants import Variant, build_variants

if TYPE_CHECKING:
    from resnet_deploy.bench.result import BenchResult

log = logging.getLogger(__name__)


@dataclass
class PipelineConfig:
    """What `resnet-deploy pipeline` runs. `quick` shrinks every stage for a smoke run:
    fewer epochs and samples, and a short benchmark."""

    model: str = "resnet20"
    dataset: str = "digits"
    out: Path = Path("runs/pipeline")
    epochs: int | None = None
    quick: bool = False
    data_dir: Path | None = None
    batch_sizes: list[int] | None = None
    bench_duration_s: float | None = None
    bench_warmup: str | None = None
    calib_samples: int | None = None
    eval_limit: int | None = None
    train_limit: int | None = None
    threads: int | None = None
    seed: int = 0
    max_drop: float | None = None  # top-1 drop (points) that fails a model; None: `accuracy`'s per-precision limits
    checkpoint: Path | None = None  # start from this checkpoint instead of training
    train_options: dict[str, Any] = field(default_factory=dict)

    def resolved(self) -> PipelineConfig:
        """Fill the defaults that depend on `quick`."""
        c = PipelineConfig(**{k: v for k, v in asdict(self).items()})
        c.out = Path(self.out)
        if c.epochs is None:
            c.epochs = 2 if c.quick else 5
        if c.batch_sizes is None:
            c.batch_sizes = [1, 8] if c.quick else [1, 8, 32]
        if c.bench_duration_s is None:
            c.bench_duration_s = 0.3 if c.quick else 1.0
        if c.bench_warmup is None:
            c.bench_warmup = "3" if c.quick else "0.3s"
        if c.calib_samples is None:
            c.calib_samples = 32 if c.quick else 256
        c.check()
        return c

    def check(self) -> None:
        """Refuse bad settings up front (exit 2), before any stage runs or any report is written."""
        from resnet_deploy.data.registry import entry
        from resnet_deploy.models import get_entry

        self.model = get_entry(self.model).name
        if entry(self.dataset).needs_folder and self.checkpoint is None and self.data_dir is None:
            raise InvalidInputError(f"dataset {self.dataset} is read from disk: give its folder (`data_dir`)",
                                    param="data_dir")
        if self.data_dir is not None and not Path(self.data_dir).is_dir():
            raise InvalidInputError(f"dataset folder '{self.data_dir}' does not exist", param="data_dir")
        if self.checkpoint is not None and not Path(self.checkpoint).is_file():
            raise InvalidInputError(f"checkpoint '{self.checkpoint}' does not exist", param="checkpoint")
        for name in ("epochs", "calib_samples", "eval_limit", "train_limit", "threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InvalidInputError(f"`{name}` must be at least 1, got {value}", param=name)
        if self.bench_duration_s is not None and not self.bench_duration_s > 0:
            raise InvalidInputError(f"`bench_duration_s` must be positive, got {self.bench_duration_s}",
                                    param="bench_duration_s")
        if self.max_drop is not None and not 0 <= self.max_drop < float("inf"):
            raise InvalidInputError(f"`max_drop` must be a finite number >= 0, got {self.max_drop}", param="max_drop")


@dataclass
class PipelineResult:
    config: PipelineConfig
    steps: list[JsonObject]
    report_md: Path
    report_html: Path
    results_json: Path
    failed: list[str]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


@dataclass
class Context:
    """What each stage leaves for the next: files made, the JSON of each report, and the
    backends that cannot run here."""

    gpu: bool = False  # an NVIDIA GPU is visible (else every GPU backend is skipped for that)
    checkpoint: Path | None = None
    onnx: Path | None = None
    variants: dict[str, Variant] = field(default_factory=dict)
    plans: dict[str, Path] = field(default_factory=dict)
    train: JsonObject | None = None
    validation: JsonObject | None = None
    accuracy: JsonObject | None = None
    bench: JsonObject | None = None
    backend_skips: list[Skip] = field(default_factory=list)


def _train(cfg: PipelineConfig, steps: StepLog, ctx: Context) -> None:
    if cfg.checkpoint is not None:
        from resnet_deploy.sidecar import require_file

        ctx.checkpoint = require_file(cfg.checkpoint, "checkpoint")
        steps.skip("train", f"started from the given checkpoint {cfg.checkpoint}")
        return
    with steps.step("train", f"train {cfg.model} on {cfg.dataset} for {cfg.epochs} epoch(s)") as record:
        from resnet_deploy.train import TrainConfig, train

        # overwrite: a pipeline re-run into the same --out trains again from scratch.
        options: dict[str, Any] = {"model": cfg.model, "dataset": cfg.dataset, "epochs": cfg.epochs,
                                   "out": cfg.out / "train", "seed": cfg.seed, "data_dir": cfg.data_dir,
                                   "train_limit": cfg.train_limit, "overwrite": True}
        options.update(cfg.train_options)
        result = train(TrainConfig(**options), progress=steps.interactive)
        checkpoint = Path(result.best_checkpoint)
        ctx.checkpoint = checkpoint
        data = result.to_dict()
        ctx.train = data
        record.artifacts.append(str(checkpoint))
        record.summary = TrainSummary(result.best_val_top1, result.best_epoch, result.epochs_run,
                                      result.train_images_per_second, checkpoint.name)


def _export(cfg: PipelineConfig, steps: StepLog, ctx: Context) -> None:
    if ctx.checkpoint is None:
        steps.skip("export", "needs the trained checkpoint (training did not run)")
        return
    with steps.step("export", "export to ONNX (FP32, dynamic batch)") as record:
        from resnet_deploy.export import export_onnx

        result = export_onnx(cfg.out / "model.onnx", checkpoint=ctx.checkpoint)
        ctx.onnx = result.path
        record.artifacts.append(str(result.path))
        meta, spec = result.metadata, result.metadata.input_spec
        record.summary = ExportSummary(result.path.name, meta.opset, sum((meta.op_histogram or {}).values()),
                                       [] if spec is None else [spec.channels, spec.height, spec.width],
                                       "dynamic" if meta.batch is None else meta.batch, result.path.stat().st_size / 1e6)


def _validate(cfg: PipelineConfig, steps: StepLog, ctx: Context) -> None:
    if ctx.onnx is None:
        steps.skip("validate", "needs the exported ONNX model")
        return
    with steps.step("validate", "validate onnxruntime against PyTorch") as record:
        from resnet_deploy.compare import validate_onnx

        report = validate_onnx(ctx.onnx, checkpoint=ctx.checkpoint, dataset=cfg.dataset, data_dir=cfg.data_dir,
                               limit=cfg.eval_limit or (64 if cfg.quick else 256), threads=cfg.threads)
        data = report.to_dict()
        ctx.validation = data
        outputs = [c for pair in report.comparisons for c in pair.outputs.values()]
        agreements = [c.top1_agreement for c in outputs if c.top1_agreement is not None]
        tolerance = report.tolerance
        record.summary = ValidationSummary(
            report.passed, data["model"]["backend"], data["reference"].get("backend", "saved outputs"),
            int(report.inputs.get("samples", 0)), [pair.batch_size for pair in report.comparisons],
            max((c.max_error for c in outputs), default=0.0), max((c.max_abs for c in outputs), default=0.0),
            min((c.cosine for c in outputs), default=1.0), min(agreements) if agreements else None,
            tolerance.max_error, tolerance.min_cosine, tolerance.min_top1)
        if not report.passed:
            raise CheckFailedError("onnxruntime disagrees with PyTorch: " + "; ".join(report.failures()[:3]))


def _precision(cfg: PipelineConfig, steps: StepLog, ctx: Context) -> None:
    if ctx.onnx is None:
        steps.skip("precision", "needs the exported ONNX model")
        ctx.variants = {}
        return
    with steps.step("precision", "FP16 conversion and INT8 calibration (tensorrt and cpu layouts)") as record:
        variants = build_variants(ctx.onnx, cfg.out, calib=cfg.dataset, samples=cfg.calib_samples or 256,
                                  method="max", data_dir=cfg.data_dir, stem="model")
        ctx.variants = variants
        record.summary = PrecisionSummary([n for n, v in variants.items() if n != "fp32" and v.ok],
                                          [n for n, v in variants.items() if not v.ok])
        record.artifacts += [str(v.path) for v in variants.values() if v.path and v.name != "fp32"]
        if not any(v.ok for n, v in variants.items() if n != "fp32"):
            raise SkipStep("no variant could be made: " + "; ".join(f"{n}: {v.reason}" for n, v in variants.items() if not v.ok))


def _accuracy(cfg: PipelineConfig, steps: StepLog, ctx: Context) -> None:
    variants: dict[str, Variant] = ctx.variants
    others = [v for n, v in variants.items() if n != "fp32" and v.ok]
    if not others:
        steps.skip("accuracy", "no FP16/INT8 model to compare with FP32")
        return
    with steps.step("accuracy", f"accuracy of {', '.join(v.name for v in others)} against FP32") as record:
        # `resnet-deploy accuracy`'s own function: its limits (cfg.max_drop, else its per-precision
        # defaults), its 95% intervals and verdicts, its failures.
        from resnet_deploy.precision.accuracy import evaluate_accuracy

        report = evaluate_accuracy([v.path for v in others if v.path], dataset=cfg.dataset, reference=variants["fp32"].path,  # type: ignore[arg-type]
                                   data_dir=cfg.data_dir, limit=cfg.eval_limit or (200 if cfg.quick else None),
                                   max_drop=cfg.max_drop, threads=cfg.threads)
        ctx.accuracy = report.to_dict()
        names = {v.path.name: v.name for v in others if v.path}
        record.summary = AccuracySummary(bool(report), report.samples, report.reference.top1, [
            ModelVerdict(names.get(Path(m.model).name, Path(m.model).name), m.precision, m.top1, m.drop, m.drop_low,
                         m.drop_high, m.max_drop, m.passed, m.verdict)
            for m in report.models])
        if not report:
            raise CheckFailedError("accuracy check failed: " + "; ".join(report.failures))


def _tensorrt(cfg: PipelineConfig, steps: StepLog, ctx: Context) -> None:
    from resnet_deploy.backends.registry import unavailable

    ctx.plans = {}
    why = unavailable("tensorrt")  # the TensorRT backend's row says what building engines needs
    if why is not None:
        skip = backend_skip(why, gpu=ctx.gpu)
        reason = why.cause if skip.cause == why.cause else f"{skip.cause}; {why.cause}"
        steps.skip("tensorrt", reason, cause=skip.cause, package=skip.package, install=skip.install)
        return
    variants: dict[str, Variant] = ctx.variants
    sources = {n: variants[n] for n in ("fp16", "int8-tensorrt") if n in variants and variants[n].ok}
    if not sources:
        steps.skip("tensorrt", "no FP16 or INT8 (tensorrt layout) ONNX model to build from")
        return
    with steps.step("tensorrt", f"build TensorRT engines ({', '.join(sources)})") as record:
        from resnet_deploy.tensorrt import build_engine

        top = max(cfg.batch_sizes or [32])
        for name, variant in sources.items():
            plan = cfg.out / f"model.{name}.plan"
            assert variant.path is not None  # sources holds only variants that were made
            build_engine(variant.path, plan, min_batch=1, opt_batch=top, max_batch=top)
            ctx.plans[name] = plan
            record.artifacts.append(str(plan))
        record.summary = TensorRTSummary([p.name for p in ctx.plans.values()], top)


def _bench(cfg: PipelineConfig, steps: StepLog, ctx: Context) -> None:
    from resnet_deploy.backends.registry import BACKENDS, RunOptions, backend_names, unavailable
    from resnet_deploy.bench import BackendSpec, BenchConfig, Warmup, run_benchmark
    from resnet_deploy.bench.plan import Source, plan_specs
    from resnet_deploy.pipeline.variants import VARIANTS

    variants: dict[str, Variant] = ctx.variants
    if not variants and ctx.checkpoint is None:
        steps.skip("bench", "nothing to benchmark: no checkpoint and no ONNX model")
        return
    with steps.step("bench", "benchmark every available backend") as record:
        missing = {name: why for name in BACKENDS if (why := unavailable(name)) is not None}
        ctx.backend_skips = [backend_skip(why, gpu=ctx.gpu) for why in missing.values()]
        specs: list[BackendSpec] = []
        if ctx.checkpoint is not None and "torch" not in missing:
            specs.append(BackendSpec("torch", artifact=ctx.checkpoint, label="torch fp32"))
            if "torch-cudagraph" not in missing:  # a CUDA device is visible
                fp16 = RunOptions(precision="fp16", channels_last=True)
                specs += [BackendSpec("torch", artifact=ctx.checkpoint, label="torch cuda fp16 channels_last",
                                      options=replace(fp16, device="cuda")),
                          BackendSpec("torch-cudagraph", artifact=ctx.checkpoint, label="torch cuda graph fp16",
                                      options=fp16)]
        # Every available ONNX backend times each variant whose precision and INT8 layout it runs.
        sources = [Source(variant.path, *VARIANTS[name], label=f"{{backend}} {name}")
                   for name, variant in variants.items() if variant.path is not None and name in VARIANTS]
        ready = [name for name in backend_names("onnx") if name not in missing]
        for name in ready if sources else ():
            specs += plan_specs(sources, [name], suited=True)
        for name, plan in ctx.plans.items():
            specs.append(BackendSpec("tensorrt", artifact=plan, label=f"tensorrt {name}"))
        if not specs:
            raise SkipStep("no backend available")
        config = BenchConfig(specs, batch_sizes=cfg.batch_sizes, warmup=Warmup.parse(cfg.bench_warmup),
                             duration_s=cfg.bench_duration_s, iterations=None, threads=cfg.threads)
        report = run_benchmark(config, progress=lambda m: steps.progress(f"      timing {m}"), skip_unavailable=True)
        data = report.to_dict()
        data["unavailable_backends"] = {name: why.reason for name, why in missing.items()}
        ctx.bench = data
        from resnet_deploy.bench import report as rep

        files = rep.save(data, json_path=cfg.out / "bench.json", csv_path=cfg.out / "bench.csv",
                         plot_dir=cfg.out, plot_prefix="bench_")
        record.artifacts += [str(f) for f in files]
        record.summary = _bench_summary(report, len(specs), cfg.batch_sizes or [])


def _bench_summary(result: BenchResult, configurations: int, batch_sizes: list[int]) -> BenchSummary:
    rows = list(result.rows())
    best = max(rows, key=lambda pair: pair[1].throughput_ips, default=None)
    return BenchSummary(configurations, sum(1 for b in result.backends if b.error), batch_sizes, len(rows),
                        sum(1 for _, row in rows if row.warnings), best[0].label if best else None,
                        best[1].batch if best else None, best[1].throughput_ips if best else None)


def run_pipeline(config: PipelineConfig, *, progress: Callable[[str], None] | None = None) -> PipelineResult:
    """Run every stage that can run here and write report.md, report.html and pipeline.json into `config.out`."""
    from resnet_deploy.pipeline.report import write_reports

    cfg = config.resolved()
    check_output_folder(cfg.out)
    cfg.out.mkdir(parents=True, exist_ok=True)
    started = _dt.datetime.now(_dt.timezone.utc)
    steps = StepLog(progress)
    ctx = Context(gpu=bool(gpu_info()))
    for stage in (_train, _export, _validate, _precision, _accuracy, _tensorrt, _bench):
        stage(cfg, steps, ctx)
    data = {"kind": "pipeline-report", "created": started.isoformat(timespec="seconds"),
            "seconds": (_dt.datetime.now(_dt.timezone.utc) - started).total_seconds(),
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
            "steps": steps.to_list(), "train": ctx.train, "validation": ctx.validation, "accuracy": ctx.accuracy,
            "variants": {n: v.to_dict() for n, v in ctx.variants.items()},
            "bench": ctx.bench}
    skips = [*steps.skips, *(Skip("variant", n, v.reason or "not made") for n, v in ctx.variants.items() if not v.ok),
             *ctx.backend_skips]
    failed = [f"{s.name}: {s.reason}" for s in steps.failed]
    data.update({"passed": not failed, "failed": failed, "skipped": [s.to_dict() for s in skips]})
    results_json = write_json(cfg.out / "pipeline.json", data)
    md, html = write_reports(data, cfg.out)
    return PipelineResult(cfg, steps.to_list(), md, html, results_json, failed)
