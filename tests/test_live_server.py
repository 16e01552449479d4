"""A real gunicorn server on loopback: hot reload under load, readiness, metrics with a real
Prometheus server scraping it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time

import numpy as np
import pytest
import requests

from tests.conftest import free_port

BODY = {"instances": [np.zeros((28, 28, 1)).tolist()]}


def _publish(src, repo, version):
    """Copy a version in under a hidden name, then rename: what the exporter does."""
    tmp = repo / "digits" / f".tmp-{version}"
    shutil.copytree(src, tmp)
    os.rename(tmp, repo / "digits" / str(version))


class Traffic(threading.Thread):
    """Sends predict requests back to back; records every status and serving version."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url, self.stop, self.results = url, threading.Event(), []

    def run(self):
        session = requests.Session()
        while not self.stop.is_set():
            try:
                r = session.post(self.url + "/v1/models/digits:predict", json=BODY, timeout=10)
                self.results.append(
                    (r.status_code, r.headers.get("X-Model-Version"), time.monotonic())
                )
            except requests.RequestException as exc:
                self.results.append((str(exc), None, time.monotonic()))

    def failures(self):
        return [r for r in self.results if r[0] != 200]


def _wait_for_version(traffic, version, since, timeout=20.0):
    """Seconds until the last 10 responses all came from ``version``."""
    deadline = since + timeout
    while time.monotonic() < deadline:
        tail = traffic.results[-10:]
        if len(tail) == 10 and all(r[1] == f"digits/{version}" and r[2] > since for r in tail):
            return time.monotonic() - since
        time.sleep(0.05)
    raise AssertionError(f"version {version} not served within {timeout}s: {tail}")


def test_hot_reload_under_load(tiny_models, tmp_path, live_server):
    repo = tmp_path / "repo"
    (repo / "digits").mkdir(parents=True)
    shutil.copytree(tiny_models / "digits" / "1", repo / "digits" / "1")
    server = live_server(repo, workers=2)
    traffic = Traffic(server.url)
    traffic.start()
    try:
        time.sleep(1.0)
        assert traffic.results and traffic.results[-1][1] == "digits/1"

        started = time.monotonic()
        _publish(tiny_models / "digits" / "2", repo, 2)
        _wait_for_version(traffic, 2, started)

        shutil.rmtree(repo / "digits" / "1")  # the old version goes away
        time.sleep(1.5)

        corrupt = repo / "digits" / ".tmp-3"
        corrupt.mkdir()
        (corrupt / "saved_model.pb").write_bytes(b"\x00corrupt")
        os.rename(corrupt, repo / "digits" / "3")
        deadline = time.monotonic() + 20  # a poll (0.5 s) finds it, even on a busy machine
        while time.monotonic() < deadline:
            status = requests.get(server.url + "/v1/models/digits").json()["model_version_status"]
            states = {s["version"]: s["state"] for s in status}
            if states.get("3") == "END":
                break
            time.sleep(0.2)
        time.sleep(0.5)
        assert all(r[1] == "digits/2" for r in traffic.results[-10:])
        assert states["2"] == "AVAILABLE" and states["3"] == "END"
        assert "failed to load digits version 3" in status[0]["status"]["error_message"]
    finally:
        traffic.stop.set()
        traffic.join(timeout=15)
    assert len(traffic.results) > 50
    assert traffic.failures() == []


def test_readiness_in_process(tiny_models):
    from service import create_app
    from service.settings import Settings

    app = create_app(Settings(model_repository=tiny_models, poll_interval_s=0, grpc_port=0))
    client = app.test_client()
    r = client.get("/readyz")
    assert r.status_code == 503 and r.get_json() == {
        "status": "not ready",
        "reasons": {"*": "the model repository has not been scanned yet"},
    }
    repository = app.extensions["dataplane"].repository
    repository.scan()
    repository.scanned.set()
    assert client.get("/readyz").get_json() == {"status": "ready"}
    assert client.get("/healthz").status_code == 200
    # a model whose only version cannot load keeps the server not ready, with the reason
    broken = tiny_models.parent / "with-broken"
    shutil.copytree(tiny_models / "digits", broken / "digits")
    (broken / "bad" / "1").mkdir(parents=True)
    (broken / "bad" / "1" / "saved_model.pb").write_bytes(b"junk")
    app = create_app(Settings(model_repository=broken, poll_interval_s=0, grpc_port=0))
    app.extensions["dataplane"].repository.scan()
    app.extensions["dataplane"].repository.scanned.set()
    r = app.test_client().get("/readyz")
    assert r.status_code == 503 and list(r.get_json()["reasons"]) == ["bad"]
    assert r.get_json()["reasons"]["bad"].startswith("failed to load bad version 1")


def test_a_booting_worker_takes_no_traffic_before_its_models_load(
    tiny_models, tmp_path, live_server
):
    """Workers load their models before accepting connections (as TF Serving opens its
    ports only after loading): requests sent while the server boots wait, never 503."""
    repo = tmp_path / "repo"
    shutil.copytree(tiny_models, repo)
    server = live_server(repo, workers=2, wait=False)
    answered = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(answered) < 20:
        with contextlib.suppress(requests.ConnectionError):  # the socket is not bound yet
            r = requests.post(server.url + "/v1/models/digits:predict", json=BODY, timeout=60)
            answered.append(r.status_code)
            answered.append(requests.get(server.url + "/readyz", timeout=60).status_code)
        time.sleep(0.01)
    assert len(answered) == 20 and set(answered) == {200}


def _count(exposition: str, endpoint: str) -> float:
    total = 0.0
    for line in exposition.splitlines():
        if line.startswith("serving_requests_total{") and f'endpoint="{endpoint}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_across_workers_and_real_prometheus(tiny_models, tmp_path, live_server):
    repo = tmp_path / "repo"
    shutil.copytree(tiny_models / "digits", repo / "digits")
    server = live_server(repo, workers=2)
    n = 21
    for _ in range(n):  # new connection each time, so both workers take some
        assert (
            requests.post(
                server.url + "/v1/models/digits:predict", json=BODY, headers={"Connection": "close"}
            ).status_code
            == 200
        )
    exposition = requests.get(server.url + "/metrics").text
    assert _count(exposition, "predict") == n
    for name in (
        "serving_request_duration_seconds_bucket",
        "serving_inference_duration_seconds",
        "serving_batch_size_rows",
        "serving_model_load_attempts_total",
        "serving_model_versions_loaded",
        "serving_requests_in_flight",
        "serving_request_size_bytes",
    ):
        assert name in exposition, name
    lint = subprocess.run(
        ["promtool", "check", "metrics"], input=exposition, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr

    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: serving\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{server.rest_port}']}}]\n"
    )
    prometheus = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        query = 'sum(serving_requests_total{endpoint="predict"})'
        value = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                data = requests.get(
                    f"http://127.0.0.1:{port}/api/v1/query", params={"query": query}, timeout=2
                ).json()
                if data["data"]["result"]:
                    value = float(data["data"]["result"][0]["value"][1])
                    break
            except (requests.ConnectionError, KeyError):
                pass
            time.sleep(0.5)
        assert value == n
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=30)


@pytest.mark.parametrize("bad", ["SERVING_REST_PORT=notaport", "SERVING_WORKERS=0"])
def test_bad_settings_exit_with_the_variable_name(tmp_path, bad):
    import sys

    from tests.conftest import ROOT

    key, value = bad.split("=")
    proc = subprocess.run(
        [sys.executable, "-m", "service"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT), key: value},
    )
    assert proc.returncode != 0
    assert key in proc.stderr


def test_repository_unload_and_load_reach_every_worker(tiny_models, tmp_path, live_server):
    repo = tmp_path / "repo"
    shutil.copytree(tiny_models / "digits", repo / "digits")
    server = live_server(repo, workers=2, env={"SERVING_MODEL_CONTROL": "open"})

    def statuses():  # fresh connections, so both workers answer some
        return {
            requests.post(
                server.url + "/v1/models/digits:predict",
                json=BODY,
                headers={"Connection": "close"},
            ).status_code
            for _ in range(12)
        }

    assert requests.post(server.url + "/v2/repository/models/digits/unload").status_code == 200
    time.sleep(1.5)  # three poll intervals: the other worker follows
    assert statuses() == {503}
    assert requests.post(server.url + "/v2/repository/models/digits/load").status_code == 200
    time.sleep(1.5)
    assert statuses() == {200}
