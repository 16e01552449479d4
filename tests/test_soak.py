"""``python -m bench.soak`` for a few seconds: it starts the service, sends all four kinds
of traffic, prints one line per interval and a JSON summary with per-worker figures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from tests.conftest import ROOT


def test_soak_smoke(tiny_models, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(tiny_models / "digits", repo / "digits")
    out = tmp_path / "soak.json"
    options = ["--duration", "6", "--interval", "2", "--warmup", "2", "--clients", "4"]
    proc = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--model-dir", str(repo), *options, f"--json={out}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("t=")]
    assert len(lines) == 3, proc.stdout
    summary = json.loads(out.read_text())
    assert summary["requests"] > 20 and summary["errors"] == 0
    last = summary["intervals"][-1]
    assert set(last["latency_ms"]) == {"rest_v1", "task", "rest_v2", "grpc"}
    assert len(last["workers"]) == 2
    for figures in last["workers"].values():
        assert figures["rss_mib"] > 100 and figures["fds"] > 10
    assert len(summary["growth_after_warmup"]) == 2
