"""`run_mlperf(config)`: check everything, preprocess the samples once, choose what LoadGen is
told to expect, then run every scenario and mode in a process of its own under a watchdog.

Nothing starts before the inputs, the output folder and LoadGen itself are checked. Each run
writes LoadGen's logs into MLPerf's results layout:

    OUT/user.conf  val_map.txt  mlperf.json  summary.txt  logs/<scenario>-<mode>.log
    OUT/<Scenario>/performance/run_1/mlperf_log_{summary,detail}.txt ...
    OUT/<Scenario>/accuracy/mlperf_log_accuracy.json ... (+ accuracy.txt, the toolkit's score)

A run that fails (the runner raised, a sample was lost, the process crashed or outlived its
timeout) stops the invocation: RunFailedError, one line, the run's exit code; what finished
before it is still written to mlperf.json.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from resnet_deploy import __version__
from resnet_deploy.atomic import atomic_write_text
from resnet_deploy.errors import InvalidInputError, MissingDependencyError, ResnetDeployError
from resnet_deploy.input_spec import InputSpec
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.mlperf.logs import parse_detail, score_accuracy
from resnet_deploy.mlperf.result import MlperfResult, ScenarioRun
from resnet_deploy.mlperf.samples import PreparedSamples, prepare_samples, write_val_map
from resnet_deploy.mlperf.settings import (
    MULTI_STREAM_SAMPLES,
    NOT_COMPLIANT,
    QUICK_MIN_DURATION_MS,
    RunSettings,
    Seeds,
)
from resnet_deploy.mlperf.spec import ChildSpec, RunStatus, failure_code

log = logging.getLogger(__name__)

RULES_MIN_DURATION_S = 600.0
# How far the seeds sit from what was measured, so LoadGen generates enough work (pitfall 7):
# latencies expected shorter than measured, Offline QPS higher; Server QPS at half the
# measured rate, a load most SUTs hold within the bound.
LATENCY_SEED_FACTOR = 0.5
OFFLINE_SEED_FACTOR = 1.5
SERVER_SEED_FACTOR = 0.5


class RunFailedError(ResnetDeployError):
    """A LoadGen run did not finish: its process's own exit code (1 unless it was bad input,
    2, or a missing dependency, 3; spec.failure_code)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = failure_code(exit_code)


@dataclass
class MlperfConfig:
    """One `mlperf` invocation. `model` is an artifact (in-process, on `backend`), or the
    model's name on the Triton server at `server`."""

    model: str
    output: Path
    settings: RunSettings
    backend: str | None = None
    server: str | None = None
    predictor: str | None = None  # MODULE:FUNCTION building a custom predictor from `model`
    dataset: str | None = None
    data_dir: Path | None = None
    val_map: Path | None = None
    random: int | None = None
    limit: int | None = None
    threads: int | None = None
    batch_size: int | None = None
    workers: int | None = None
    batch_timeout_ms: float = 2.0
    timeout_s: float | None = None
    from_bench: Path | None = None
    cuda_graphs: bool = True


def require_loadgen() -> None:
    from resnet_deploy.optional import install_hint, is_installed

    if not is_installed("mlperf_loadgen"):
        raise MissingDependencyError(f"mlperf needs MLPerf LoadGen (mlcommons-loadgen), which is not installed; "
                                     f"{install_hint('mlperf', fallback='mlcommons-loadgen')}")


@dataclass
class Target:
    """What the runs load: a predictor opened in this process for the probe, and what each
    scenario's process needs to open its own."""

    predictor: Any
    spec: InputSpec | None
    backend: str | None
    child: JsonObject
    gpu: bool
    description: JsonObject


def open_target(config: MlperfConfig) -> Target:
    from resnet_deploy.mlperf.predictors import (
        RunnerPredictor,
        ServerAddress,
        TritonPredictor,
        load_callable,
    )

    if config.predictor:
        predictor = load_callable(config.predictor)(config.model)
        spec = getattr(predictor, "spec", None)
        return Target(predictor, spec, config.backend, {"predictor": config.predictor, "source": config.model},
                      False, {"predictor": config.predictor})
    if config.server:
        address = ServerAddress.parse(config.server)
        triton = TritonPredictor(address, config.model)
        return Target(triton, triton.spec, None, {"server": str(address), "source": config.model}, False,
                      triton.describe())
    from resnet_deploy.backends.registry import get_backend, open_runner
    from resnet_deploy.compare.targets import describe_target

    target = describe_target(config.model, config.backend)
    options = target.run_options(config.threads, target.input_spec)
    runner = open_runner(target.backend, target.source, options)
    predictor = RunnerPredictor(runner)
    child = {"source": target.source, "backend": target.backend, "threads": options.threads,
             "run_options": replace(options, threads=None).to_dict()}
    return Target(predictor, target.input_spec, target.backend, child, get_backend(target.backend).device == "cuda",
                  predictor.describe())


# -- seeds --------------------------------------------------------------------------------
def _time_batches(predictor: Any, x: np.ndarray, seconds: float, least: int = 5) -> list[float]:
    predictor.predict(x)  # warm-up
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < least or time.perf_counter() - started < seconds:
        t0 = time.perf_counter()
        predictor.predict(x)
        times.append(time.perf_counter() - t0)
    return times


def probe_seeds(predictor: Any, samples: np.ndarray, scenarios: tuple[str, ...], batch_size: int) -> Seeds:
    """A second of measurement per need: batch-1 latency (SingleStream), the latency of one
    8-sample batch (MultiStream), the throughput at the Offline/Server batch."""
    def batch(n: int) -> np.ndarray:
        return np.ascontiguousarray(np.resize(samples[: max(1, n)], (n, *samples.shape[1:])))

    single = multi = throughput = None
    if "SingleStream" in scenarios:
        single = float(np.median(_time_batches(predictor, batch(1), 0.5))) * 1000 * LATENCY_SEED_FACTOR
    if "MultiStream" in scenarios:
        multi = float(np.median(_time_batches(predictor, batch(MULTI_STREAM_SAMPLES), 0.5))) * 1000 * LATENCY_SEED_FACTOR
    if "Offline" in scenarios or "Server" in scenarios:
        times = _time_batches(predictor, batch(batch_size), 1.0)
        throughput = batch_size / float(np.median(times))
    return Seeds(single_stream_latency_ms=single, multi_stream_latency_ms=multi,
                 server_qps=throughput * SERVER_SEED_FACTOR if throughput and "Server" in scenarios else None,
                 offline_qps=throughput * OFFLINE_SEED_FACTOR if throughput and "Offline" in scenarios else None,
                 source="measured for 0.5-1 s before the runs")


def bench_seeds(path: Path, model: str | None = None, backend: str | None = None) -> Seeds:
    """Seeds from a bench result (bench --save-json): batch-1 median (SingleStream), batch-8
    median (MultiStream), the best images/s (Offline, Server), all of the one backend that
    measured `model` (same sha256), else of the one entry on `backend`, else of its only entry."""
    from resnet_deploy.bench.result import load_result
    from resnet_deploy.sidecar import sha256_file

    result = load_result(path)
    measured = [b for b in result.backends if b.results and not b.error]
    if model is not None and Path(model).is_file() and len(measured) > 1:
        digest = sha256_file(model)
        measured = [b for b in measured if b.artifact is not None and b.artifact.sha256 == digest] or measured
    if backend is not None and len(measured) > 1:
        measured = [b for b in measured if b.backend == backend] or measured
    if not measured:
        raise InvalidInputError(f"bench result '{path}' has no measured batch sizes", param="from_bench")
    if len(measured) > 1:
        raise InvalidInputError(f"bench result '{path}' measured {len(measured)} backends "
                                f"({', '.join(b.label for b in measured)}) and none is this model on this backend; "
                                "give a result with one", param="from_bench")
    rows = [row for row in measured[0].results if row.concurrency == 1]
    by_batch = {row.batch: row for row in rows}
    single = by_batch[1].latency_ms.median * LATENCY_SEED_FACTOR if 1 in by_batch else None
    eight = by_batch.get(MULTI_STREAM_SAMPLES)
    multi = eight.latency_ms.median * LATENCY_SEED_FACTOR if eight is not None else None
    best = max(row.throughput_ips for row in rows)
    return Seeds(single_stream_latency_ms=single, multi_stream_latency_ms=multi, server_qps=best * SERVER_SEED_FACTOR,
                 offline_qps=best * OFFLINE_SEED_FACTOR, source=f"from bench result {path} ({measured[0].label})")


def resolve_seeds(settings: RunSettings, probed: Callable[[], Seeds], bench: Seeds | None) -> Seeds:
    """The user's values first, then the bench result's, then the probe's (only when needed)."""
    given = settings.seeds
    fields = ("single_stream_latency_ms", "multi_stream_latency_ms", "server_qps", "offline_qps")
    needed = {"SingleStream": "single_stream_latency_ms", "MultiStream": "multi_stream_latency_ms",
              "Server": "server_qps", "Offline": "offline_qps"}
    missing = [needed[s] for s in settings.scenarios if getattr(given, needed[s]) is None
               and (bench is None or getattr(bench, needed[s]) is None)]
    measured = probed() if missing else Seeds()
    values = {}
    sources = []
    for name in fields:
        for candidate, label in ((given, "given"), (bench, bench.source if bench else ""), (measured, measured.source)):
            value = getattr(candidate, name) if candidate is not None else None
            if value is not None:
                values[name] = value
                sources.append(label)
                break
    return Seeds(**values, source="; ".join(dict.fromkeys(sources)) or "LoadGen's defaults")


# -- one run ------------------------------------------------------------------------------
# The least work LoadGen's ResNet-50 rules ask of a performance run: queries (samples for Offline).
RULES_MIN_QUERIES = {"SingleStream": 1024, "MultiStream": 662, "Server": 270336, "Offline": 24576}


def expected_seconds(settings: RunSettings, scenario: str, mode: str, seeds: Seeds, sample_count: int) -> float:
    """Roughly how long LoadGen will run: the minimum duration, or the time the queries the
    rules ask for take at the expected rate; accuracy mode runs every sample once."""
    from resnet_deploy.mlperf.settings import QUICK_MIN_QUERIES

    rates = {"Offline": seeds.offline_qps, "Server": seeds.server_qps,
             # the latency seeds are half the measured latency
             "SingleStream": 500 / seeds.single_stream_latency_ms if seeds.single_stream_latency_ms else None,
             "MultiStream": 500 * MULTI_STREAM_SAMPLES / seeds.multi_stream_latency_ms
             if seeds.multi_stream_latency_ms else None}
    rate = rates[scenario] or seeds.offline_qps or seeds.server_qps
    if mode == "accuracy":
        return sample_count / rate if rate else 600.0
    if settings.min_duration_ms is not None:
        duration = settings.min_duration_ms / 1000
    else:
        duration = QUICK_MIN_DURATION_MS / 1000 if settings.quick else RULES_MIN_DURATION_S
    queries = (QUICK_MIN_QUERIES if settings.quick else RULES_MIN_QUERIES)[scenario]
    per_query = MULTI_STREAM_SAMPLES if scenario == "MultiStream" else 1
    needed = queries * per_query / rate if rate else 0.0
    return max(duration * (1.7 if scenario == "Offline" else 1.1), needed)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the scenario's process gets SIGKILL when the parent dies (its own session keeps
    it out of the terminal's Ctrl-C, so nothing else would stop it)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.wait()


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def run_one(spec: ChildSpec, *, work: Path, log_path: Path, timeout_s: float) -> tuple[int, RunStatus | None, str]:
    """Start one scenario's process and watch it: (exit code, its status, what went wrong)."""
    spec_path = work / f"{spec.scenario}-{spec.mode}-{time.monotonic_ns()}.json"
    spec_path.write_text(spec.model_dump_json(), encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.getcwd(), env.get("PYTHONPATH", "")) if p)
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "resnet_deploy.mlperf.child", str(spec_path)],
                                   stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, start_new_session=True,
                                   preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        try:
            code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            return -9, None, (f"no result within {timeout_s:.0f} s, so the watchdog stopped it (LoadGen waits "
                              "forever for a sample that is never answered; raise `timeout_s` for a slower SUT)")
        except BaseException:  # Ctrl-C, SIGTERM: the child goes with us
            _kill_group(process)
            raise
    status = RunStatus.read(spec.status)
    if status is not None and not status.ok:
        return code, status, str(status.error)
    if code != 0:
        return code, status, f"its process ended with {_describe_exit(code)} ({_tail(log_path) or 'no output'})"
    if status is None:
        return code, status, "its process ended without a result"
    return code, status, ""


def _run_folder(output: Path, scenario: str, mode: str) -> Path:
    return output / scenario / ("performance/run_1" if mode == "performance" else "accuracy")


def scenario_run(config: MlperfConfig, target: Target, samples: PreparedSamples, settings: RunSettings,
                 scenario: str, mode: str, *, work: Path, folder: Path, user_conf: Path,
                 batch_size: int, workers: int) -> ScenarioRun:
    folder.mkdir(parents=True, exist_ok=True)
    logs = config.output / "logs"
    logs.mkdir(exist_ok=True)
    status = work / f"{scenario}-{mode}-{time.monotonic_ns()}.status.json"
    spec = ChildSpec(scenario=scenario, mode=mode, user_conf=str(user_conf.resolve()), log_dir=str(folder.resolve()),
                     status=str(status), samples=str(samples.path), batch_size=batch_size, workers=workers,
                     batch_timeout_ms=config.batch_timeout_ms, cuda_graphs=config.cuda_graphs, **target.child)
    timeout = config.timeout_s or 60 + 3 * expected_seconds(settings, scenario, mode, settings.seeds, samples.count)
    started = time.monotonic()
    log.info("%s %s: running (watchdog %.0f s)", scenario, mode, timeout)
    code, outcome, error = run_one(spec, work=work, log_path=logs / f"{scenario}-{mode}.log", timeout_s=timeout)
    seconds = time.monotonic() - started
    if error:
        return ScenarioRun(scenario=scenario, mode=mode, result="failed", log_dir=str(folder), seconds=seconds,
                           error=error, settings={"exit_code": code})
    parsed = parse_detail(folder, scenario, mode)
    run = ScenarioRun(scenario=scenario, mode=mode, result=parsed.validity, reasons=parsed.reasons,
                      errors=parsed.errors, metric=parsed.metric, unit=parsed.unit, value=parsed.value,
                      latency_ms=parsed.latency_ms, samples_per_second=parsed.samples_per_second,
                      loadgen_overhead=parsed.loadgen_overhead,
                      queries=parsed.queries, settings=parsed.settings, log_dir=str(folder), seconds=seconds)
    if mode == "accuracy":
        dtype = outcome.response_dtype if outcome is not None and outcome.response_dtype is not None else "int32"
        score = score_accuracy(folder, samples.labels, dtype)
        run.top1, run.accuracy_samples = score.top1, score.samples
        atomic_write_text(folder / "accuracy.txt", f"top-1 {score.top1:.3f}% over {score.samples} samples "
                                                   "(resnet-deploy's score of mlperf_log_accuracy.json)\n")
    return run


def default_sut_shape(config: MlperfConfig, target: Target) -> tuple[int, int]:
    """(batch size, workers): GPUs 64 per batch on 2 streams; a CPU runner 16 on one worker (its
    intra-op threads use every core); Triton one sample per request, 8 in flight, so the
    server's dynamic batcher does the batching."""
    if config.server:
        batch, workers = 1, 8
    elif target.gpu:
        batch, workers = 64, 2
    else:
        batch, workers = 16, 1
    batch = config.batch_size or batch
    high = target.predictor.batch_limits()[1]
    if high is not None:
        batch = min(batch, high)
    return batch, config.workers or workers


def check_config(config: MlperfConfig) -> None:
    if sum(x is not None for x in (config.dataset, config.val_map)) > 1:
        raise InvalidInputError("give a dataset or a val_map, not both", param="val_map")
    if config.random is not None and (config.dataset or config.val_map):
        raise InvalidInputError("random images replace the dataset: give one or the other", param="random")
    if "accuracy" in config.settings.modes and not (config.dataset or config.val_map):
        raise InvalidInputError("accuracy mode needs labelled images: give a dataset (digits, imagefolder, an .npz "
                                "with labels) or a val_map", param="dataset")
    if bool(config.server) + bool(config.predictor) + bool(config.backend and (config.server or config.predictor)) > 1:
        raise InvalidInputError("give either a backend (in-process), a server (Triton) or a predictor", param="server")


@dataclass
class Session:
    """One invocation's prepared state: the samples, the seeds and the SUT's shape, shared by
    every run it makes."""

    config: MlperfConfig
    target: Target
    samples: PreparedSamples
    settings: RunSettings
    user_conf: Path
    work: Path
    batch_size: int
    workers: int
    result: MlperfResult

    def run(self, scenario: str, mode: str, *, settings: RunSettings | None = None, folder: Path | None = None,
            user_conf: Path | None = None) -> ScenarioRun:
        """One run; RunFailedError (with the run's exit code) when it did not finish."""
        run = scenario_run(self.config, self.target, self.samples, settings or self.settings, scenario, mode,
                           work=self.work, folder=folder or _run_folder(self.config.output, scenario, mode),
                           user_conf=user_conf or self.user_conf, batch_size=self.batch_size, workers=self.workers)
        if run.result == "failed":
            self.result.runs.append(run)
            raise RunFailedError(f"{scenario} {mode} failed: {run.error}", int(run.settings.get("exit_code", 1)))
        return run


@contextlib.contextmanager
def session(config: MlperfConfig, say: Callable[[str], None]) -> Iterator[Session]:
    """Check, load, preprocess and seed once; mlperf.json and summary.txt are written on the way
    out, also after a failed run."""
    from resnet_deploy.atomic import check_output_folder

    require_loadgen()
    check_config(config)
    output = check_output_folder(config.output)  # LoadGen aborts its process on a missing folder (pitfall 5)
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="resnet-deploy-mlperf-") as tmp:
        work = Path(tmp)
        say("loading the model and preprocessing the samples")
        target = open_target(config)
        try:
            samples = prepare_samples(work, target.spec, dataset=config.dataset, data_dir=config.data_dir,
                                      val_map=config.val_map, random=config.random, limit=config.limit,
                                      dtype=target.predictor.input_dtype)
            if "accuracy" in config.settings.modes and samples.labels is None:
                raise InvalidInputError(f"accuracy mode needs labels; {samples.description} has none", param="dataset")
            batch_size, workers = default_sut_shape(config, target)
            bench = bench_seeds(config.from_bench, config.model, target.backend) if config.from_bench else None
            loaded = np.load(samples.path, mmap_mode="r")

            def probe() -> Seeds:
                say("measuring what LoadGen should expect")
                return probe_seeds(target.predictor, np.asarray(loaded[:batch_size]), config.settings.scenarios,
                                   batch_size)

            seeds = resolve_seeds(config.settings, probe, bench)
        finally:
            target.predictor.close()
        settings = replace(config.settings, seeds=seeds)
        user_conf = atomic_write_text(output / "user.conf", settings.user_conf_text())
        if samples.labels is not None:
            write_val_map(output / "val_map.txt", samples.names, samples.labels)
        result = new_result(config, target, samples, settings, batch_size, workers)
        try:
            yield Session(config, target, samples, settings, user_conf, work, batch_size, workers, result)
        finally:
            save_result(result, output)


def run_mlperf(config: MlperfConfig, *, progress: Callable[[str], None] | None = None) -> MlperfResult:
    """Run every scenario and mode of `config.settings`; see the module docstring."""
    say = progress or (lambda message: None)
    with session(config, say) as current:
        for scenario in current.settings.scenarios:
            for mode in current.settings.modes:
                say(f"{scenario} {mode}")
                current.result.runs.append(current.run(scenario, mode))
    return current.result


def new_result(config: MlperfConfig, target: Target, samples: PreparedSamples, settings: RunSettings,
               batch_size: int, workers: int) -> MlperfResult:
    from importlib import metadata

    from resnet_deploy.cpu_isa import detect_isa
    from resnet_deploy.environment import cpu_model

    try:
        version = metadata.version("mlcommons-loadgen")
    except metadata.PackageNotFoundError:
        version = None
    note = None
    if not settings.compliant:
        note = f"{NOT_COMPLIANT}: " + ("quick (short) runs" if settings.quick else "the rules were relaxed")
    return MlperfResult(toolkit_version=__version__,
                        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                        model=config.model, backend=target.backend, server=target.child.get("server"),
                        samples=samples.description, sample_count=samples.count, compliant=settings.compliant,
                        note=note, loadgen_version=version, user_conf=str(config.output / "user.conf"),
                        seeds={k: v for k, v in vars(settings.seeds).items() if v is not None},
                        sut={"batch_size": batch_size, "workers": workers, "batch_timeout_ms": config.batch_timeout_ms,
                             "runner": target.description},
                        environment={"cpu": cpu_model(), "isa": detect_isa().name})


def save_result(result: MlperfResult, output: Path) -> None:
    from resnet_deploy.mlperf.result import render_summary

    atomic_write_text(output / "mlperf.json", result.model_dump_json(indent=2) + "\n")
    atomic_write_text(output / "summary.txt", render_summary(result) + "\n")
