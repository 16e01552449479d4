"""What a person sees starting the server: one ready line that is true, and none of
TensorFlow's known start-up notices (the real launcher, a real 2-worker server)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
import requests

from service.dataplane import ModelSummary
from service.ready import last_to_be_ready, ready_line
from service.repository import VersionStatus
from tests.conftest import ROOT, LiveServer
from tfnoise import copy_filtered, is_known_notice

# The notices the brief of this change names, as they begin or contain.
NOISE = (
    "failed call to cuInit",
    "use_unbounded_threadpool",
    "oneDNN custom operations are on",
    "Could not find cuda drivers",
    "All log messages before absl::InitializeLog()",
)


def _wait_for(path: Path, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = path.read_text()
        if text in log:
            return log
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; log:\n{path.read_text()[-3000:]}")


def test_launcher_prints_one_true_ready_line_and_no_tensorflow_notices(tiny_models, tmp_path):
    server = LiveServer(tiny_models, workers=2, tmp=tmp_path)
    try:
        server.wait_ready()
        _wait_for(server.log_path, "\nserving ")
        base = server.url
        assert requests.get(base + "/", timeout=10).status_code == 200  # the console
        assert requests.get(base + "/v1/models", timeout=10).status_code == 200  # REST
        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        grpc.channel_ready_future(channel).result(timeout=10)  # gRPC
        channel.close()
    finally:
        server.stop()
    log = _wait_for(server.log_path, "Shutting down: Master", timeout=10)
    ready = [line for line in log.splitlines() if line.startswith("serving ")]
    assert ready == [
        f"serving 4 models from {tiny_models}/: console {base}/  REST {base}/v1/models  "
        f"gRPC 127.0.0.1:{server.grpc_port}"
    ]
    # after both workers loaded their models: nothing of the start-up follows it
    after = log[log.index(ready[0]) :]
    assert "loaded " not in after and "Booting worker" not in after
    assert "Booting worker" in log  # stderr itself still reaches the log
    for line in log.splitlines():
        assert not is_known_notice(line.encode()), line
    for notice in NOISE:
        assert notice not in log


TENSORFLOW_START = (
    "import sys\n"
    "import tensorflow as tf\n"
    "list(tf.data.Dataset.range(4).map(lambda x: x + 1).as_numpy_iterator())\n"
    "print('a real error', file=sys.stderr)\n"
)


@pytest.mark.parametrize("level", ["0", "2"])
def test_filter_drops_the_notices_of_a_real_tensorflow_start_and_nothing_else(level):
    def run(program: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", program],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": level},
            check=True,
        ).stderr

    raw = run(TENSORFLOW_START)
    filtered = run("from tfnoise import filter_stderr\nfilter_stderr()\n" + TENSORFLOW_START)
    assert any(is_known_notice(line.encode()) for line in raw.splitlines()), raw
    assert not any(is_known_notice(line.encode()) for line in filtered.splitlines()), filtered
    assert "a real error" in raw and "a real error" in filtered
    if level == "2":  # at 0, TensorFlow's verbose lines vary with timing
        kept = [line for line in raw.splitlines() if not is_known_notice(line.encode())]
        assert len(filtered.splitlines()) == len(kept)  # nothing else was dropped


def test_a_filtered_process_drains_the_filter_before_it_exits(tmp_path):
    """Everything written before exit, an uncaught traceback included, is in the file and
    the filter is gone the moment the process is: its exit waits for the filter."""
    program = (
        "import sys\nfrom tfnoise import filter_stderr\nprint(filter_stderr().pid)\n"
        "for i in range(5000):\n    print(f'line {i} ' + 'x' * 60, file=sys.stderr)\n"
        "raise RuntimeError('the last words')\n"
    )
    out = tmp_path / "stderr"
    with out.open("wb") as sink:
        proc = subprocess.run(
            [sys.executable, "-c", program],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=sink,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    with pytest.raises(ProcessLookupError):  # exited, and reaped by the process it served
        os.kill(int(proc.stdout), 0)
    lines = out.read_text().splitlines()
    assert proc.returncode == 1
    assert [line.split()[1] for line in lines[:5000]] == [str(i) for i in range(5000)]
    assert lines[-1] == "RuntimeError: the last words"


NOTICE = (
    b"I0000 00:00:1796145620.129343    2096 port.cc:153] oneDNN custom operations are on. "
    b"You may see slightly different numerical results.\n"
)
# a GPU whose driver is broken (803, not 303: no driver) is a real error
REAL = (
    b"E0000 00:00:1796145628.064723    2096 cuda_platform.cc:52] failed call to cuInit: "
    b"INTERNAL: CUDA error: Failed call to cuInit: CUDA_ERROR_SYSTEM_DRIVER_MISMATCH (803)\n"
)


def test_copy_filtered_keeps_every_other_byte_across_split_writes(tmp_path):
    read_end, write_end = os.pipe()
    chunks = [NOTICE[:20], NOTICE[20:] + b"Traceback (most", b" recent call last):\n", REAL]
    chunks += [b"WARNING: All log messages before absl::InitializeLog() is called are "]
    chunks += [b"written to STDERR\n", b"no newline at the end"]

    def writer():
        for chunk in chunks:
            os.write(write_end, chunk)
            time.sleep(0.02)  # separate reads: lines arrive in pieces
        os.close(write_end)

    thread = threading.Thread(target=writer)
    thread.start()
    out = tmp_path / "out"
    with out.open("wb") as sink:
        copy_filtered(read_end, sink.fileno())
    thread.join()
    os.close(read_end)
    assert out.read_bytes() == b"Traceback (most recent call last):\n" + REAL + (
        b"no newline at the end"
    )


def _summary(name: str, *states: str) -> ModelSummary:
    return ModelSummary(name, {}, [VersionStatus(i + 1, s, "OK", "") for i, s in enumerate(states)])


def test_ready_line_says_what_is_true():
    models = [_summary("a", "AVAILABLE"), _summary("b", "END", "AVAILABLE")]
    assert ready_line(Path("models"), models, ("127.0.0.1", 8501), ("127.0.0.1", 8500)) == (
        "serving 2 models from models/: console http://127.0.0.1:8501/  "
        "REST http://127.0.0.1:8501/v1/models  gRPC 127.0.0.1:8500"
    )
    line = ready_line(Path("/m"), [*models[:1], _summary("broken", "END")], ("0.0.0.0", 1), None)
    assert line == (
        "serving 1 model from /m/ (not available, see the log: broken): console "
        "http://127.0.0.1:1/  REST http://127.0.0.1:1/v1/models  gRPC off (SERVING_GRPC_PORT=0)"
        "  (listening on all interfaces, 0.0.0.0)"
    )
    assert "http://[::1]:5/" in ready_line(Path("m"), [], ("::", 5), ("::", 6))


def test_only_the_worker_completing_the_count_announces(tmp_path):
    assert not last_to_be_ready(tmp_path, 101, workers=2)
    assert last_to_be_ready(tmp_path, 102, workers=2)
    assert not last_to_be_ready(tmp_path, 103, workers=2)  # a restarted worker: no repeat
    assert not last_to_be_ready(tmp_path, 101, workers=2)
