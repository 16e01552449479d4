"""TensorFlow's known start-up notices, kept off the terminal of ``python -m service`` and
``python -m training``; every other byte of stderr passes through unchanged.

Why a filter and not a setting: TensorFlow 2.21 writes these lines from C++ through absl
logging while its shared libraries load, before Python can configure anything and before
``absl::InitializeLog()``, so absl sends them to stderr whatever the level.
``TF_CPP_MIN_LOG_LEVEL=3`` drops the ``E`` lines (and with them every real C++ error) but
not the ``I`` ones; ``TF_ENABLE_ONEDNN_OPTS=0`` silences the oneDNN notice by turning
oneDNN off (different numerics and speed); ``CUDA_VISIBLE_DEVICES=""`` changes nothing.
So fd 2 of the process becomes a pipe into a small filter process that drops exactly the
lines of :data:`KNOWN_NOTICES` (anchored on absl's line format, file and message).

A process, not a thread: if the filtered process dies (abort, segfault, SIGKILL), what it
wrote is still in the pipe and the filter still prints it. The filter exits when every
writer (the process and all its children, e.g. gunicorn's workers) has closed the pipe.
Standard library only: the trainer and the server both use it, and neither imports the other.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import subprocess
import sys
from pathlib import Path

# absl's prefix: severity, MMDD, time (before InitializeLog: 00:00:<epoch seconds>), thread.
_ABSL = rb"[IWE]\d{4} [\d:.]+ +\d+ "
KNOWN_NOTICES: tuple[re.Pattern[bytes], ...] = tuple(
    re.compile(pattern)
    for pattern in (
        rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to "
        rb"STDERR",
        _ABSL + rb"port\.cc:\d+\] oneDNN custom operations are on\. .*",
        _ABSL + rb"cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine, GPU will "
        rb"not be used\.",
        # 303: no CUDA driver at all (a CPU machine). Other cuInit failures (a GPU whose
        # driver is broken or mismatched) are real and pass through.
        _ABSL + rb"cuda_platform\.cc:\d+\] failed call to cuInit: INTERNAL: CUDA error: Failed "
        rb"call to cuInit: UNKNOWN ERROR \(303\)",
        # Keras 3 builds tf.data graphs with an attribute this TensorFlow's op lacks; ignored.
        _ABSL + rb"node_def_util\.cc:\d+\] NodeDef mentions attribute use_unbounded_threadpool "
        rb"which is not in the op definition: .*",
        _ABSL + rb"cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized to use "
        rb"available CPU instructions in performance-critical operations\.",
        rb"To enable the following instructions: [A-Za-z0-9_ ]+, in other operations, rebuild "
        rb"TensorFlow with the appropriate compiler flags\.",
    )
)


def is_known_notice(line: bytes) -> bool:
    """Whether one line (without its newline) is a known TensorFlow start-up notice."""
    line = line.rstrip(b"\r")
    return any(pattern.fullmatch(line) for pattern in KNOWN_NOTICES)


def copy_filtered(source_fd: int, dest_fd: int) -> None:
    """Copy ``source_fd`` to ``dest_fd`` until end of file, whole lines, known notices
    dropped. A line is held only until its newline arrives (absl writes each whole)."""
    pending = b""
    broken = False
    while chunk := os.read(source_fd, 65536):
        *lines, pending = (pending + chunk).split(b"\n")
        kept = b"".join(line + b"\n" for line in lines if not is_known_notice(line))
        if kept and not broken:
            broken = not _write_all(dest_fd, kept)
    if pending and not broken and not is_known_notice(pending):
        _write_all(dest_fd, pending)


def _write_all(fd: int, data: bytes) -> bool:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        # the terminal is gone: keep reading (writers get no EPIPE), print nothing
        return False
    return True


def filter_stderr() -> subprocess.Popen | None:
    """Make this process's fd 2 (and so its children's) a pipe through the filter process.

    Call it first, before TensorFlow is imported; an ``exec`` afterwards keeps it. At a
    normal exit (after Python has printed any uncaught traceback) fd 2 is given back and
    the filter is waited for, so nothing written is lost when the caller's output is read
    the moment it exits. Not as PID 1 (a container's main process): when PID 1 exits the
    kernel kills the rest of its namespace, the filter too, and its last lines with it.
    """
    if os.getpid() == 1:
        return None
    sys.stderr.flush()
    real_stderr = os.dup(2)  # not inheritable: closed by an exec, kept for the exit
    root = str(Path(__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    process = subprocess.Popen(
        [sys.executable, "-m", "tfnoise"],
        stdin=subprocess.PIPE,
        stdout=real_stderr,  # only the filter writes to the real stderr from now on
        stderr=real_stderr,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert process.stdin is not None
    os.dup2(process.stdin.fileno(), 2)
    process.stdin.close()  # fd 2 is now the pipe's only write end in this process

    def give_back_and_drain() -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(real_stderr, 2)  # closes the pipe's write end: the filter reads to EOF
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)

    atexit.register(give_back_and_drain)
    return process
