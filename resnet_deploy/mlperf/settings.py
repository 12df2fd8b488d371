"""What LoadGen is told: the scenario, the mode, and the user.conf written for the run.

LoadGen's built-in ResNet-50 rules (`TestSettings.FromConfig(user_conf, "resnet50",
scenario)`) are the default, so a run is compliant unless the user relaxes them. The toolkit
writes one user.conf per run: the user's own file (when given) followed by the values chosen
here (target QPS, expected latency, and for `quick` runs a short duration), later lines
winning. FromConfig applies the built-in rules only the first time it is called in a process
(docs/mlperf.md, pitfall 1), so every scenario runs in a process of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from resnet_deploy.errors import InvalidInputError

SCENARIOS = ("SingleStream", "MultiStream", "Server", "Offline")
MODES = ("performance", "accuracy")
RULES_MODEL = "resnet50"  # whose built-in LoadGen rules apply
MULTI_STREAM_SAMPLES = 8  # samples per MultiStream query under the ResNet-50 rules
SERVER_LATENCY_BOUND_MS = 15.0  # the ResNet-50 Server rule: 99th percentile within 15 ms
NOT_COMPLIANT = "not a compliant run"
# `quick`: the fewest queries for which LoadGen's early-stopping estimate can pass (64 at the 90th
# percentile, about 460 at the 99th), short enough for tests.
QUICK_MIN_DURATION_MS = 2000
QUICK_MIN_QUERIES = {"SingleStream": 64, "MultiStream": 500, "Server": 500, "Offline": 1}


def parse_scenarios(text: str) -> tuple[str, ...]:
    """`Server`, `server`, `all` or a comma list -> LoadGen's scenario names, in the canonical order."""
    wanted = [part.strip() for part in text.split(",") if part.strip()]
    if any(part.lower() == "all" for part in wanted):
        return SCENARIOS
    by_lower = {s.lower(): s for s in SCENARIOS}
    chosen = []
    for part in wanted:
        name = by_lower.get(part.lower())
        if name is None:
            raise InvalidInputError(f"unknown scenario {part!r}; valid: {', '.join(SCENARIOS)} or all", param="scenario")
        chosen.append(name)
    if not chosen:
        raise InvalidInputError("give a scenario: " + ", ".join(SCENARIOS) + " or all", param="scenario")
    return tuple(s for s in SCENARIOS if s in chosen)


def parse_modes(text: str) -> tuple[str, ...]:
    if text == "both":
        return MODES
    if text not in MODES:
        raise InvalidInputError(f"unknown mode {text!r}; valid: performance, accuracy, both", param="mode")
    return (text,)


@dataclass(frozen=True)
class Seeds:
    """What LoadGen is told to expect, per scenario: it sizes the run from these (an Offline
    query of 1.1 x min_duration x QPS samples; as many SingleStream queries as min_duration
    over the expected latency). Too high a value makes the run INVALID (pitfall 7)."""

    single_stream_latency_ms: float | None = None
    multi_stream_latency_ms: float | None = None
    server_qps: float | None = None
    offline_qps: float | None = None
    source: str = "LoadGen's defaults"

    def for_scenario(self, scenario: str) -> tuple[str, float] | None:
        """The user.conf key and value for `scenario`, or None when not set."""
        value = {"SingleStream": self.single_stream_latency_ms, "MultiStream": self.multi_stream_latency_ms,
                 "Server": self.server_qps, "Offline": self.offline_qps}[scenario]
        if value is None:
            return None
        key = "target_latency" if scenario in ("SingleStream", "MultiStream") else "target_qps"
        return key, value


@dataclass(frozen=True)
class RunSettings:
    """The LoadGen settings of one `mlperf` invocation (every scenario and mode in it)."""

    scenarios: tuple[str, ...] = ("Offline",)
    modes: tuple[str, ...] = ("performance",)
    user_conf: Path | None = None
    seeds: Seeds = field(default_factory=Seeds)
    quick: bool = False
    min_duration_ms: int | None = None  # overrides the rules (and quick's 2 s); not compliant
    server_latency_bound_ms: float | None = None  # overrides the 15 ms rule; not compliant

    @property
    def compliant(self) -> bool:
        """Whether the built-in rules hold: no quick run, no shortened duration, no other bound.
        A user.conf of the user's may still relax them; LoadGen's log says what was in effect."""
        return not self.quick and self.min_duration_ms is None and self.server_latency_bound_ms is None

    def user_conf_text(self) -> str:
        """The user.conf LoadGen reads: the user's file, then the values chosen here."""
        lines = [f"# user.conf written by resnet-deploy mlperf; LoadGen applies its built-in {RULES_MODEL} "
                 "rules first, then these lines (later lines win)"]
        if self.user_conf is not None:
            lines.append(f"# from {self.user_conf}")
            lines += self.user_conf.read_text(encoding="utf-8").splitlines()
            lines.append(f"# set by resnet-deploy ({self.seeds.source})")
        for scenario in SCENARIOS:
            seed = self.seeds.for_scenario(scenario)
            if seed is not None:
                key, value = seed
                lines.append(f"{RULES_MODEL}.{scenario}.{key} = {_number(value)}")
        if self.quick or self.min_duration_ms is not None:
            lines.append(f"# {NOT_COMPLIANT}: shortened run")
            duration = self.min_duration_ms if self.min_duration_ms is not None else QUICK_MIN_DURATION_MS
            lines.append(f"{RULES_MODEL}.*.min_duration = {duration}")
            if self.quick:
                for scenario, count in QUICK_MIN_QUERIES.items():
                    lines.append(f"{RULES_MODEL}.{scenario}.min_query_count = {count}")
        if self.server_latency_bound_ms is not None:
            lines.append(f"# {NOT_COMPLIANT}: another Server latency bound")
            lines.append(f"{RULES_MODEL}.Server.target_latency = {_number(self.server_latency_bound_ms)}")
        return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    if not math.isfinite(value) or value <= 0:
        raise InvalidInputError(f"LoadGen settings must be positive numbers, got {value}")
    return f"{value:.6g}"


def check_user_conf(path: Path) -> Path:
    """A readable text file of `key = value` lines (comments allowed); exit 2 otherwise."""
    from resnet_deploy.sidecar import require_file

    path = require_file(path, "user.conf")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read user.conf '{path}': {exc}", param="user_conf") from exc
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.split("#", 1)[0].strip()
        if stripped and ("=" not in stripped or stripped.count(".") < 2):
            raise InvalidInputError(f"user.conf '{path}' line {number} is not `model.scenario.key = value`: "
                                    f"{line.strip()!r}", param="user_conf")
    return path
