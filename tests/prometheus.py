"""A real Prometheus server (Debian's ``prometheus``) for tests: scrapes given loopback
targets every second, optionally evaluates rule files, and answers PromQL over HTTP."""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port


class Prometheus:
    """``prometheus`` on a free loopback port; use as a context manager."""

    def __init__(
        self, targets: list[str], tmp: Path, job: str = "serving", rule_files: list[Path] = ()
    ):
        if shutil.which("prometheus") is None:
            pytest.skip("Debian's prometheus is not installed (scripts/system-deps.sh)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        rules = "".join(f"\n  - {path}" for path in rule_files)
        self.config = tmp / "prometheus.yml"
        self.config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            + (f"rule_files:{rules}\n" if rules else "")
            + f"scrape_configs:\n  - job_name: {job}\n"
            + f"    static_configs: [{{targets: {targets!r}}}]\n"
        )
        self.tsdb, self.log_path = tmp / "tsdb", tmp / "prometheus.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Prometheus:
        self.log = open(self.log_path, "wb")  # closed in __exit__
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.tsdb}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=self.log,
        )
        return self

    def __exit__(self, *exc) -> None:
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()

    def api(self, path: str, **params) -> dict:
        """GET an API path; raises on a PromQL error, with Prometheus's message."""
        body = requests.get(self.url + "/api/v1/" + path, params=params, timeout=10).json()
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """Instant query: the result vector (``[{"metric": {...}, "value": [t, "v"]}]``)."""
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", (expr, data["resultType"])
        return data["result"]

    def wait_for(self, expr: str, predicate, timeout: float = 60) -> list[dict]:
        """Poll ``expr`` until ``predicate(result)`` holds (the first scrape takes ~5 s)."""
        deadline, result = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            try:
                result = self.query(expr)
                if predicate(result):
                    return result
            except (requests.ConnectionError, ValueError):  # not listening / not JSON yet
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{expr} never satisfied the condition; last result: {result}")


def values(result: list[dict]) -> list[float]:
    """The sample values of an instant-query result."""
    return [float(sample["value"][1]) for sample in result]


def finite(result: list[dict]) -> list[float]:
    """The values that are numbers (not NaN from 0/0 nor ±Inf from histogram_quantile)."""
    return [v for v in values(result) if math.isfinite(v)]
