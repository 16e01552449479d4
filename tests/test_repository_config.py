"""What repository.json and the repository's retry rules do, observed on real models:
version policies ``all`` and ``specific``, batching options per model, the retry of a
failed version once its files change, a version whose warm-up fails, SERVING_LOG_LEVEL."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from prometheus_client import REGISTRY

from tests.conftest import ROOT, serving_app
from tests.traffic import DIGITS_BODY


def _settings(repo: Path):
    from service.settings import Settings

    return Settings(model_repository=repo, poll_interval_s=0, grpc_port=0)


def _digits_repo(tmp_path: Path, tiny_models: Path, config: dict | None = None) -> Path:
    """digits versions 1, 2 and 3 (3 a copy of 1), and the config file if given."""
    repo = tmp_path / "repo"
    for version in (1, 2):
        shutil.copytree(tiny_models / "digits" / str(version), repo / "digits" / str(version))
    shutil.copytree(tiny_models / "digits" / "1", repo / "digits" / "3")
    if config is not None:
        (repo / "repository.json").write_text(json.dumps(config))
    return repo


def _write_config(repo: Path, config: dict) -> None:
    (repo / "repository.json").write_text(json.dumps(config))


def _served(client, model: str = "digits") -> dict[int, str]:
    """Version -> state from TF Serving's status endpoint."""
    status = client.get(f"/v1/models/{model}").get_json()["model_version_status"]
    return {int(s["version"]): s["state"] for s in status}


def _counter(name: str, model: str) -> float:
    return REGISTRY.get_sample_value(name, {"model": model}) or 0.0


def test_policies_all_and_specific_pick_the_versions_that_load_and_serve(tiny_models, tmp_path):
    policy = {"models": {"digits": {"version_policy": {"all": True}}}}
    repo = _digits_repo(tmp_path, tiny_models, policy)
    with serving_app(_settings(repo)) as app:
        client, repository = app.test_client(), app.extensions["dataplane"].repository
        assert _served(client) == {1: "AVAILABLE", 2: "AVAILABLE", 3: "AVAILABLE"}
        for version in (1, 2, 3):
            r = client.post(f"/v1/models/digits/versions/{version}:predict", json=DIGITS_BODY)
            assert (r.status_code, r.headers["X-Model-Version"]) == (200, f"digits/{version}")

        _write_config(repo, {"models": {"digits": {"version_policy": {"specific": [1, 3]}}}})
        repository.scan()
        assert _served(client) == {1: "AVAILABLE", 2: "END", 3: "AVAILABLE"}
        r = client.post("/v1/models/digits/versions/2:predict", json=DIGITS_BODY)
        assert r.status_code == 404, r.get_json()
        r = client.post("/v1/models/digits:predict", json=DIGITS_BODY)  # latest of [1, 3]
        assert r.headers["X-Model-Version"] == "digits/3"

        # a specific version that is not on disk loads nothing and breaks nothing
        _write_config(repo, {"models": {"digits": {"version_policy": {"specific": [2, 9]}}}})
        repository.scan()
        assert _served(client) == {1: "END", 2: "AVAILABLE", 3: "END"}


@pytest.fixture(scope="module")
def rows_model(tmp_path_factory) -> Path:
    """'rows': every output row is the number of rows of the model call it was part of, so
    padding to an allowed batch size is visible in the answer itself."""
    import tensorflow as tf

    class Rows(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
        def serve(self, x):
            return {"rows": 0.0 * x + tf.cast(tf.shape(x)[0], tf.float32)}

    path = tmp_path_factory.mktemp("rows") / "1"
    module = Rows()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def _rows_repo(tmp_path: Path, rows_model: Path, batching: dict) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(rows_model, repo / "rows" / "1")
    _write_config(repo, {"models": {"rows": {"batching": batching}}})
    return repo


def _rows_call(client, n: int) -> list[float]:
    r = client.post("/v1/models/rows:predict", json={"instances": [[1.0]] * n})
    assert r.status_code == 200, r.get_json()
    return [row[0] for row in r.get_json()["predictions"]]


def test_batching_options_from_the_config_file(rows_model, tmp_path):
    batching = {"max_batch_size": 8, "allowed_batch_sizes": [4, 8], "num_batch_threads": 3}
    repo = _rows_repo(tmp_path, rows_model, batching)
    labels = {"model": "rows", "version": "1"}
    before = REGISTRY.get_sample_value("serving_batch_size_rows_sum", labels) or 0.0
    with serving_app(_settings(repo)) as app:
        client = app.test_client()
        # 3 rows run padded to 4, 5 to 8, 8 as they are; 11 split into 8 + 3 (padded to 4)
        assert _rows_call(client, 3) == [4.0] * 3
        assert _rows_call(client, 5) == [8.0] * 5
        assert _rows_call(client, 8) == [8.0] * 8
        assert _rows_call(client, 11) == [8.0] * 8 + [4.0] * 3
        # the batch-size histogram counts rows before padding: the warm-up's 1 + 3 + 5 + 8 + 11
        after = REGISTRY.get_sample_value("serving_batch_size_rows_sum", labels)
        assert after - before == 28
        threads = [t.name for t in threading.enumerate() if t.name.startswith("batcher-rows/1-")]
        assert sorted(threads) == ["batcher-rows/1-0", "batcher-rows/1-1", "batcher-rows/1-2"]


def test_batching_disabled_in_the_config_file_runs_each_request_alone(rows_model, tmp_path):
    repo = _rows_repo(tmp_path, rows_model, {"enabled": False})
    labels = {"model": "rows", "version": "1"}
    before = REGISTRY.get_sample_value("serving_batch_size_rows_count", labels) or 0.0
    with serving_app(_settings(repo)) as app:
        model = app.extensions["dataplane"].repository.get("rows")
        assert model.signature(None).batcher is None
        assert not [t for t in threading.enumerate() if t.name.startswith("batcher-rows/")]
        client = app.test_client()
        assert _rows_call(client, 100) == [100.0] * 100  # no max_batch_size split either
        after = REGISTRY.get_sample_value("serving_batch_size_rows_count", labels) or 0.0
        assert after == before  # no batcher, no batch observed


def test_a_failed_version_is_retried_only_once_its_files_change(tiny_models, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(tiny_models / "digits" / "1", repo / "digits" / "1")
    broken = repo / "digits" / "2"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
    attempts, failures = "serving_model_load_attempts_total", "serving_model_load_failures_total"
    start = _counter(attempts, "digits"), _counter(failures, "digits")
    with serving_app(_settings(repo)) as app:
        client, repository = app.test_client(), app.extensions["dataplane"].repository
        # latest 1 tries version 2, and once it failed, version 1 in the same scan
        assert _served(client) == {2: "END", 1: "AVAILABLE"}
        for _ in range(3):  # unchanged: not retried on later polls
            repository.scan()
        assert (_counter(attempts, "digits"), _counter(failures, "digits")) == (
            start[0] + 2,
            start[1] + 1,
        )
        shutil.rmtree(broken)
        shutil.copytree(tiny_models / "digits" / "2", broken)  # fixed in place
        repository.scan()
        assert _served(client) == {2: "AVAILABLE", 1: "END"}
        assert _counter(attempts, "digits") == start[0] + 3
        assert _counter(failures, "digits") == start[1] + 1


@pytest.fixture(scope="module")
def positive_only(tmp_path_factory) -> Path:
    """A graph asserting x > 0: the zero input the warm-up builds from the signature fails."""
    import tensorflow as tf

    class PositiveOnly(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
        def serve(self, x):
            with tf.control_dependencies([tf.debugging.assert_positive(x)]):
                return {"y": tf.math.log(x)}

    path = tmp_path_factory.mktemp("positive") / "1"
    module = PositiveOnly()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def test_a_version_whose_warm_up_fails_is_reported_and_never_published(positive_only, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(positive_only, repo / "positive" / "1")
    failures = _counter("serving_model_load_failures_total", "positive")
    with serving_app(_settings(repo)) as app:
        client = app.test_client()
        status = client.get("/v1/models/positive").get_json()["model_version_status"]
        assert [(s["version"], s["state"]) for s in status] == [("1", "END")]
        message = status[0]["status"]["error_message"]
        assert message.startswith("failed to load positive version 1: ")
        assert "warm-up of signature 'serving_default' failed" in message
        assert _counter("serving_model_load_failures_total", "positive") == failures + 1
        r = client.post("/v1/models/positive:predict", json={"instances": [[2.0]]})
        assert r.status_code == 503, r.get_json()
        assert client.get("/readyz").get_json()["reasons"]["positive"] == message
        assert not app.extensions["dataplane"].repository.labels("positive")


def _wait_until_digits_answers(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.ConnectionError):  # not listening yet
            if requests.post(url + "/v1/models/digits:predict", json=DIGITS_BODY).ok:
                return
        time.sleep(0.2)
    raise TimeoutError(f"digits did not answer within {timeout}s")


def _json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


@pytest.mark.parametrize("level", ["WARNING", "INFO", "DEBUG"])
def test_log_level(tiny_models, tmp_path, live_server, level):
    """WARNING: no access log and no info lines, errors still logged; INFO and DEBUG: one
    access line per request."""
    repo = tmp_path / "repo"
    shutil.copytree(tiny_models / "digits" / "1", repo / "digits" / "1")
    (repo / "broken" / "1").mkdir(parents=True)
    (repo / "broken" / "1" / "saved_model.pb").write_bytes(b"junk")  # an error to log
    server = live_server(repo, workers=1, env={"SERVING_LOG_LEVEL": level}, wait=False)
    _wait_until_digits_answers(server.url)  # /readyz stays 503: 'broken' never loads
    for _ in range(5):
        assert requests.post(server.url + "/v1/models/digits:predict", json=DIGITS_BODY).ok
    server.stop()  # flushes the access log
    lines = _json_lines(server.log_path)
    access = [line for line in lines if line.get("endpoint") == "predict"]
    levels = {line["level"] for line in lines}
    assert any("failed to load broken version 1" in line["msg"] for line in lines)
    if level == "WARNING":
        assert access == [] and "info" not in levels, levels
    else:
        assert len(access) >= 6 and "info" in levels
        assert all(line["model"] == "digits" and line["status"] == 200 for line in access)


def test_a_bad_log_level_exits_naming_the_variable():
    proc = subprocess.run(
        [sys.executable, "-m", "service"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SERVING_LOG_LEVEL": "LOUD"},
    )
    assert proc.returncode != 0
    assert "SERVING_LOG_LEVEL" in proc.stderr, proc.stderr[-2000:]
