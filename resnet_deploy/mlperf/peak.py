"""`--find-peak`: the largest Server QPS that LoadGen calls VALID, the load a service really
holds within the latency bound (15 ms at the 99th percentile under the ResNet-50 rules).

The search starts at the seeded QPS, doubles (or halves) until it brackets the boundary
between VALID and INVALID, then bisects until the bracket is within 10% (at most
`max_runs` runs, each a full Server run in its own process). The VALID run at the peak is
copied to Server/performance/run_1; every run tried stays under Server/peak/.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import replace

from resnet_deploy.atomic import atomic_write_text
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.mlperf.result import MlperfResult, PeakSearch, ScenarioRun
from resnet_deploy.mlperf.run import MlperfConfig, Session, session
from resnet_deploy.mlperf.settings import SERVER_LATENCY_BOUND_MS

log = logging.getLogger(__name__)

PRECISION = 1.10  # stop when the INVALID QPS is within 10% of the VALID one


def _try(current: Session, qps: float, index: int) -> ScenarioRun:
    settings = replace(current.settings, seeds=replace(current.settings.seeds, server_qps=qps))
    folder = current.config.output / "Server" / "peak" / f"{index:02d}_qps_{qps:.1f}"
    folder.mkdir(parents=True, exist_ok=True)
    conf = atomic_write_text(folder / "user.conf", settings.user_conf_text())
    return current.run("Server", "performance", settings=settings, folder=folder, user_conf=conf)


def search(run_at: Callable[[float, int], ScenarioRun], start_qps: float, max_runs: int = 8) -> tuple[float | None, list[tuple[float, ScenarioRun]]]:
    """(largest VALID QPS or None, every (qps, run) tried) by doubling/halving, then bisecting."""
    valid: float | None = None
    invalid: float | None = None
    tried: list[tuple[float, ScenarioRun]] = []
    qps = start_qps
    for index in range(max_runs):
        run = run_at(qps, index)
        tried.append((qps, run))
        if run.result == "VALID":
            valid = qps
            qps = qps * 2 if invalid is None else (valid + invalid) / 2
        else:
            invalid = qps
            qps = qps / 2 if valid is None else (valid + invalid) / 2
        if valid is not None and invalid is not None and invalid / valid <= PRECISION:
            break
    return valid, tried


def find_peak(config: MlperfConfig, *, progress: Callable[[str], None] | None = None, max_runs: int = 8) -> MlperfResult:
    if config.settings.scenarios != ("Server",) or config.settings.modes != ("performance",):
        raise InvalidInputError("the peak search runs the Server scenario in performance mode", param="scenario")
    say = progress or (lambda message: None)
    with session(config, say) as current:
        start = current.settings.seeds.server_qps
        if start is None:
            raise InvalidInputError("the peak search needs a starting QPS (measured, from a bench result, or given)",
                                    param="target_qps")

        def run_at(qps: float, index: int) -> ScenarioRun:
            say(f"Server at {qps:,.1f} QPS")
            run = _try(current, qps, index)
            log.info("Server at %.1f QPS: %s (p99 %.2f ms)", qps, run.result, run.latency_ms.get("p99", float("nan")))
            return run

        peak, tried = search(run_at, start, max_runs)
        bound = config.settings.server_latency_bound_ms or SERVER_LATENCY_BOUND_MS
        current.result.peak = PeakSearch(
            latency_bound_ms=bound, peak_qps=peak, batch_size=current.batch_size,
            batch_timeout_ms=config.batch_timeout_ms,
            tried=[{"qps": q, "result": r.result, "p99_ms": r.latency_ms.get("p99"), "reasons": r.reasons,
                    "log_dir": r.log_dir} for q, r in tried])
        if peak is not None:
            best = next(r for q, r in tried if q == peak)
            final = config.output / "Server" / "performance" / "run_1"
            if final.exists():
                shutil.rmtree(final)
            shutil.copytree(best.log_dir, final)
            best = best.model_copy(update={"log_dir": str(final)})
            current.result.runs.append(best)
            settings = replace(current.settings, seeds=replace(current.settings.seeds, server_qps=peak))
            atomic_write_text(config.output / "user.conf", settings.user_conf_text())
        else:
            current.result.runs.append(tried[-1][1])
    return current.result


__all__ = ["PRECISION", "find_peak", "search"]
