"""Pick MLServer's adaptive batching for the benchmark: ``python -m bench.tune_mlserver``.

MLServer's docs advise enabling adaptive batching per model with ``max_batch_size`` and
``max_batch_time`` and tuning both to the workload. This tries a small grid once on the
benchmark model (V2 JSON at c=16 and c=64, the levels where batching matters) and writes
every figure to ``bench-results/mlserver-tuning.json``; the best setting at c=64 is then
written by hand into ``bench.peers`` (the setting only, never a figure), so each
``make bench`` measures MLServer at its best known configuration without re-tuning.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from bench.http_load import run_wrk
from bench.model import prepare_model
from bench.peers import MLSERVER, WORKERS, ensure_installed, start_mlserver
from bench.targets import build_targets
from bench.workload import build_workload

log = logging.getLogger(__name__)

# (max_batch_size, max_batch_time in s); (0, 0) is adaptive batching off.
GRID = [(0, 0.0), (16, 0.002), (32, 0.002), (64, 0.005), (32, 0.01)]
LEVELS = (16, 64)
SECONDS = 5


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    ensure_installed(MLSERVER)
    workdir = Path(tempfile.mkdtemp(prefix="bench-tune-"))
    try:
        model = prepare_model(False, None, None, workdir)
        w = build_workload(model.name, model.version_dir)
        target = next(t for t in build_targets(w) if t.key == "v2_json")
        body = target.write_body(workdir)
        rows = []
        for size, seconds in GRID:
            batching = {"max_batch_size": size, "max_batch_time": seconds}
            server, _ = start_mlserver(
                {model.name: model.version_dir},
                workdir / f"b{size}-{seconds}",
                workdir / "mlserver.log",
                batching,
            )
            try:
                server.wait_ready(timeout=600, workers=WORKERS)
                url = server.url + target.path
                run_wrk(url, body, target.headers, 16, 1)  # warm-up
                for c in LEVELS:
                    lv = run_wrk(url, body, target.headers, c, SECONDS).as_dict()
                    rows.append({**batching, **lv})
                    log.info(
                        "%s c=%d: %s req/s, p99 %s ms",
                        batching,
                        c,
                        lv["requests_per_s"],
                        lv["p99_ms"],
                    )
            finally:
                server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    at64 = [r for r in rows if r["concurrency"] == 64 and r["requests_per_s"]]
    best = max(at64, key=lambda r: r["requests_per_s"])
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    report = {
        "grid": rows,
        "best_at_c64": {k: best[k] for k in ("max_batch_size", "max_batch_time")},
    }
    (out / "mlserver-tuning.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["best_at_c64"]))


if __name__ == "__main__":
    main()
