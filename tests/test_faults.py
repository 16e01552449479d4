"""Faults under load: a real 2-worker gunicorn, several clients on keep-alive and fresh
connections, and one fault each. Every request that fails while a healthy version exists
is counted; the count must be 0. Each test prints its figures (``-s`` shows them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from tests.traffic import Traffic, metric_total, publish, wait_metric, worker_pids

CLIENTS = 6


def _repo(tmp_path: Path, tiny_models: Path, versions=(1,), config: dict | None = None) -> Path:
    repo = tmp_path / "repo"
    for version in versions:
        shutil.copytree(tiny_models / "digits" / str(version), repo / "digits" / str(version))
    if config is not None:
        _write_config(repo, config)
    return repo


def _write_config(repo: Path, config: dict | str) -> None:
    """Replace repository.json atomically, so no poll reads half a file."""
    text = config if isinstance(config, str) else json.dumps(config)
    tmp = repo / ".repository.json.tmp"
    tmp.write_text(text)
    os.replace(tmp, repo / "repository.json")


def _report(fault: str, traffic: Traffic, **figures) -> None:
    extra = "".join(f", {k} {v}" for k, v in figures.items())
    print(
        f"\nFAULT {fault}: {len(traffic.outcomes)} requests from {CLIENTS} clients, "
        f"failures {dict(traffic.failures())}{extra}"
    )


def test_a_new_version_swaps_in_without_a_failure(tiny_models, tmp_path, live_server):
    repo = _repo(tmp_path, tiny_models)
    server = live_server(repo)
    with Traffic(server.url, clients=CLIENTS) as traffic:
        traffic.wait_requests(60)
        since = time.monotonic()
        publish(tiny_models / "digits" / "2", repo / "digits", 2)
        took = traffic.wait_for_version("digits/2", since)
        traffic.wait_requests(60)
    _report("hot swap", traffic, switched_after_s=round(took, 2))
    assert traffic.versions().keys() == {"digits/1", "digits/2"}
    assert traffic.failures() == {}


def test_a_corrupt_version_never_displaces_the_serving_one(tiny_models, tmp_path, live_server):
    repo = _repo(tmp_path, tiny_models)
    server = live_server(repo)
    with Traffic(server.url, clients=CLIENTS) as traffic:
        traffic.wait_requests(60)
        corrupt = repo / "digits" / ".tmp-2"
        corrupt.mkdir()
        (corrupt / "saved_model.pb").write_bytes(b"\x08\x01garbage, not a SavedModel")
        corrupt.rename(repo / "digits" / "2")
        # both workers tried it and failed
        wait_metric(server.url, "serving_model_load_failures_total", 2, model="digits")
        traffic.wait_requests(60)
    _report("corrupt version", traffic)
    assert traffic.versions() == {"digits/1": len(traffic.outcomes)}
    assert traffic.failures() == {}
    status = requests.get(server.url + "/v1/models/digits", timeout=10).json()
    states = {s["version"]: s["state"] for s in status["model_version_status"]}
    assert states == {"2": "END", "1": "AVAILABLE"}


def test_a_half_copied_version_is_retried_until_complete(tiny_models, tmp_path, live_server):
    """A version copied in place (no rename): the poller sees it at every step. Each
    incomplete state fails to load (counted), the serving version is untouched, and the
    version loads once its last file lands, even when that file lands in ``variables/``
    (which changes no mtime of the version directory itself)."""
    repo = _repo(tmp_path, tiny_models)
    server = live_server(repo)
    src, dst = tiny_models / "digits" / "2", repo / "digits" / "2"
    graph = (src / "saved_model.pb").read_bytes()
    with Traffic(server.url, clients=CLIENTS) as traffic:
        traffic.wait_requests(60)
        dst.mkdir()
        (dst / "saved_model.pb").write_bytes(graph[: len(graph) // 2])  # still being written
        wait_metric(server.url, "serving_model_load_failures_total", 2, model="digits")
        (dst / "saved_model.pb").write_bytes(graph)  # complete graph, variables/ not yet
        (dst / "variables").mkdir()
        wait_metric(server.url, "serving_model_load_failures_total", 4, model="digits")
        for extra in src.iterdir():  # the card and assets
            if extra.is_file() and extra.name != "saved_model.pb":
                shutil.copy2(extra, dst / extra.name)
        # The variables' data without their index: one more incomplete state. Each state is
        # waited for, so a poll between two copies cannot add a failure the test did not plan.
        *first, last = sorted((src / "variables").iterdir(), key=lambda p: p.suffix == ".index")
        for part in first:
            shutil.copyfile(part, dst / "variables" / part.name)
        wait_metric(server.url, "serving_model_load_failures_total", 6, model="digits")
        traffic.wait_requests(30)
        since = time.monotonic()
        staged = tmp_path / last.name  # the last file lands whole, in one rename
        shutil.copyfile(last, staged)
        os.replace(staged, dst / "variables" / last.name)
        took = traffic.wait_for_version("digits/2", since)
        traffic.wait_requests(30)
    _report("half-copied version", traffic, served_after_complete_s=round(took, 2))
    # 2 workers x 3 incomplete states, each tried once: no retry until the files change.
    assert metric_total(server.url, "serving_model_load_failures_total", model="digits") == 6
    assert traffic.failures() == {}


@pytest.fixture(scope="module")
def flat_digits(tmp_path_factory) -> Path:
    """A 'digits' version with an incompatible signature: input 'pixels' [-1, 784]."""
    import tensorflow as tf

    class Flat(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 784], tf.float32, name="pixels")])
        def serve(self, pixels):
            return {"scores": tf.nn.softmax(tf.zeros([tf.shape(pixels)[0], 10]))}

    path = tmp_path_factory.mktemp("flat") / "2"
    module = Flat()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def test_an_incompatible_signature_serves_pinned_clients_from_the_old_version(
    tiny_models, tmp_path, live_server, flat_digits
):
    """TF Serving's behaviour, kept: the new version becomes the latest, so a request shaped
    for the old signature that asks for the latest gets a 400 naming the new input (a client
    error, not a server failure). Clients pinned with a label (``stable: 1``, policy
    ``latest: 2`` keeping both) are not affected at all."""
    config = {"models": {"digits": {"version_policy": {"latest": 2}, "labels": {"stable": 1}}}}
    repo = _repo(tmp_path, tiny_models, config=config)
    server = live_server(repo)
    body = {"instances": [np.zeros((28, 28, 1)).tolist()]}

    def send(session: requests.Session, client: int) -> requests.Response:
        pinned = client < 4
        path = "/labels/stable:predict" if pinned else ":predict"
        return session.post(f"{server.url}/v1/models/digits{path}", json=body, timeout=60)

    with Traffic(server.url, clients=CLIENTS, request=send) as traffic:
        traffic.wait_requests(60)
        since = time.monotonic()
        publish(flat_digits, repo / "digits", 2)
        traffic.wait_for(
            lambda: traffic.counts(since).get("400", 0) >= 20, 30, "the latest turns flat"
        )
        traffic.wait_requests(60)
    pinned = [o for o in traffic.outcomes if o.client < 4]
    latest = [o for o in traffic.outcomes if o.client >= 4]
    print(
        f"\nFAULT incompatible signature: pinned clients {len(pinned)} requests, failures "
        f"{sum(o.kind != '200' for o in pinned)}; unpinned clients {len(latest)} requests, "
        f"{sum(o.kind == '400' for o in latest)} answered 400 by the new latest"
    )
    assert {(o.kind, o.version) for o in pinned} == {("200", "digits/1")}
    assert {o.kind for o in latest} == {"200", "400"}
    r = requests.post(server.url + "/v1/models/digits:predict", json=body, timeout=10)
    assert r.status_code == 400 and "'pixels'" in r.json()["error"], r.text


@pytest.fixture(scope="module")
def checked_repo(tmp_path_factory) -> Path:
    """'checked': y = 2x, but the graph asserts x >= 0 at run time (tf.debugging)."""
    import tensorflow as tf

    class Checked(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
        def serve(self, x):
            with tf.control_dependencies([tf.debugging.assert_non_negative(x)]):
                return {"y": 2 * x}

    root = tmp_path_factory.mktemp("checked-repo")
    module = Checked()
    tf.saved_model.save(
        module, str(root / "checked" / "1"), signatures={"serving_default": module.serve}
    )
    return root


def test_a_model_raising_in_the_graph_fails_only_that_request(checked_repo, live_server):
    server = live_server(checked_repo)
    path = "/v1/models/checked:predict"
    good = Traffic(server.url, path, {"instances": [[1.0]]}, clients=CLIENTS)
    bad = Traffic(server.url, path, {"instances": [[-1.0]]}, clients=2)
    with good, bad:
        good.wait_requests(300)
    bad_kinds = bad.counts()
    print(
        f"\nFAULT model raises in the graph: {len(good.outcomes)} valid requests, failures "
        f"{dict(good.failures())}; {len(bad.outcomes)} asserting requests: {dict(bad_kinds)}"
    )
    assert good.failures() == {}
    assert bad_kinds.keys() == {"400"} and bad_kinds["400"] > 20
    r = requests.post(server.url + path, json={"instances": [[-1.0]]}, timeout=10)
    assert r.json()["error"].startswith("the model rejected the input: "), r.text
    assert requests.post(server.url + path, json={"instances": [[3.0]]}, timeout=10).json() == {
        "predictions": [[6.0]]
    }


def test_deleting_the_serving_version_moves_requests_to_the_other(
    tiny_models, tmp_path, live_server
):
    """Policy latest 1 serves version 2; version 1 is on disk. ``rm -r`` of version 2 (not
    atomic: the poller may see it half gone) loads version 1 before 2 is unpublished."""
    repo = _repo(tmp_path, tiny_models, versions=(1, 2))
    server = live_server(repo)
    with Traffic(server.url, clients=CLIENTS) as traffic:
        traffic.wait_requests(60)
        assert traffic.versions() == {"digits/2": len(traffic.outcomes)}
        since = time.monotonic()
        shutil.rmtree(repo / "digits" / "2")
        took = traffic.wait_for_version("digits/1", since)
        traffic.wait_requests(60)
    _report("serving version deleted", traffic, moved_after_s=round(took, 2))
    assert traffic.failures() == {}


def test_a_bad_config_edit_keeps_the_last_good_one(tiny_models, tmp_path, live_server):
    """Invalid JSON, then a label on a version that is not loaded: both refused whole (the
    labels in force stay), logged, and counted in serving_repository_config_errors_total
    once per worker and distinct error; a good edit then applies."""
    good = {"models": {"digits": {"version_policy": {"latest": 2}, "labels": {"stable": 1}}}}
    repo = _repo(tmp_path, tiny_models, versions=(1, 2), config=good)
    server = live_server(repo)
    errors = "serving_repository_config_errors_total"
    path = "/v1/models/digits/labels/stable:predict"
    with Traffic(server.url, path, clients=CLIENTS) as traffic:
        traffic.wait_requests(60)
        assert metric_total(server.url, errors) == 0
        _write_config(repo, '{"models": {"digits": {"labels": {"stable": 1}')  # cut short
        wait_metric(server.url, errors, 2)
        dangling = json.loads(json.dumps(good))
        dangling["models"]["digits"]["labels"] = {"stable": 2, "canary": 7}
        _write_config(repo, dangling)
        wait_metric(server.url, errors, 4)
        traffic.wait_requests(60)
        labels = requests.get(server.url + "/v1/models", timeout=10).json()["models"][0]["labels"]
        assert labels == {"stable": 1}  # not stable -> 2: the whole file was refused
        assert traffic.versions() == {"digits/1": len(traffic.outcomes)}
        since = time.monotonic()
        good["models"]["digits"]["labels"] = {"stable": 2}
        _write_config(repo, good)
        took = traffic.wait_for_version("digits/2", since)
    _report("invalid repository.json, then a dangling label", traffic, relabel_s=round(took, 2))
    assert traffic.failures() == {}
    assert metric_total(server.url, errors) == 4
    log = server.log_path.read_text()
    assert "keeping the previous repository config" in log
    assert "label 'canary' of model 'digits' points to version 7, which is not loaded" in log


def test_a_killed_worker_loses_only_its_in_flight_requests(tiny_models, tmp_path, live_server):
    repo = _repo(tmp_path, tiny_models)
    server = live_server(repo)
    before = worker_pids(server.process.pid)
    assert len(before) == 2
    with Traffic(server.url, clients=CLIENTS) as traffic:
        traffic.wait_requests(100)
        killed_at = time.monotonic()
        os.kill(before[0], signal.SIGKILL)
        traffic.wait_for(
            lambda: len(set(worker_pids(server.process.pid)) - set(before)) == 1, 30, "a new worker"
        )
        server.wait_ready()  # the replacement has loaded its models
        traffic.wait_requests(100)
    lost = traffic.failures()
    late = traffic.failures(since=killed_at + 1.0)
    _report("worker SIGKILL", traffic, lost_at_the_kill=sum(lost.values()))
    assert sum(lost.values()) <= CLIENTS and late == {}, lost  # one in flight per client at most
    # Every loss is the connection dying, never an HTTP error: a reset, or (when the kill
    # landed between gunicorn's write of the headers and its write of the body) a response
    # cut short, which requests reports as ChunkedEncodingError.
    assert all(kind.startswith(("ConnectionError", "ChunkedEncodingError")) for kind in lost), lost
    # the dead worker's gauges are gone (child_exit -> mark_process_dead), its counts are not
    wait_metric(server.url, "serving_requests_in_flight", 0, api="rest_v1")
    assert metric_total(server.url, "serving_model_versions_loaded", model="digits") == 1
    answered = metric_total(server.url, "serving_requests_total", endpoint="predict")
    served = traffic.counts()["200"]
    assert served <= answered <= served + sum(lost.values()), (answered, traffic.counts())
