"""Concurrent client traffic for fault and isolation tests, counting every outcome by kind.

``Traffic`` runs several client threads against a live server, each sending one request
after another. Half of them keep one keep-alive connection, half open a new connection per
request (``Connection: close``): gunicorn workers each listen on their own SO_REUSEPORT
socket and the kernel spreads *connections*, so fresh connections make sure both workers
see traffic whatever the hash of the long-lived ones did.
"""

from __future__ import annotations

import collections
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests

DIGITS_BODY = {"instances": [np.zeros((28, 28, 1)).tolist()]}


@dataclass(frozen=True)
class Outcome:
    """One request: when it was sent, how long it took, what came back."""

    sent: float  # time.monotonic()
    latency_s: float
    kind: str  # "200", "400", ..., or "ConnectionError: ..." when no answer came
    version: str | None  # X-Model-Version ("digits/2"), None if absent
    client: int


def publish(src: Path, model_dir: Path, version: int) -> Path:
    """Copy a version in under a hidden name, then rename it into place (atomic)."""
    tmp = model_dir / f".tmp-{version}"
    shutil.copytree(src, tmp)
    target = model_dir / str(version)
    os.rename(tmp, target)
    return target


class Traffic:
    """``clients`` threads POSTing ``body`` to ``path`` until stopped; a context manager.

    ``request`` may replace the default POST: a function of (session, client index) returning
    a response, for clients that vary what they send.
    """

    def __init__(
        self,
        url: str,
        path: str = "/v1/models/digits:predict",
        body: dict | None = None,
        clients: int = 4,
        request: Callable[[requests.Session, int], requests.Response] | None = None,
        timeout: float = 60.0,
        pause_s: float = 0.0,
    ):
        self.url, self.path, self.body = url, path, DIGITS_BODY if body is None else body
        self.timeout, self.pause_s = timeout, pause_s
        self._request = request
        self.outcomes: list[Outcome] = []  # list.append is atomic under the GIL
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(clients)
        ]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)

    def _client(self, index: int) -> None:
        session = requests.Session()
        headers = {"Connection": "close"} if index % 2 else {}
        while not self._stop.is_set():
            sent = time.monotonic()
            try:
                if self._request is not None:
                    response = self._request(session, index)
                else:
                    response = session.post(
                        self.url + self.path, json=self.body, headers=headers, timeout=self.timeout
                    )
                kind, version = str(response.status_code), response.headers.get("X-Model-Version")
                if response.status_code != 200 and not response.headers.get(
                    "Content-Type", ""
                ).startswith("application/json"):
                    kind += " (not JSON)"
            except requests.RequestException as exc:
                kind, version = f"{type(exc).__name__}: {exc}"[:200], None
            self.outcomes.append(Outcome(sent, time.monotonic() - sent, kind, version, index))
            if self.pause_s:
                self._stop.wait(self.pause_s)

    # ---- reading the outcomes ------------------------------------------------------------
    def window(self, since: float = 0.0, until: float = float("inf")) -> list[Outcome]:
        return [o for o in list(self.outcomes) if since <= o.sent < until]

    def counts(self, since: float = 0.0, until: float = float("inf")) -> collections.Counter:
        """Outcomes by kind ("200", "400", "ConnectionError: ...")."""
        return collections.Counter(o.kind for o in self.window(since, until))

    def failures(self, since: float = 0.0, until: float = float("inf")) -> collections.Counter:
        """Every outcome but a 200, by kind."""
        return collections.Counter(o.kind for o in self.window(since, until) if o.kind != "200")

    def versions(self, since: float = 0.0) -> collections.Counter:
        return collections.Counter(o.version for o in self.window(since))

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> float:
        """Poll ``predicate`` until true; the seconds it took (AssertionError on timeout)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if predicate():
                return time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"{what} not within {timeout}s; outcomes: {self.counts()}")

    def wait_for_version(self, version: str, since: float, timeout: float = 30.0) -> float:
        """Seconds until 20 responses sent after ``since`` in a row came from ``version``
        (``digits/2``): both workers, on every kind of connection, switched."""

        def switched() -> bool:
            tail = self.window(since)[-20:]
            return len(tail) == 20 and all(o.version == version for o in tail)

        return self.wait_for(switched, timeout, f"{version} served")

    def wait_requests(self, n: int, since: float | None = None, timeout: float = 60.0) -> None:
        """Wait until ``n`` more requests (sent after ``since``, default now) were answered."""
        since = time.monotonic() if since is None else since
        self.wait_for(lambda: len(self.window(since)) >= n, timeout, f"{n} requests")


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, nearest-rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, int(np.ceil(q / 100 * len(ordered))) - 1))
    return ordered[rank]


def worker_pids(server_pid: int) -> list[int]:
    """The gunicorn workers: children of the master (``python -m service`` execs it)."""
    from bench.servers import gunicorn_workers

    return gunicorn_workers(server_pid)


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` (VmRSS, KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ValueError(f"no VmRSS for pid {pid}")


def metric_samples(url: str, name: str) -> dict[tuple, float]:
    """Every sample of one metric on ``url``/metrics, keyed by its sorted label items."""
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(url + "/metrics", timeout=30).text
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def metric_total(url: str, name: str, **labels: str) -> float:
    """A metric summed over every sample matching ``labels`` (all workers aggregated)."""
    return sum(
        value
        for key, value in metric_samples(url, name).items()
        if all((k, v) in key for k, v in labels.items())
    )


def wait_metric(url: str, name: str, expected: float, timeout: float = 60, **labels: str) -> None:
    """Poll ``/metrics`` until the summed metric equals ``expected``."""
    deadline = time.monotonic() + timeout
    while (value := metric_total(url, name, **labels)) != expected:
        assert time.monotonic() < deadline, f"{name}{labels} = {value}, expected {expected}"
        time.sleep(0.2)
