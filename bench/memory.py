"""Memory of one serving worker: RSS with a whole repository loaded.

Issue 4's budget is one worker with the four default models loaded under 1 GiB RSS. The
service is started with a single gunicorn worker on the repository, readied (every model
loaded, validated and warmed up), given a short burst of requests to the benchmarked model
so its batch buffers exist, and the worker's ``VmRSS`` and peak ``VmHWM`` are read from
``/proc``.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from bench.model import ROOT, latest_version_dir
from bench.servers import free_port, start_service

log = logging.getLogger(__name__)

DEFAULT_MODELS = ("digits", "sentiment", "sunspots", "tumor-anomaly")
BUDGET_MIB = 1024.0


def servable_models(repo: Path) -> list[str]:
    return sorted(p.name for p in repo.iterdir() if latest_version_dir(p)) if repo.is_dir() else []


def ensure_default_models(repo: Path) -> None:
    """Train the default models ``repo`` lacks with the real pipelines (minutes, once)."""
    missing = [m for m in DEFAULT_MODELS if m not in servable_models(repo)]
    if not missing:
        return
    log.info("training the default models %s into %s for the memory measurement", missing, repo)
    subprocess.run(
        [sys.executable, "-m", "training", "defaults", "--models-dir", str(repo), "--quiet"],
        cwd=ROOT,
        check=True,
    )


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def worker_memory(repo: Path, env: dict[str, str], workdir: Path, burst: callable) -> dict:
    """RSS of the single worker serving ``repo``; ``burst(url)`` sends a few requests."""
    server = start_service(
        repo, {**env, "SERVING_WORKERS": "1"}, free_port(), free_port(), workdir / "memory.log"
    )
    try:
        server.wait_ready(timeout=600, workers=1)
        burst(server.url)
        workers = server.children()
        if len(workers) != 1:
            raise RuntimeError(f"expected one worker, found {workers}")
        rss = _status_kib(workers[0], "VmRSS") / 1024
        peak = _status_kib(workers[0], "VmHWM") / 1024
    finally:
        server.stop()
    result = {
        "repository": str(repo),
        "models": servable_models(repo),
        "workers": 1,
        "rss_mib": round(rss, 1),
        "peak_rss_mib": round(peak, 1),
        "budget_mib": BUDGET_MIB,
    }
    log.info("one worker with %s: RSS %.0f MiB (peak %.0f MiB)", result["models"], rss, peak)
    return result
