"""``python -m bench --quick`` end to end: a well-formed results file, table and plot.

Checks the shape of the results only, never the timing targets (those depend on the
machine and on whatever else runs on it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"rest_v1", "task", "v2_json", "v2_binary", "grpc"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("bench-results")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env = {k: v for k, v in env.items() if not k.startswith("SERVING_")}  # default topology
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, proc


@pytest.fixture(scope="module")
def results(quick_run) -> dict:
    return json.loads((quick_run[0] / "results.json").read_text())


def test_every_target_and_level_is_reported(results):
    assert results["mode"] == "quick"
    assert results["concurrency"] == [1, 16]
    assert set(results["targets"]) == TARGETS
    for key, target in results["targets"].items():
        levels = {lv["concurrency"]: lv for lv in target["levels"]}
        assert sorted(levels) == results["concurrency"], key
        assert target["available"], f"{key}: {target.get('reason')}"
        for lv in levels.values():
            assert isinstance(lv["requests_per_s"], float) and lv["requests_per_s"] > 0, key
            assert 0 < lv["p50_ms"] <= lv["p99_ms"], key
            assert lv["requests"] > 0, key
            assert lv["rounds_requests_per_s"] == [lv["requests_per_s"]], key  # one round


def test_rest_targets_are_available(results):
    # REST v1 and the task verb exist since the service issue; a regression shows here.
    assert results["targets"]["rest_v1"]["available"], results["targets"]["rest_v1"]["reason"]
    assert results["targets"]["task"]["available"], results["targets"]["task"]["reason"]


def test_ceilings_are_measured(results):
    batches = results["ceilings"]["in_process"]["batches"]
    assert set(batches) == {"1", "32", "64"}
    assert all(b["items_per_s"] > 0 for b in batches.values())
    for key in ("echo", "zero_cost"):
        ceiling = results["ceilings"][key]
        assert ceiling.get("available", True), ceiling.get("reason")
        levels = {lv["concurrency"]: lv for lv in ceiling["levels"]}
        assert sorted(levels) == [1, 16], key
        assert all(lv["status"] == "ok" and lv["requests_per_s"] > 0 for lv in levels.values())
    # the stand-in is served beside the real model, under its own name
    assert results["ceilings"]["zero_cost"]["path"] == "/v1/models/digits_zero_cost:predict"


def test_worker_memory_is_measured(results):
    memory = results["memory"]
    assert memory["workers"] == 1 and memory["models"] == ["digits"]  # quick: the tiny repo
    # a TensorFlow worker with a model loaded holds well over 100 MiB and the peak is a peak
    assert 100 < memory["rss_mib"] <= memory["peak_rss_mib"]
    goal = next(g for g in results["goals"] if "RSS" in g["goal"])
    assert (goal["threshold"], goal["unit"], goal["met"]) == (1024.0, "MiB", True)


def test_quick_mode_runs_no_peer_and_judges_no_peer_target(results):
    assert results["peers"] == {} and results["workloads"] == {}
    assert results["cold_start"] is None
    peer_goals = [g for g in results["goals"] if "RSS" not in g["goal"]]
    assert peer_goals and all(g["met"] is None and g["reference"] is None for g in peer_goals)


def test_run_metadata(results):
    assert results["machine"]["cores"] >= 1
    assert results["software"]["tensorflow"]
    assert results["settings"]["workers"] >= 1
    assert results["model"]["name"] == "digits"
    assert results["model"]["request"]["image"]["shape"] == [1, 28, 28, 1]


def test_table_and_plot(quick_run):
    out, proc = quick_run
    assert (out / "throughput.png").read_bytes()[:8] == PNG_MAGIC
    table = (out / "table.md").read_text()
    assert table.startswith("| API | c=1: req/s, p50 / p99 | c=16: req/s, p50 / p99 |")
    assert "| REST v1 JSON (:predict) |" in table
    assert "| REST v1 JSON, zero-cost model (same signature) |" in table
    assert "Stack vs model at c=16: REST v1 on a zero-cost stand-in" in table
    assert table.splitlines()[0] in proc.stdout  # printed as well as written


def test_median_entry_keeps_the_median_run_whole():
    from bench.run import median_entry

    def run(rps, p99, status="ok"):
        return {"concurrency": 64, "status": status, "requests_per_s": rps, "p99_ms": p99}

    rounds = [
        {"label": "x", "levels": [run(900.0, 80.0)]},
        {"label": "x", "levels": [run(1100.0, 60.0)]},
        {"label": "x", "levels": [run(1000.0, 70.0)]},
        {"label": "x", "levels": [run(None, None, "failed")]},
    ]
    level = median_entry(rounds)["levels"][0]
    # the median of the three good rounds, with its own p99, and every round listed
    assert (level["requests_per_s"], level["p99_ms"]) == (1000.0, 70.0)
    assert level["rounds_requests_per_s"] == [900.0, 1100.0, 1000.0, None]


H2LOAD_OUTPUT = """
finished in 4.01s, 1849.67 req/s, 303.57KB/s
requests: 5549 total, 5549 started, 5549 done, 5549 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 5549 2xx, 0 3xx, 0 4xx, 0 5xx
"""


def test_h2load_summary_and_request_log_are_parsed():
    from bench.grpc_load import grpc_frame, parse_h2load

    # nearest rank over the request log's latencies (µs): p50 of 1..100 ms is 51 ms
    level = parse_h2load(H2LOAD_OUTPUT, 4, [n * 1000 for n in range(100, 0, -1)], 3)
    assert (level.status, level.requests_per_s, level.requests) == ("ok", 1849.67, 5549)
    assert (level.p50_ms, level.p99_ms, level.errors) == (51.0, 100.0, 0)
    failing = H2LOAD_OUTPUT.replace("5549 succeeded, 0 failed", "5000 succeeded, 549 failed")
    assert parse_h2load(failing, 4, [1000], 3).status == "failed"
    assert parse_h2load("h2load: connection refused", 4, [], 3).status == "failed"
    assert grpc_frame(b"abc") == b"\x00\x00\x00\x00\x03abc"  # flag, big-endian length, message


def test_failed_grpc_calls_are_counted_from_the_servers_metrics():
    from bench.observe import count_failed_grpc_calls

    text = "\n".join(
        [
            'serving_requests_total{api="grpc",endpoint="predict",model="digits",'
            'status="OK",version="1"} 7350.0',
            'serving_requests_total{api="grpc",endpoint="predict",model="digits",'
            'status="INVALID_ARGUMENT",version="1"} 3.0',
            'serving_requests_total{api="grpc",endpoint="predict",model="",'
            'status="NOT_FOUND",version=""} 2.0',
            'serving_requests_total{api="rest_v1",endpoint="predict",model="digits",'
            'status="400",version="1"} 9.0',
        ]
    )
    assert count_failed_grpc_calls(text) == 5  # not the OK calls, not the REST failures


def test_zero_cost_model_has_the_signature_and_answers_zeros(tiny_models, tmp_path):
    import numpy as np

    from bench.zero_cost import export_zero_cost_model
    from service.served_model import read_signature_defs, tensor_specs
    from service.session_runner import SavedModelSession, ThreadOptions

    real = tiny_models / "digits" / "1"
    assert export_zero_cost_model(real, tmp_path / "1") is None
    real_def = read_signature_defs(real)["serving_default"]
    stand_in_def = read_signature_defs(tmp_path / "1")["serving_default"]
    for field in ("inputs", "outputs"):
        assert tensor_specs(getattr(stand_in_def, field)) == tensor_specs(getattr(real_def, field))
    run, _ = SavedModelSession(tmp_path / "1", ThreadOptions()).callable("serving_default")
    outputs = run({"image": np.ones((3, 28, 28, 1), np.float32)})
    assert outputs["probabilities"].shape == (3, 10)
    assert not outputs["probabilities"].any()


def test_zero_cost_model_refuses_an_unbatched_output(tmp_path):
    import tensorflow as tf

    from bench.zero_cost import export_zero_cost_model

    class Summed(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def serve(self, x):
            return {"total": tf.reduce_sum(x, axis=0)}  # shape [4]: no batch dimension

    module = Summed()
    tf.saved_model.save(module, str(tmp_path / "m" / "1"), signatures=module.serve)
    reason = export_zero_cost_model(tmp_path / "m" / "1", tmp_path / "out")
    assert reason == "'total' has no batch dimension"


def test_zero_cost_repository_links_the_real_one_and_copies_its_batching(tiny_models, tmp_path):
    import shutil

    from bench.zero_cost import build_repository

    repo = tmp_path / "repo"
    shutil.copytree(tiny_models / "digits", repo / "digits")
    batching = {"max_batch_size": 32, "batch_timeout_micros": 500}
    config = {"models": {"digits": {"labels": {"stable": 1}, "batching": batching}}}
    (repo / "repository.json").write_text(json.dumps(config))
    work = tmp_path / "work"
    work.mkdir()

    built = build_repository(repo, "digits", repo / "digits" / "1", work)
    assert built.model == "digits_zero_cost"
    assert (built.repo / "digits").resolve() == (repo / "digits").resolve()
    assert (built.repo / "digits_zero_cost" / "1" / "saved_model.pb").is_file()
    written = json.loads((built.repo / "repository.json").read_text())
    assert written["models"]["digits"] == config["models"]["digits"]  # the real one untouched
    assert written["models"]["digits_zero_cost"] == {"batching": batching}
    assert json.loads((repo / "repository.json").read_text()) == config  # original untouched


def test_stack_and_model_share_sentence():
    from bench.report import stack_and_model_share

    def entry(rps):
        return {"levels": [{"concurrency": 64, "requests_per_s": rps}]}

    results = {
        "concurrency": [1, 64],
        "targets": {"rest_v1": entry(600.0)},
        "ceilings": {"echo": entry(1000.0), "zero_cost": entry(900.0)},
    }
    sentence = stack_and_model_share(results)
    assert "reached 90% of the bare echo; with the model, 60%." in sentence
    del results["ceilings"]["zero_cost"]  # results written before the stand-in existed
    assert stack_and_model_share(results) is None
