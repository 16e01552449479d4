"""gunicorn configuration, derived from the one Settings object.

``gthread`` workers; each worker builds the app (and loads its models) after fork, never
with ``--preload``, because TensorFlow's runtime does not survive a fork. The Prometheus
multiprocess directory is created fresh by the master before any worker starts.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

from service.settings import load_settings

# The server runs SavedModel graphs in sessions and never touches Keras, yet `import
# tensorflow` imports all of Keras 3 "so that registrations happen" (tensorflow/__init__.py
# imports keras.src.optimizers and ignores an ImportError): 1.1 s of each worker's 2.6 s
# TensorFlow import, and its modules in every worker's memory. A None entry makes that
# import fail at once (ModuleNotFoundError, caught by TensorFlow); workers are forked from
# this process and inherit it. Time to ready with the digits model alone, 3 interleaved
# rounds: 3.49 -> 2.34 s. Importing TensorFlow itself here, before the fork, was measured
# too and gained nothing on a quiet machine (3.54 s), so workers still import it after fork.
sys.modules["keras"] = None

_settings = load_settings()

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(
        _settings.metrics_dir or tempfile.mkdtemp(prefix="serving-metrics-")
    )

if not os.environ.get("SERVING_STATE_DIR"):
    # Where a repository load/unload received by one worker is recorded for the others.
    os.environ["SERVING_STATE_DIR"] = str(
        _settings.state_dir or tempfile.mkdtemp(prefix="serving-state-")
    )

bind = [f"{_settings.host}:{_settings.rest_port}"]
workers = _settings.workers
worker_class = "service.gunicorn_worker.ServingWorker"  # gthread: JSON errors, clean drain
threads = _settings.threads
timeout = _settings.worker_timeout_s
graceful_timeout = 30
keepalive = 75  # above common load balancer idle timeouts, so they close first
preload_app = False
# One listening socket per worker (SO_REUSEPORT): the kernel spreads new connections evenly.
# With the shared socket, whichever worker wakes first accepts a burst of connections; wrk's
# 64 keep-alive connections split 62:2 between 2 workers, leaving one GIL doing all the work.
reuse_port = True
control_socket_disable = True  # several servers may run on one host (tests, benchmarks)
accesslog = None  # the app logs one JSON line per request itself
loglevel = _settings.log_level.lower()
wsgi_app = "service:create_app()"


def when_ready(server) -> None:
    # The sizing this server chose, and from what: in a container the cgroup CPU quota,
    # not the host's cores (service/cpu_quota.py).
    from service.cpu_quota import available_cpus, cpu_budget

    server.log.info(
        "cpu sizing: cgroup quota %s, cpu budget %.2f -> workers %d x %d threads, "
        "TensorFlow intra-op threads %d per worker",
        available_cpus(),
        cpu_budget(),
        _settings.workers,
        _settings.threads,
        _settings.intra_op_threads(),
    )


# Where workers record that they are ready, so the ready line is printed once per server
# (service/ready.py); made by the master at start, inherited by every worker it forks.
_ready_dir: str | None = None


def on_starting(server) -> None:
    global _ready_dir
    # Wiped at start, as prometheus_client's multiprocess docs require.
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)
    _ready_dir = tempfile.mkdtemp(prefix="serving-ready-")


def on_exit(server) -> None:
    if _ready_dir:
        shutil.rmtree(_ready_dir, ignore_errors=True)


def post_fork(server, worker) -> None:
    # In the new worker, before its app (and TensorFlow) is imported: TensorFlow's parts
    # without its public API, 2.3-2.8 s -> 0.8 s per worker (service/tf_modules.py).
    from service.tf_modules import skip_public_api

    skip_public_api()


def post_worker_init(worker) -> None:
    # The app is built (worker.wsgi); load its models and open gRPC before this worker
    # accepts its first connection.
    from service.app import start_serving

    start_serving(worker.wsgi)
    _announce_if_last_ready(worker)


def _announce_if_last_ready(worker) -> None:
    from service import ready

    if _ready_dir is None or not ready.last_to_be_ready(_ready_dir, os.getpid(), workers):
        return
    app = worker.wsgi
    grpc = app.extensions.get("grpc")
    rest = worker.sockets[0].getsockname()[:2]  # what this worker really bound
    line = ready.ready_line(
        _settings.model_repository,
        app.extensions["dataplane"].models(),
        rest,
        (_settings.host, grpc.port) if grpc is not None else None,
    )
    ready.announce(line)


def child_exit(server, worker) -> None:
    from service.metrics import mark_dead

    mark_dead(worker.pid)
