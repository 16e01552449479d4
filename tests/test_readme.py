"""Every curl and Python example in the README runs as printed against a real server.

The server gets free ports instead of 8501/8500 and serves freshly exported models with
one version each, as after ``make run``; the examples are otherwise unchanged.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

BLOCK = re.compile(r"```(bash|python)\n(.*?)```", re.S)
BLOCKS = [
    (lang, body)
    for lang, body in BLOCK.findall((ROOT / "README.md").read_text())
    if "localhost:85" in body
]


@pytest.fixture(scope="module")
def server(tiny_models, tmp_path_factory):
    from tests.conftest import LiveServer

    repo = tmp_path_factory.mktemp("readme-repo")
    for model in tiny_models.iterdir():
        shutil.copytree(model / "1", repo / model.name / "1")
    live = LiveServer(repo, workers=1, tmp=tmp_path_factory.mktemp("readme-logs"))
    live.wait_ready()
    yield live
    live.stop()


def _localise(text: str, server) -> str:
    return text.replace("localhost:8501", f"127.0.0.1:{server.rest_port}").replace(
        "localhost:8500", f"127.0.0.1:{server.grpc_port}"
    )


def test_the_readme_has_examples_for_every_api():
    text = "\n".join(body for _, body in BLOCKS)
    for needle in (
        ":predict",
        ":classify",
        ":forecast",
        ":detect",
        "/metadata",
        "/readyz",
        "/metrics",
        "/v2/models/sentiment/infer",
        "tritonclient",
        "PredictionServiceStub",
    ):
        assert needle in text, needle


@pytest.mark.parametrize(("lang", "body"), BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs_as_printed(server, lang, body):
    code = _localise(body, server)
    if lang == "python":
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.strip()
        return
    expected = [line[2:] for line in body.splitlines() if line.startswith('# {"error"')]
    if expected:  # the documented error example: its output is printed in the README
        proc = subprocess.run(["bash", "-c", code], capture_output=True, text=True, timeout=60)
        assert proc.stdout.strip() == expected[0]
        return
    # every other call must succeed: curl fails the script on any HTTP error status
    script = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; echo; }\n' + code
    proc = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        executable=None,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            assert "error" not in json.loads(line), line
