"""Step bookkeeping for the pipeline: each step is done, skipped (with why) or failed (with why).

A step that cannot run here (a runtime or a part of the toolkit is missing, or an earlier step
it needs did not produce its artifact) is recorded as skipped with the reason; nothing is
faked. A user-fixable error inside a step is recorded as failed and the steps that need its
artifact are skipped; a check that ran and failed (validation, accuracy) fails the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from resnet_deploy.errors import CheckFailedError, ResnetDeployError
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.pipeline.skips import Skip
from resnet_deploy.pipeline.summaries import StepSummary

log = logging.getLogger(__name__)


class SkipStep(Exception):
    """Raised inside a step to record it as skipped with this message as the reason."""


@dataclass
class StepRecord:
    name: str
    status: str = "pending"  # done | skipped | failed | check-failed
    reason: str | None = None
    seconds: float = 0.0
    summary: StepSummary | None = None  # what the step found (a check that failed has one too)
    skip: Skip | None = None  # a skipped step: its cause, and what would let it run
    artifacts: list[str] = field(default_factory=list)

    def result(self) -> str:
        """The step's result in one sentence: what it found, or why it did not run or failed."""
        if self.summary is not None and self.status in ("done", "check-failed"):
            return self.summary.sentence()
        return self.reason or ""

    def to_dict(self) -> JsonObject:
        return {"name": self.name, "status": self.status, "reason": self.reason, "seconds": round(self.seconds, 2),
                "result": self.result(), "summary": self.summary.to_dict() if self.summary is not None else None,
                "artifacts": self.artifacts}


class StepLog:
    """The ordered record of a run, with a progress callback for people watching."""

    def __init__(self, progress: Callable[[str], None] | None = None) -> None:
        self.steps: list[StepRecord] = []
        self.progress = progress or (lambda message: None)
        self.interactive = progress is not None  # show progress bars inside long steps

    def skip(self, name: str, reason: str, *, cause: str | None = None, package: str | None = None,
             install: str | None = None) -> StepRecord:
        """Record `name` as skipped for `reason`; `cause` (default: the reason) is what the report
        groups it by, `package` and `install` what would let it run."""
        record = StepRecord(name, "skipped", reason, skip=Skip("step", name, cause or reason, package, install))
        self.steps.append(record)
        self.progress(f"[skip] {name}: {reason}")
        log.info("%s skipped: %s", name, reason)
        return record

    @contextmanager
    def step(self, name: str, description: str) -> Iterator[StepRecord]:
        record = StepRecord(name)
        self.steps.append(record)
        self.progress(f"[{len(self.steps)}] {description} ...")
        start = time.perf_counter()
        try:
            yield record
            record.status = "done"
        except SkipStep as exc:
            record.status, record.reason = "skipped", str(exc)
            record.skip = Skip("step", name, str(exc))
        except CheckFailedError as exc:
            record.status, record.reason = "check-failed", str(exc)
        except ResnetDeployError as exc:
            record.status, record.reason = "failed", str(exc)
        finally:
            record.seconds = time.perf_counter() - start
        label = {"done": "done", "skipped": "skipped", "failed": "FAILED", "check-failed": "CHECK FAILED"}[record.status]
        self.progress(f"    {label} in {record.seconds:.1f} s" + (f": {record.reason}" if record.reason else ""))

    @property
    def skips(self) -> list[Skip]:
        return [s.skip for s in self.steps if s.skip is not None]

    @property
    def failed(self) -> list[StepRecord]:
        return [s for s in self.steps if s.status in ("failed", "check-failed")]

    def to_list(self) -> list[JsonObject]:
        return [s.to_dict() for s in self.steps]
