"""The sweep: profile limits, default batch sizes, non-image models, the GPU loop's ordering."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from resnet_deploy.bench import BackendSpec, BenchConfig, Warmup, parse_batch_sizes, run_benchmark
from resnet_deploy.bench.config import default_batch_sizes, powers_of_two
from resnet_deploy.errors import InvalidInputError, MissingDependencyError
from tests.bench.helpers import FakeRunner


def _run(runner: FakeRunner, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("iterations", 3)
    kwargs.setdefault("duration_s", None)
    kwargs.setdefault("warmup", Warmup(iterations=1))
    config = BenchConfig([BackendSpec("ort-cpu", label="fake")], **kwargs)
    return run_benchmark(config, runner_factory=lambda spec, cfg: runner).to_dict()


def test_batches_outside_the_profile_are_skipped_with_a_note() -> None:
    runner = FakeRunner(limits=(1, 8))
    data = _run(runner, batch_sizes=[1, 4, 16])
    backend = data["backends"][0]
    assert [r["batch"] for r in backend["results"]] == [1, 4]
    assert backend["skipped"] == [{"batch": 16, "reason": "batch 16 is outside the artifact's profile 1..8"}]
    assert 16 not in runner.batches_seen
    assert backend["input"]["batch_limits"] == [1, 8]


def test_only_batch_outside_the_profile_is_exit_2() -> None:
    with pytest.raises(InvalidInputError, match="no batch size left to run: batch 16 is outside"):
        _run(FakeRunner(limits=(1, 8)), batch_sizes=[16])


def test_default_batches_are_powers_of_two_within_the_profile() -> None:
    runner = FakeRunner(limits=(1, 8))
    data = _run(runner)
    assert [r["batch"] for r in data["backends"][0]["results"]] == [1, 2, 4, 8]
    assert max(runner.batches_seen) == 8
    assert default_batch_sizes((3, 20), gpu=True, sample_bytes=0) == [3, 4, 8, 16, 20]
    assert default_batch_sizes((1, None), gpu=False, sample_bytes=0) == [1, 2, 4, 8, 16, 32, 64]
    assert default_batch_sizes((1, None), gpu=True, sample_bytes=0)[-1] == 256
    # a memory budget of 10 samples stops the sweep at 8
    assert default_batch_sizes((1, None), gpu=True, sample_bytes=100, memory_budget_bytes=1000)[-1] == 10


def test_result_fields_and_iterations() -> None:
    data = _run(FakeRunner(limits=(1, None)), batch_sizes=[2], iterations=7, percentiles=(50.0, 99.0))
    row = data["backends"][0]["results"][0]
    assert row["iterations"] == 7 and row["latency_ms"]["samples"] == 7
    assert {"min", "mean", "median", "p50", "p99", "max", "std", "cv"} <= set(row["latency_ms"])
    assert row["throughput_ips"] == pytest.approx(2 * 7 / row["measured_s"])
    assert row["timer"] == "perf_counter_ns"
    assert len(row["samples_ms"]) == 7 and min(row["samples_ms"]) == pytest.approx(row["latency_ms"]["min"], abs=1e-6)
    assert any("too short" in w for w in row["warnings"])
    assert data["environment"]["cpu"]["model"]
    assert data["kind"] == "bench"


def test_duration_mode_runs_for_the_duration() -> None:
    runner = FakeRunner(limits=(1, None), sleep_s=0.002)
    data = _run(runner, batch_sizes=[1], iterations=None, duration_s=0.1, min_iterations=3)
    row = data["backends"][0]["results"][0]
    assert row["measured_s"] >= 0.1
    assert row["iterations"] >= 3


def test_warmup_is_outside_the_measured_loop() -> None:
    runner = FakeRunner(limits=(1, None))
    _run(runner, batch_sizes=[1], iterations=5, warmup=Warmup(iterations=4))
    assert len(runner.batches_seen) == 9


@pytest.mark.parametrize("shape", [(None, 10), (None, 4, 16, 16), (None, 16, 16, 4)])
def test_non_image_models_are_exit_2(shape: tuple[Any, ...]) -> None:
    with pytest.raises(InvalidInputError, match=r"not an image (model|classifier)"):
        _run(FakeRunner(shape=shape), batch_sizes=[1])


def test_nhwc_models_are_fed_nhwc() -> None:
    runner = FakeRunner(shape=(None, 16, 20, 3))
    data = _run(runner, batch_sizes=[2])
    assert data["backends"][0]["input"] == {**data["backends"][0]["input"], "layout": "NHWC", "shape_chw": [3, 16, 20]}


def test_dynamic_spatial_size_needs_input_size() -> None:
    with pytest.raises(InvalidInputError, match="`input_size`"):
        _run(FakeRunner(shape=(None, 3, None, None)), batch_sizes=[1])
    data = _run(FakeRunner(shape=(None, 3, None, None)), batch_sizes=[1], input_size=(24, 20))
    assert data["backends"][0]["input"]["shape_chw"] == [3, 24, 20]


def test_missing_backend_raises_or_is_recorded() -> None:
    def factory(spec: BackendSpec, cfg: BenchConfig) -> Any:
        raise MissingDependencyError("backend 'tensorrt' needs TensorRT")

    config = BenchConfig([BackendSpec("tensorrt", artifact=Path("x.plan"))], iterations=1)
    with pytest.raises(MissingDependencyError):
        run_benchmark(config, runner_factory=factory)
    data = run_benchmark(config, runner_factory=factory, skip_unavailable=True).to_dict()
    assert data["backends"][0]["error"] == "backend 'tensorrt' needs TensorRT"


def test_config_parsing() -> None:
    assert parse_batch_sizes("1,8,4") == [1, 4, 8]
    assert parse_batch_sizes("1-16") == [1, 2, 4, 8, 16]
    assert powers_of_two(3, 12) == [3, 4, 8, 12]
    assert Warmup.parse("10") == Warmup(iterations=10)
    assert Warmup.parse("2s") == Warmup(seconds=2.0)
    assert Warmup.parse("250ms") == Warmup(seconds=0.25)
    for bad in ("x", "0", "-1"):
        with pytest.raises(InvalidInputError):
            parse_batch_sizes(bad)
    with pytest.raises(InvalidInputError):
        Warmup.parse("soon")
    with pytest.raises(InvalidInputError):
        BenchConfig([BackendSpec("ort-cpu")], streams=0)


def test_cuda_events_without_cuda_is_exit_3() -> None:
    import torch

    from resnet_deploy.runtime.cuda_events import cuda_event_api

    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    with pytest.raises(MissingDependencyError, match="GPU timing needs CUDA"):
        cuda_event_api()


def test_default_run_length_passes_the_trust_rule() -> None:
    """A slow model (50 ms per iteration) with the default settings gets at least
    MIN_SAMPLES samples and MIN_MEASURED_SECONDS: no "too short" warning by default."""
    from resnet_deploy.bench.stats import MIN_MEASURED_SECONDS, MIN_SAMPLES

    config = BenchConfig([BackendSpec("ort-cpu", label="fake")])
    assert config.min_iterations >= MIN_SAMPLES
    assert config.duration_s is not None and config.duration_s >= MIN_MEASURED_SECONDS
    config = BenchConfig([BackendSpec("ort-cpu", label="fake")], batch_sizes=[1], warmup=Warmup(iterations=0),
                         duration_s=MIN_MEASURED_SECONDS)
    data = run_benchmark(config, runner_factory=lambda spec, cfg: FakeRunner(limits=(1, None), sleep_s=0.05)).to_dict()
    row = data["backends"][0]["results"][0]
    assert row["iterations"] >= MIN_SAMPLES
    assert not any("too short" in w for w in row["warnings"])


class SleepPerImage(FakeRunner):
    def infer(self, feeds: Any) -> Any:
        import time

        batch = self.check_feeds(feeds)
        time.sleep(0.0005 * batch)
        return {"logits": np.zeros((batch, 10), np.float32)}


def test_default_sweep_stops_before_a_point_that_would_take_too_long() -> None:
    config = BenchConfig([BackendSpec("ort-cpu", label="fake")], warmup=Warmup(iterations=0), duration_s=0.01,
                         min_iterations=30, max_point_seconds=0.1)
    data = run_benchmark(config, runner_factory=lambda spec, cfg: SleepPerImage(limits=(1, 64))).to_dict()
    backend = data["backends"][0]
    batches = [r["batch"] for r in backend["results"]]
    assert batches[0] == 1 and batches[-1] < 64  # 30 x 0.5 ms x 8 = 0.12 s > 0.1 s: stops before batch 8
    assert any("stopped the default sweep" in n and "left out" in n for n in backend["notes"])
    explicit = BenchConfig([BackendSpec("ort-cpu", label="fake")], batch_sizes=[1, 8], warmup=Warmup(iterations=0),
                           duration_s=0.01, min_iterations=30, max_point_seconds=0.1)
    data = run_benchmark(explicit, runner_factory=lambda spec, cfg: SleepPerImage(limits=(1, 64))).to_dict()
    assert [r["batch"] for r in data["backends"][0]["results"]] == [1, 8]  # asked for: never cut


def test_observer_sees_each_point_its_iterations_and_an_estimate() -> None:
    from resnet_deploy.bench import BenchObserver, Point
    from resnet_deploy.bench.result import BenchRow

    events: list[tuple[Any, ...]] = []

    class Recorder(BenchObserver):
        def planned(self, specs: list[BackendSpec], config: BenchConfig) -> None:
            events.append(("planned", len(specs)))

        def point_started(self, point: Point) -> None:
            events.append(("start", point.batch, point.batch_index, point.batches, point.expected_s))

        def iteration(self, count: int, elapsed_s: float, remaining_s: float | None) -> None:
            events.append(("it", count, remaining_s))

        def point_done(self, point: Point, row: BenchRow) -> None:
            events.append(("done", point.batch, row.iterations))

        def finished(self) -> None:
            events.append(("finished",))

    config = BenchConfig([BackendSpec("ort-cpu", label="fake")], batch_sizes=[1, 2], warmup=Warmup(iterations=1),
                         iterations=4, duration_s=None)
    run_benchmark(config, progress=Recorder(), runner_factory=lambda spec, cfg: FakeRunner(limits=(1, None)))
    assert events[0] == ("planned", 1) and events[-1] == ("finished",)
    assert events[1][:4] == ("start", 1, 1, 2) and events[1][4] is None
    counts = [e[1] for e in events if e[0] == "it"]
    assert counts == [1, 2, 3, 4, 1, 2, 3, 4]
    assert [e[2] for e in events if e[0] == "it"][3] == 0.0  # nothing left after the 4th of 4
    second = next(e for e in events if e[0] == "start" and e[1] == 2)
    assert second[4] is not None and second[4] >= 0  # predicted from batch 1
    assert ("done", 2, 4) in events


def test_a_message_callable_still_works_as_progress() -> None:
    messages: list[str] = []
    config = BenchConfig([BackendSpec("ort-cpu", label="fake")], batch_sizes=[1], warmup=Warmup(iterations=0),
                         iterations=2, duration_s=None)
    run_benchmark(config, progress=messages.append, runner_factory=lambda spec, cfg: FakeRunner())
    assert messages == ["fake: batch 1"]


def test_config_refuses_bad_values_naming_the_parameter() -> None:
    spec = [BackendSpec("ort-cpu")]
    for kwargs, param in (({"iterations": 0}, "iterations"), ({"duration_s": float("nan")}, "duration_s"),
                          ({"cv_threshold": 0.0}, "cv_threshold"), ({"min_iterations": 0}, "min_iterations"),
                          ({"percentiles": (50.0, float("nan"))}, "percentiles"), ({"batch_sizes": [0]}, "batch_sizes")):
        with pytest.raises(InvalidInputError) as info:
            BenchConfig(spec, **kwargs)  # type: ignore[arg-type]
        assert info.value.param == param and "--" not in str(info.value)
