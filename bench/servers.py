"""The two servers under load: the real service (``python -m service``) and the bare echo
app, both gunicorn gthread on free loopback ports with the same worker/thread topology."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_TICKS = os.sysconf("SC_CLK_TCK")
ECHO_KEEPALIVE_S = 75  # service/gunicorn_conf.py's keepalive: same connection handling


def pythonpath(tree: Path = ROOT) -> str:
    """The project (or ``tree``) first, then whatever the caller had (e.g. a profiler's
    sitecustomize)."""
    return os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")]))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A gunicorn process tree started in the background; stopped by :meth:`stop`."""

    def __init__(
        self,
        name: str,
        command: list[str],
        env: dict[str, str],
        port: int,
        log_path: Path,
        ready_path: str | list[str],
        cwd: Path = ROOT,
    ):
        self.name, self.port, self.log_path = name, port, log_path
        self.url = f"http://127.0.0.1:{port}"
        self._ready_paths = [ready_path] if isinstance(ready_path, str) else ready_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float = 180.0, workers: int = 1) -> None:
        """Until every ready path answers 200 on several fresh connections (every worker)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}; "
                    f"log tail:\n{self.log_tail()}"
                )
            if all(self._get_ok() for _ in range(3 * workers)):
                return
            time.sleep(0.3)
        raise TimeoutError(
            f"{self.name} not ready after {timeout:.0f}s; log tail:\n{self.log_tail()}"
        )

    def _get_ok(self) -> bool:
        for path in self._ready_paths:
            try:
                with urllib.request.urlopen(self.url + path, timeout=5) as response:
                    if response.status != 200:
                        return False
            except (urllib.error.URLError, OSError):
                return False
        return True

    def cpu_seconds(self) -> float:
        """User + system CPU of the master and all its descendants (every thread) so far:
        a peer's worker pool may sit a level further down than gunicorn's workers."""
        total = 0.0
        for pid in [self.process.pid, *_descendants(self.process.pid)]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # a worker that just exited
                continue
            total += (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
        return total

    def children(self) -> list[int]:
        """The gunicorn workers' process ids."""
        return gunicorn_workers(self.process.pid)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        descendants = _descendants(self.process.pid)
        if self.process.poll() is None:
            self.process.terminate()  # gunicorn, MLServer, KServe: they stop their workers
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in descendants:  # a worker its parent failed to stop must not outlive the run
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._log.close()


def system_busy_seconds() -> float:
    """CPU seconds all processes on the machine have used since boot (from /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / _TICKS


def _descendants(pid: int) -> list[int]:
    out = []
    for child in _children(pid):
        out += [child, *_descendants(child)]
    return out


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def gunicorn_workers(master: int) -> list[int]:
    """The master's gunicorn workers, not its other children (the stderr filter, tfnoise)."""
    workers = []
    for pid in _children(master):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:  # exited meanwhile
            continue
        if b"gunicorn" in cmdline:
            workers.append(pid)
    return workers


def start_service(
    repo: Path,
    env_overrides: dict[str, str],
    rest_port: int,
    grpc_port: int,
    log_path: Path,
    tree: Path = ROOT,
    name: str = "service",
) -> Server:
    """``python -m service`` of ``tree`` (default: this checkout) serving ``repo``;
    SERVING_* from the caller's env apply too."""
    env = {
        **os.environ,
        "PYTHONPATH": pythonpath(tree),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **env_overrides,
        "SERVING_MODEL_REPOSITORY": str(repo),
        "SERVING_REST_PORT": str(rest_port),
        "SERVING_GRPC_PORT": str(grpc_port),
        "SERVING_HOST": "127.0.0.1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the launcher makes a fresh one
    command = [sys.executable, "-m", "service"]
    return Server(name, command, env, rest_port, log_path, "/readyz", cwd=tree)


def start_echo(workers: int, threads: int, port: int, log_path: Path) -> Server:
    """The bare echo app under gunicorn gthread with the service's topology and keep-alive."""
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    command = [
        gunicorn,
        "--worker-class",
        "gthread",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--bind",
        f"127.0.0.1:{port}",
        "--keep-alive",
        str(ECHO_KEEPALIVE_S),
        "--reuse-port",  # as service/gunicorn_conf.py: one balanced socket per worker
        "--log-level",
        "warning",
        "bench.echo_app:create_app()",
    ]
    env = {**os.environ, "PYTHONPATH": pythonpath()}
    return Server("echo", command, env, port, log_path, "/healthz")
