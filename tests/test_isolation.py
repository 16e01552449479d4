"""Where TF Serving's users hurt, measured on a real 2-worker server: one model's latency
while another is reloaded in a loop, and worker memory after many loads and unloads.

Both print their figures (``-s`` shows them) for the README's Reliability section.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.traffic import Traffic, percentile, publish, rss_kib, worker_pids

PHASE_S = 5.0  # one window without reloads or with them; windows alternate to share noise
ROUNDS = 3
# The goal is 1.5x, measured here at 1.0-1.4x on 2 cores (README, Reliability). A timing
# target is the measurement's to show, not a unit test's to assert on a noisy machine; what
# this bound catches is a stall: a full collection after each load, GIL held, made it 21x.
P99_RATIO_LIMIT = 4.0


def _repo(tmp_path: Path, tiny_models: Path) -> Path:
    repo = tmp_path / "repo"
    for name in ("digits", "sentiment"):
        shutil.copytree(tiny_models / name / "1", repo / name / "1")
    return repo


class Reloader(threading.Thread):
    """Publishes sentiment's next version, waits until both workers loaded it and unloaded
    the previous one (policy latest 1), deletes the previous directory; repeats.

    It follows the server's log, not ``/metrics``: a scrape holds a worker's GIL for
    7-19 ms, and polling it 10 times a second
    in the reload windows only doubled digits' p99 with no reload at all (20 -> 37-45 ms,
    measured on its own), so the test measured its own polling more than the reloads.
    """

    def __init__(self, server, repo: Path, src: Path, limit: int | None = None):
        super().__init__(daemon=True)
        self.server, self.repo, self.src, self.limit = server, repo, src, limit
        self.version, self.run_event, self.stop = 1, threading.Event(), threading.Event()
        self.error: BaseException | None = None
        self._log = open(server.log_path, "rb")  # noqa: SIM115 - read on as it grows, for the whole test
        self._partial, self._loads = b"", []

    def _logged(self, message: str) -> int:
        """Log lines so far whose message starts with ``message``; the log is read on from
        where the last call stopped, and only the lines about sentiment's versions kept."""
        *lines, self._partial = (self._partial + self._log.read()).split(b"\n")
        self._loads += [line for line in lines if b"sentiment version" in line]
        return sum(f'"msg":"{message}'.encode() in line for line in self._loads)

    def reload_once(self, workers: int = 2) -> None:
        model_dir = self.repo / "sentiment"
        publish(self.src, model_dir, self.version + 1)
        loaded = f"loaded sentiment version {self.version + 1} in "
        unloaded = f'unloaded sentiment version {self.version}"'
        deadline = time.monotonic() + 60
        while self._logged(loaded) < workers or self._logged(unloaded) < workers:
            assert time.monotonic() < deadline, "sentiment's next version did not load"
            time.sleep(0.05)
        shutil.rmtree(model_dir / str(self.version))
        self.version += 1

    def run(self) -> None:
        try:
            while not self.stop.is_set() and (self.limit is None or self.version <= self.limit):
                if not self.run_event.wait(0.1):
                    continue
                self.reload_once()
        except BaseException as exc:  # reported by the test
            self.error = exc


def test_reloading_one_model_does_not_stall_another(tiny_models, tmp_path, live_server):
    repo = _repo(tmp_path, tiny_models)
    server = live_server(repo)
    reloader = Reloader(server, repo, tiny_models / "sentiment" / "1")
    quiet, reloading = [], []
    with Traffic(server.url, clients=4, pause_s=0.005) as traffic:
        reloader.start()
        traffic.wait_requests(100)
        for _ in range(ROUNDS):
            for window, reload in ((quiet, False), (reloading, True)):
                if reload:
                    reloader.run_event.set()
                started = time.monotonic()
                time.sleep(PHASE_S)  # a measurement window: traffic runs meanwhile
                window += [o.latency_s for o in traffic.window(started, time.monotonic())]
                reloader.run_event.clear()
                time.sleep(0.5)  # let a load that started in the window finish outside
        reloader.stop.set()
        reloader.join(60)
    assert reloader.error is None, reloader.error
    p99_quiet, p99_reload = percentile(quiet, 99) * 1000, percentile(reloading, 99) * 1000
    print(
        f"\nISOLATION digits p50/p99 without reloads {percentile(quiet, 50) * 1000:.1f}/"
        f"{p99_quiet:.1f} ms ({len(quiet)} requests), while sentiment reloads "
        f"{percentile(reloading, 50) * 1000:.1f}/{p99_reload:.1f} ms ({len(reloading)} "
        f"requests, {reloader.version - 1} versions loaded and unloaded), max "
        f"{max(quiet) * 1000:.0f} / {max(reloading) * 1000:.0f} ms; "
        f"ratio {p99_reload / p99_quiet:.2f}"
    )
    assert traffic.failures() == {}
    assert reloader.version - 1 >= 4, "too few reloads to measure anything"
    assert p99_reload <= P99_RATIO_LIMIT * p99_quiet, (p99_quiet, p99_reload)


def test_worker_memory_returns_after_twenty_loads(tiny_models, tmp_path, live_server):
    repo = _repo(tmp_path, tiny_models)
    server = live_server(repo)
    pids = worker_pids(server.process.pid)
    with Traffic(server.url, clients=2, pause_s=0.01) as traffic:  # buffers of a live server
        traffic.wait_requests(200)
        before = {pid: rss_kib(pid) for pid in pids}
        scrape_before = _scrape(server.url)
        reloader = Reloader(server, repo, tiny_models / "sentiment" / "1")
        started = time.monotonic()
        for _ in range(20):
            reloader.reload_once()
        took = time.monotonic() - started
        traffic.wait_requests(200)
        scrape_after = _scrape(server.url)
    after = {pid: rss_kib(pid) for pid in pids}
    assert worker_pids(server.process.pid) == pids  # no worker was replaced meanwhile
    growth = {pid: after[pid] / before[pid] - 1 for pid in pids}
    print(
        "\nMEMORY after 20 sentiment versions loaded and unloaded in "
        f"{took:.0f} s: "
        + ", ".join(
            f"worker {pid} {before[pid] / 1024:.0f} -> {after[pid] / 1024:.0f} MiB "
            f"({growth[pid]:+.1%})"
            for pid in pids
        )
        + "; /metrics {} samples, {:.0f} KB, {:.1f} ms -> {} samples, {:.0f} KB, {:.1f} ms".format(
            *scrape_before, *scrape_after
        )
    )
    assert traffic.failures() == {}
    assert all(g < 0.10 for g in growth.values()), growth
    # Unloaded versions' series left the exposition (they were ~51 samples per version).
    assert scrape_after[0] <= scrape_before[0] + 20, (scrape_before, scrape_after)


def _scrape(url: str, times: int = 11) -> tuple[int, float, float]:
    """Samples and KB of one /metrics exposition, and the median time of ``times`` scrapes."""
    took = []
    for _ in range(times):
        started = time.perf_counter()
        text = requests.get(url + "/metrics", timeout=10).text
        took.append(time.perf_counter() - started)
    samples = sum(len(f.samples) for f in text_string_to_metric_families(text))
    return samples, len(text) / 1000, sorted(took)[times // 2] * 1000
