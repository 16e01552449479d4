"""Cold start: seconds from a server's process start to its readiness endpoint saying 200.

Measured with nothing else running, once the load levels are done: for the service (its
``/readyz`` turns 200 when every worker has loaded, validated and warmed up every model)
and for each peer (V2 ``/v2/health/ready``), with the benchmark model alone and with the
four default models. Rounds interleave the servers, as the load levels do.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench.servers import Server

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 600.0


def time_to_ready(start: Callable[[], Server], workers: int) -> float | str:
    """Seconds from ``start()`` (which launches the process) to ready; a str says why not."""
    began = time.monotonic()
    server = start()
    try:
        server.wait_ready(timeout=READY_TIMEOUT_S, workers=workers)
        return round(time.monotonic() - began, 2)
    except (RuntimeError, TimeoutError) as exc:
        log.warning("cold start of %s failed: %s", server.name, str(exc)[:500])
        return f"not ready: {str(exc)[:300]}"
    finally:
        server.stop()


def measure(starters: dict[str, Callable[[], Server]], workers: int, rounds: int) -> dict:
    """``{name: {"seconds": median, "rounds_s": [...]}}`` over interleaved rounds."""
    runs: dict[str, list[float | str]] = {name: [] for name in starters}
    for number in range(1, rounds + 1):
        for name, start in starters.items():
            seconds = time_to_ready(start, workers)
            log.info("cold start %s, round %d: %s s", name, number, seconds)
            runs[name].append(seconds)
    out = {}
    for name, values in runs.items():
        ok = [v for v in values if isinstance(v, float)]
        out[name] = {
            "seconds": statistics.median(ok) if ok else None,
            "rounds_s": values,
        }
    return out


def single_model_repo(repo: Path, model: str, workdir: Path) -> Path:
    """A repository holding only ``model`` (a symlink into ``repo``)."""
    alone = workdir / f"cold-{model}"
    alone.mkdir(exist_ok=True)
    link = alone / model
    if not link.exists():
        link.symlink_to((repo / model).resolve())
    return alone
