"""podman, as the container tests use it: the configuration scripts/container-deps.sh
writes (host networking, runc, layer storage cached under /var/cache), the images
scripts/build-images.sh builds, and a serving container on free loopback ports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import requests

from tests.conftest import ROOT, free_port

STATE = Path(os.environ.get("KERAS_SERVING_CONTAINERS", "/var/cache/keras-serving/containers"))
ENV = {
    **os.environ,
    "CONTAINERS_CONF": str(STATE / "containers.conf"),
    "CONTAINERS_STORAGE_CONF": str(STATE / "storage.conf"),
}
VERSION = "0.1.0"  # pyproject.toml's, the tag scripts/build-images.sh gives by default
SERVING_IMAGE = f"localhost/keras-serving:{VERSION}"
TRAINING_IMAGE = f"localhost/keras-serving-training:{VERSION}"


def unavailable() -> str | None:
    """Why the container tests cannot run here, or None."""
    if shutil.which("podman") is None:
        return "podman is not installed (run `make container-deps` as root)"
    if not (STATE / "containers.conf").exists():
        return f"no podman configuration in {STATE} (run `make container-deps`)"
    return None


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["podman", *args], env=ENV, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} -> {proc.returncode}\n{proc.stderr}")
    return proc


def build_images() -> float:
    """Build both images exactly as the README says; returns the seconds it took."""
    started = time.monotonic()
    proc = subprocess.run(
        ["bash", "scripts/build-images.sh"],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return time.monotonic() - started


def inspect(name: str) -> dict:
    return json.loads(podman("inspect", name).stdout)[0]


class ServingContainer:
    """The serving image running detached with the README's flags (read-only root, a
    writable /tmp, the repository mounted read-only at /models), bound to 127.0.0.1."""

    def __init__(self, repo: Path, *extra: str, env: dict | None = None):
        self.rest_port, self.grpc_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.rest_port}"
        self.name = f"keras-serving-test-{self.rest_port}"
        environment = {
            "SERVING_HOST": "127.0.0.1",  # host networking: never beyond loopback in tests
            "SERVING_REST_PORT": str(self.rest_port),
            "SERVING_GRPC_PORT": str(self.grpc_port),
            "SERVING_POLL_INTERVAL_S": "0.5",
            **(env or {}),
        }
        podman(
            "run",
            "--detach",
            "--name",
            self.name,
            "--read-only",
            "--read-only-tmpfs=false",
            "--tmpfs",
            "/tmp:rw,size=256m,mode=1777",
            "--volume",
            f"{repo}:/models:ro",
            *(f"--env={k}={v}" for k, v in environment.items()),
            *extra,
            SERVING_IMAGE,
        )

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not inspect(self.name)["State"]["Running"]:
                raise AssertionError(f"container exited:\n{self.logs()[-3000:]}")
            try:
                # every worker must be ready: several fresh connections
                if all(
                    requests.get(self.url + "/readyz", timeout=2).status_code == 200
                    for _ in range(6)
                ):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise AssertionError(f"not ready in {timeout} s:\n{self.logs()[-3000:]}")

    def logs(self) -> str:
        proc = podman("logs", self.name, check=False)
        return proc.stdout + proc.stderr

    def processes(self) -> list[tuple[str, str, str]]:
        """(host user, pid, command) of every process in the container."""
        lines = podman("top", self.name, "huser", "pid", "args").stdout.splitlines()[1:]
        return [tuple(line.split(None, 2)) for line in lines]

    def remove(self) -> None:
        podman("rm", "--force", "--time", "5", self.name, check=False, timeout=60)
