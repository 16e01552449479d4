"""Fixture chain: tiny real models -> settings -> app -> client, plus real servers.

The models are trained and exported by the real training pipelines on small slices (one
session-scoped repository), so the service is tested on exactly the artefacts it serves
in production, including one deliberately broken version directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent

# Small, fast configurations of the real pipelines: enough to export a working model.
TINY = {
    "digits": {"epochs": 1, "limit": 300},
    "sentiment": {"epochs": 1, "limit": 500},
    "sunspots": {"epochs": 2},
    "tumor-anomaly": {"epochs": 2},
}


@pytest.fixture(autouse=True)
def _flush_access_log():
    """Write in-process apps' buffered request lines inside the test that made them, where
    pytest captures them, not later from the flusher thread between tests."""
    yield
    from service.logs import access_log

    access_log.flush()


def export_tiny(name: str, models_dir: Path, **overrides):
    """Train ``name`` briefly with the real pipeline and export the next version."""
    from training import runner
    from training.pipelines import get_pipeline

    config = get_pipeline(name).default_config.with_overrides(
        **{**TINY[name], "patience": 0, **overrides}
    )
    result = runner.fit(name, config, verbose=0)
    return runner.export(result, models_dir, report=False)


DIGITS_LABELS = {
    "models": {"digits": {"version_policy": {"latest": 2}, "labels": {"stable": 1, "canary": 2}}}
}


@pytest.fixture(scope="session")
def tiny_results(tmp_path_factory) -> dict:
    """Each default model trained briefly and exported (digits twice), kept in memory too."""
    root = tmp_path_factory.mktemp("tiny-models")
    results = {name: export_tiny(name, root) for name in TINY}
    results["digits@2"] = export_tiny("digits", root, seed=7)  # for versions and labels
    return results


@pytest.fixture(scope="session")
def tiny_models(tiny_results) -> Path:
    """A pristine repository of the tiny models, no config file."""
    return tiny_results["digits"].version_dir.parent.parent


@pytest.fixture(scope="session")
def model_repo(tiny_models, tmp_path_factory) -> Path:
    """The test repository: tiny models, labels, a policy keeping both digits versions, and
    one broken model whose only version cannot load."""
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(tiny_models, root, dirs_exist_ok=True)
    broken = root / "broken" / "1"
    broken.mkdir(parents=True)
    (broken / "saved_model.pb").write_bytes(b"this is not a SavedModel")
    (root / "repository.json").write_text(json.dumps(DIGITS_LABELS))
    return root


@pytest.fixture(scope="session")
def settings(model_repo):
    from service.settings import Settings

    return Settings(model_repository=model_repo, poll_interval_s=0, grpc_port=0)


@contextlib.contextmanager
def serving_app(settings):
    """An app built from ``settings`` and started (models loaded), stopped on exit."""
    from service.app import create_app, start_serving, stop_serving

    app = create_app(settings)
    start_serving(app)
    assert app.extensions["dataplane"].repository.scanned.is_set()
    try:
        yield app
    finally:
        stop_serving(app)


@pytest.fixture(scope="session")
def app(settings):
    with serving_app(settings) as app:
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """``python -m service`` (gunicorn) on free loopback ports, stopped at teardown."""

    def __init__(
        self, repo: Path, workers: int = 2, env: dict | None = None, tmp: Path | None = None
    ):
        self.rest_port, self.grpc_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.rest_port}"
        self.log_path = (tmp or repo) / f"server-{self.rest_port}.log"
        environment = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SERVING_MODEL_REPOSITORY": str(repo),
            "SERVING_REST_PORT": str(self.rest_port),
            "SERVING_GRPC_PORT": str(self.grpc_port),
            "SERVING_WORKERS": str(workers),
            "SERVING_POLL_INTERVAL_S": "0.5",
            **(env or {}),
        }
        environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service"],
            cwd=ROOT,
            env=environment,
            stdout=self.log,
            stderr=self.log,
        )

    def wait_ready(self, timeout: float = 120) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited; log:\n{self.log_path.read_text()[-3000:]}")
            try:
                # every worker must be ready: ask several times over fresh connections
                if all(
                    requests.get(self.url + "/readyz", timeout=2).status_code == 200
                    for _ in range(6)
                ):
                    return
            except (requests.ConnectionError, requests.Timeout):  # workers still booting
                pass
            time.sleep(0.3)
        raise TimeoutError(f"server not ready; log:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="session")
def labelled_server(tiny_models, tmp_path_factory):
    """One real 2-worker server shared by the protocol tests: the tiny models with both
    digits versions loaded and labelled stable -> 1, canary -> 2."""
    repo = tmp_path_factory.mktemp("labelled-repo")
    shutil.copytree(tiny_models, repo, dirs_exist_ok=True)
    (repo / "repository.json").write_text(json.dumps(DIGITS_LABELS))
    server = LiveServer(repo, workers=2, tmp=tmp_path_factory.mktemp("labelled-logs"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
def live_server(tmp_path):
    """Factory: ``live_server(repo, workers=2)`` starts a real gunicorn server."""
    servers = []

    def start(repo: Path, workers: int = 2, env: dict | None = None, wait: bool = True):
        server = LiveServer(repo, workers, env, tmp_path)
        servers.append(server)
        if wait:
            server.wait_ready()
        return server

    yield start
    for server in servers:
        server.stop()
