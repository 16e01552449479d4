"""The application factory: the only way a Flask app of this service comes to exist.

:func:`create_app` only builds (no threads, no sockets, no model loading);
:func:`start_serving` is the one explicit call that starts what serves: the repository
poller and, when a port is set, the gRPC server. Under gunicorn the worker's
``post_worker_init`` hook (``service/gunicorn_conf.py``) makes it after the app is built;
tests that need models loaded make it themselves.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask

from service import http
from service.admin_state import AdminState
from service.batching import BatchingOptions
from service.dataplane import DataPlane
from service.load_turns import LoadTurns
from service.logs import configure_logging
from service.repository import ModelRepository
from service.served_model import freeze_long_lived_objects
from service.session_runner import ThreadOptions
from service.settings import Settings, load_settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app for ``settings`` (default: from ``SERVING_*``); nothing starts yet."""
    settings = settings or load_settings()
    configure_logging(settings.log_level)
    batching = BatchingOptions(
        max_batch_size=settings.max_batch_size,
        batch_timeout_micros=settings.batch_timeout_micros,
        max_enqueued_batches=settings.max_enqueued_batches,
    )
    repository = ModelRepository(
        settings.model_repository,
        settings.resolved_repository_config(),
        batching,
        settings.poll_interval_s,
        AdminState(settings.state_dir),
        ThreadOptions(settings.intra_op_threads(), settings.tf_inter_op_threads),
        LoadTurns(settings.state_dir),
    )
    # No app-level static route: nothing is served from service/static; the console and
    # the docs serve their own files from their blueprints.
    app = Flask(__name__, static_folder=None)
    app.extensions["settings"] = settings
    app.extensions["dataplane"] = DataPlane(
        repository, settings.request_timeout_s, settings.admin_token, settings.model_control
    )
    http.install(app, settings.max_request_bytes)
    from service.api import ops, rest_v1, rest_v2

    app.register_blueprint(ops.bp)
    app.register_blueprint(rest_v1.bp)
    app.register_blueprint(rest_v2.bp)
    from service.console import views as console
    from service.openapi import views as docs

    app.register_blueprint(console.bp)
    app.register_blueprint(docs.bp)
    from service.api.fast_predict import FastPredict

    # REST v1 :predict ahead of Flask's dispatch; everything else, and the app object that
    # gunicorn and the tests hold, stays Flask's.
    app.wsgi_app = FastPredict(app, settings.max_request_bytes)
    return app


def start_serving(app: Flask) -> None:
    """Start loading models in the background, wait for the first scan, open gRPC."""
    settings: Settings = app.extensions["settings"]
    repository = app.extensions["dataplane"].repository
    repository.start()
    # Under gunicorn this runs before the worker accepts connections: waiting for the
    # first scan means a (re)started worker never takes traffic it would answer with
    # 503, as TF Serving loads its models before it opens its ports. The wait is bounded
    # below the worker timeout; a model still loading after it is reported by /readyz.
    repository.scanned.wait(settings.worker_timeout_s * 0.8)
    if settings.grpc_port:
        from service import grpc_server

        # stops itself at exit, draining its calls
        app.extensions["grpc"] = grpc_server.start(settings, app.extensions["dataplane"])
    # TensorFlow, the first models and gRPC are loaded: out of the GC's scans for good
    freeze_long_lived_objects()


def drain(app: Flask) -> None:
    """The server is shutting down (SIGTERM): readiness answers 503 from now on, and gRPC
    turns NOT_SERVING, refuses new calls and lets running ones finish (in the background:
    this runs in a signal handler)."""
    app.extensions["dataplane"].draining = True
    grpc = app.extensions.get("grpc")
    if grpc is not None:
        threading.Thread(target=grpc.stop, name="grpc-drain", daemon=True).start()


def stop_serving(app: Flask) -> None:
    """Stop the gRPC server (if any) and the repository, unloading every version."""
    grpc = app.extensions.pop("grpc", None)
    if grpc is not None:
        grpc.stop()
    app.extensions["dataplane"].repository.stop()
