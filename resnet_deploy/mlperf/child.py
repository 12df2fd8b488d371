"""One LoadGen run (one scenario, one mode) in a process of its own:
`python -m resnet_deploy.mlperf.child SPEC.json`.

Its own process because LoadGen applies its built-in rules only at the first FromConfig of a
process (pitfall 1), and because the parent must survive whatever happens here: the parent
watches this process with a timeout (run.py). The outcome is a status file the parent reads:
written at the end of a good run, or by the fault handler just before the process exits with
the failure's code (nothing is raised into LoadGen, which would crash with empty logs).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.mlperf.settings import MULTI_STREAM_SAMPLES, RULES_MODEL
from resnet_deploy.mlperf.spec import ChildSpec, RunStatus

log = logging.getLogger(__name__)


def _abort(status: str, message: str, code: int) -> None:
    """The fault handler: record the one line, then leave at once (LoadGen cannot be stopped
    from Python, and waiting for it would wait for the lost samples)."""
    failed = RunStatus.failed(message, code)
    try:
        failed.write(status)
    finally:
        logging.shutdown()
        os._exit(failed.exit_code or 1)


def open_predictor(spec: ChildSpec) -> Any:
    from resnet_deploy.mlperf.predictors import (
        RunnerPredictor,
        ServerAddress,
        TritonPredictor,
        load_callable,
    )

    if spec.predictor:
        return load_callable(spec.predictor)(spec.source)
    if spec.server:
        return TritonPredictor(ServerAddress.parse(spec.server), str(spec.source))
    from resnet_deploy.backends.registry import RunOptions, open_runner

    options = replace(RunOptions.from_dict(spec.run_options), threads=spec.threads)
    return RunnerPredictor(open_runner(str(spec.backend), str(spec.source), options))


def run(spec: ChildSpec) -> None:
    import mlperf_loadgen as lg

    from resnet_deploy.mlperf.samples import SampleStore
    from resnet_deploy.mlperf.suts import (
        Fault,
        HostExecutor,
        Ledger,
        LostSampleMonitor,
        Responder,
        ScenarioSUT,
    )

    if not Path(spec.log_dir).is_dir():  # LoadGen aborts the process on a missing folder (pitfall 5)
        raise FileNotFoundError(f"log folder '{spec.log_dir}' does not exist")
    settings = lg.TestSettings()
    settings.FromConfig(spec.user_conf, RULES_MODEL, spec.scenario)
    settings.scenario = getattr(lg.TestScenario, spec.scenario)
    settings.mode = lg.TestMode.AccuracyOnly if spec.mode == "accuracy" else lg.TestMode.PerformanceOnly

    fault = Fault(lambda message, code: _abort(spec.status, f"{spec.scenario} {spec.mode}: {message}", code))
    store = SampleStore(spec.samples)
    ledger = Ledger()
    responder = Responder(lg, ledger)
    engine = None
    if spec.backend == "tensorrt" and not spec.predictor:
        from resnet_deploy.mlperf.gpu_sut import EngineExecutor
        from resnet_deploy.tensorrt import Engine

        engine = Engine.load(str(spec.source), contexts=max(1, spec.workers), cuda_graphs=spec.cuda_graphs)
        executor: Any = EngineExecutor(engine, store, responder, fault, streams=spec.workers)
        high = engine.batch_limits()[1]
        predictor = None
    else:
        predictor = open_predictor(spec)
        executor = HostExecutor(predictor, store, responder, fault, workers=spec.workers)
        high = predictor.batch_limits()[1]
    batch_size = spec.batch_size if high is None else min(spec.batch_size, high)
    if spec.scenario == "MultiStream" and high is not None and high < MULTI_STREAM_SAMPLES:
        raise InvalidInputError(f"MultiStream sends {MULTI_STREAM_SAMPLES} samples per query; the model takes at most "
                                f"{high}", param="scenario")
    sut = ScenarioSUT(spec.scenario, executor, ledger, fault, batch_size=batch_size,
                      batch_timeout_s=spec.batch_timeout_ms / 1000.0)
    monitor = LostSampleMonitor(ledger, fault, grace_s=spec.lost_grace_s)
    handles: list[Any] = []
    try:
        sut.start()
        monitor.start()
        sut_handle = lg.ConstructSUT(sut.issue_queries, sut.flush_queries)
        handles.append((lg.DestroySUT, sut_handle))
        qsl_handle = lg.ConstructQSL(store.count, min(store.count, 1024),
                                     lambda indices: fault.guard("loading samples failed", lambda: store.load(list(indices))),
                                     lambda indices: fault.guard("unloading samples failed",
                                                                 lambda: store.unload(list(indices))))
        handles.append((lg.DestroyQSL, qsl_handle))
        log_settings = lg.LogSettings()
        log_settings.log_output.outdir = spec.log_dir
        log_settings.log_output.copy_summary_to_stdout = False
        log_settings.enable_trace = False  # pitfall 6: 25 MB for 38,000 queries
        # An explicit empty audit path: an audit.config in the working folder is never applied (pitfall 8).
        lg.StartTestWithLogSettings(sut_handle, qsl_handle, settings, log_settings, "")
    finally:
        monitor.stop()
        sut.stop()
        for destroy, handle in reversed(handles):
            destroy(handle)
        if predictor is not None:
            predictor.close()
        if engine is not None:
            engine.close()
    if fault.message is None:
        response = str(np.dtype(executor.output.dtype)) if engine is not None else "int32"
        RunStatus(ok=True, loaded_samples_left=store.loaded, response_dtype=response,
                  threads=threading.active_count()).write(spec.status)


def main(argv: list[str] | None = None) -> int:
    from resnet_deploy.errors import ResnetDeployError

    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    spec = ChildSpec.model_validate_json(Path(args[0]).read_text(encoding="utf-8"))
    try:
        run(spec)
    except ResnetDeployError as exc:
        _abort(spec.status, f"{spec.scenario} {spec.mode}: {' '.join(str(exc).split())}", exc.exit_code)
    except BaseException as exc:  # the parent shows one line; the child's log keeps the traceback
        log.exception("the run failed")
        code = 130 if isinstance(exc, KeyboardInterrupt) else 1
        _abort(spec.status, f"{spec.scenario} {spec.mode}: {type(exc).__name__}: {' '.join(str(exc).split())}", code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
