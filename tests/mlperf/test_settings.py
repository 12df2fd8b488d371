"""What LoadGen is told and what is read back, without running LoadGen: scenarios, the
user.conf written (user's lines first, compliance labels), the seeds' sources and
precedence, the watchdog's estimate, LoadGen's detail log and accuracy log, server addresses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.mlperf.logs import parse_detail, score_accuracy
from resnet_deploy.mlperf.predictors import ServerAddress
from resnet_deploy.mlperf.run import bench_seeds, expected_seconds, resolve_seeds
from resnet_deploy.mlperf.settings import (
    RunSettings,
    Seeds,
    check_user_conf,
    parse_modes,
    parse_scenarios,
)

ROOT = Path(__file__).resolve().parents[2]


def test_scenarios_and_modes() -> None:
    assert parse_scenarios("all") == ("SingleStream", "MultiStream", "Server", "Offline")
    assert parse_scenarios("offline,server") == ("Server", "Offline")
    assert parse_modes("both") == ("performance", "accuracy")
    with pytest.raises(InvalidInputError, match="unknown scenario 'Bursty'"):
        parse_scenarios("Bursty")


def test_user_conf_puts_the_users_lines_first_and_labels_short_runs(tmp_path: Path) -> None:
    mine = tmp_path / "user.conf"
    mine.write_text("resnet50.Server.target_qps = 5  # mine\n")
    check_user_conf(mine)
    settings = RunSettings(scenarios=("Server",), user_conf=mine, seeds=Seeds(server_qps=40.0, source="given"))
    text = settings.user_conf_text()
    assert text.index("target_qps = 5") < text.index("resnet50.Server.target_qps = 40")  # later lines win
    assert settings.compliant and "not a compliant run" not in text
    quick = RunSettings(scenarios=("Server",), quick=True)
    assert not quick.compliant and "not a compliant run" in quick.user_conf_text()
    assert "resnet50.Server.min_query_count = 500" in quick.user_conf_text()
    bound = RunSettings(server_latency_bound_ms=50.0)
    assert not bound.compliant and "resnet50.Server.target_latency = 50" in bound.user_conf_text()
    (tmp_path / "bad.conf").write_text("this is not a setting\n")
    with pytest.raises(InvalidInputError, match="line 1"):
        check_user_conf(tmp_path / "bad.conf")


def test_seeds_from_a_real_bench_result(tmp_path: Path) -> None:
    from resnet_deploy.bench.result import load_result

    recorded = json.loads((ROOT / "benchmarks" / "results" / "cpu-2core" / "cpu_comparison_resnet50.json").read_text())
    torch_run = next(b for b in recorded["backends"] if b["backend"] == "torch")
    ort_run = next(b for b in recorded["backends"] if b["backend"] == "ort-cpu")
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({**recorded, "backends": [torch_run, ort_run]}))
    with pytest.raises(InvalidInputError, match="measured 2 backends"):
        bench_seeds(path)  # which one is meant?
    seeds = bench_seeds(path, backend="ort-cpu")
    run = next(b for b in load_result(path).backends if b.backend == "ort-cpu")
    best = max(r.throughput_ips for r in run.results)
    assert seeds.offline_qps == pytest.approx(1.5 * best) and seeds.server_qps == pytest.approx(0.5 * best)
    batch1 = next(r for r in run.results if r.batch == 1)
    assert seeds.single_stream_latency_ms == pytest.approx(0.5 * batch1.latency_ms.median)
    assert run.label in seeds.source


def test_given_values_win_and_the_probe_runs_only_when_something_is_missing() -> None:
    calls = []

    def probe() -> Seeds:
        calls.append(1)
        return Seeds(single_stream_latency_ms=1.0, offline_qps=100.0, server_qps=50.0, source="probe")

    given = RunSettings(scenarios=("Offline",), seeds=Seeds(offline_qps=7.0, source="given"))
    assert resolve_seeds(given, probe, None).offline_qps == 7.0 and not calls
    bench = Seeds(offline_qps=9.0, server_qps=3.0, source="bench")
    both = RunSettings(scenarios=("Offline", "SingleStream"), seeds=Seeds(source="given"))
    seeds = resolve_seeds(both, probe, bench)
    assert calls and seeds.offline_qps == 9.0 and seeds.single_stream_latency_ms == 1.0
    assert "bench" in seeds.source and "probe" in seeds.source


def test_the_watchdog_expects_the_rules_query_counts() -> None:
    seeds = Seeds(offline_qps=15.0, server_qps=5.0, single_stream_latency_ms=10.0)
    compliant = RunSettings()
    assert expected_seconds(compliant, "Offline", "performance", seeds, 100) == pytest.approx(24576 / 15)
    assert expected_seconds(compliant, "SingleStream", "performance", seeds, 100) == pytest.approx(660.0)
    quick = RunSettings(quick=True, min_duration_ms=500)
    assert expected_seconds(quick, "Server", "performance", seeds, 100) == pytest.approx(500 / 5)
    assert expected_seconds(quick, "Offline", "accuracy", seeds, 300) == pytest.approx(20.0)


def _detail(folder: Path, entries: list[tuple[str, object, bool]]) -> Path:
    lines = [":::MLLOG " + json.dumps({"key": key, "value": value, "metadata": {"is_error": error}})
             for key, value, error in entries]
    (folder / "mlperf_log_detail.txt").write_text("\n".join(["noise", *lines]) + "\n")
    return folder


def test_detail_log_gives_validity_reasons_errors_and_the_metric(tmp_path: Path) -> None:
    _detail(tmp_path, [("result_validity", "INVALID", False), ("result_perf_constraints_met", False, False),
                       ("result_invalid_reason", "Reduce target QPS to improve latency. ", False),
                       ("error_runtime", "Ending early", True), ("result_scheduled_samples_per_sec", 123.5, False),
                       ("result_99.00_percentile_latency_ns", 15_500_000, False), ("result_query_count", 600, False),
                       ("effective_target_qps", 125, False)])
    log = parse_detail(tmp_path, "Server")
    assert log.validity == "INVALID" and log.value == 123.5 and log.unit == "samples/s"
    assert log.reasons == ["Reduce target QPS to improve latency", "the latency bound was not met"]
    assert log.errors == ["error_runtime: Ending early"] and log.latency_ms["p99"] == pytest.approx(15.5)
    assert log.queries == 600 and log.settings["target_qps"] == 125
    _detail(tmp_path, [("power_end", "x", False)])
    assert parse_detail(tmp_path, "Offline", "accuracy").validity == "done"
    with pytest.raises(Exception, match="holds no result"):
        parse_detail(tmp_path, "Offline", "performance")


def test_accuracy_log_reads_classes_and_logit_rows(tmp_path: Path) -> None:
    labels = np.array([3, 1, 2], dtype=np.int64)
    records = [{"seq_id": 0, "qsl_idx": 0, "data": np.int32(3).tobytes().hex()},
               {"seq_id": 1, "qsl_idx": 1, "data": np.int32(1).tobytes().hex()},
               {"seq_id": 2, "qsl_idx": 2, "data": np.int32(0).tobytes().hex()}]
    (tmp_path / "mlperf_log_accuracy.json").write_text(json.dumps(records))
    score = score_accuracy(tmp_path, labels)
    assert score.samples == 3 and score.top1 == pytest.approx(200 / 3)
    for dtype in (np.float32, np.float16):  # logit rows, as the TensorRT SUT answers
        rows = [{"seq_id": i, "qsl_idx": i, "data": np.eye(4, dtype=dtype)[k].tobytes().hex()}
                for i, k in enumerate((3, 0, 2))]
        (tmp_path / "mlperf_log_accuracy.json").write_text(json.dumps(rows))
        assert score_accuracy(tmp_path, labels, np.dtype(dtype).name).top1 == pytest.approx(200 / 3)
    with pytest.raises(InvalidInputError, match="needs labelled samples"):
        score_accuracy(tmp_path, None)


def test_server_addresses() -> None:
    assert ServerAddress.parse("localhost:8001") == ServerAddress("grpc", "localhost:8001")
    assert ServerAddress.parse("http://10.0.0.2:8000/") == ServerAddress("http", "10.0.0.2:8000")
    assert str(ServerAddress.parse("grpc://h:1")) == "grpc://h:1"
    for bad in ("localhost", "http://host", "host:port"):
        with pytest.raises(InvalidInputError, match="HOST:PORT"):
            ServerAddress.parse(bad)


def test_val_map_lists_images_read_with_the_imagenet_transform(tmp_path: Path) -> None:
    from PIL import Image

    from resnet_deploy.input_spec import InputSpec
    from resnet_deploy.mlperf.samples import prepare_samples, read_val_map

    folder = tmp_path / "val"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(folder / f"ILSVRC2012_val_{i:08d}.JPEG",
                                                                                format="PNG")
    (folder / "val_map.txt").write_text("".join(f"ILSVRC2012_val_{i:08d}.JPEG {i * 7}\n" for i in range(3)))
    assert read_val_map(folder / "val_map.txt")[1] == ("ILSVRC2012_val_00000001.JPEG", 7)
    prepared = prepare_samples(tmp_path, InputSpec(3, 32, 32), dataset=None, data_dir=None,
                               val_map=folder / "val_map.txt", random=None, limit=None, dtype=np.dtype(np.float16))
    x = np.load(prepared.path)
    assert x.shape == (3, 3, 32, 32) and x.dtype == np.float16 and list(prepared.labels) == [0, 7, 14]
    assert prepared.names[2] == "ILSVRC2012_val_00000002.JPEG"
    (folder / "val_map.txt").write_text("just-a-name\n")
    with pytest.raises(InvalidInputError, match="line 1"):
        read_val_map(folder / "val_map.txt")
