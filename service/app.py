"""The application factory: the only way a Flask app of this service comes to exist."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask

from service import http
from service.admin_state import AdminState
from service.batching import BatchingOptions
from service.inference import InferenceService
from service.logs import configure_logging
from service.repository import ModelRepository
from service.session_runner import ThreadOptions
from service.settings import Settings, load_settings

log = logging.getLogger(__name__)


@dataclass
class Serving:
    """Objects shared by the views, reached through ``current_app.extensions["serving"]``."""

    settings: Settings
    repository: ModelRepository
    inference: InferenceService


def create_app(settings: Settings | None = None, *, start: bool = True) -> Flask:
    """Build the app; ``start`` begins loading models in the background at once."""
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
    )
    serving = Serving(
        settings, repository, InferenceService(repository, settings.request_timeout_s)
    )

    app = Flask(__name__)
    app.extensions["serving"] = serving
    http.install(app, settings.max_request_bytes)
    from service.api import ops, rest_v1, rest_v2

    app.register_blueprint(ops.bp)
    app.register_blueprint(rest_v1.bp)
    app.register_blueprint(rest_v2.bp)
    if start:
        repository.start()
        # Under gunicorn this runs before the worker accepts connections: waiting for the
        # first scan means a (re)started worker never takes traffic it would answer with
        # 503, as TF Serving loads its models before it opens its ports. The wait is bounded
        # below the worker timeout; a model still loading after it is reported by /readyz.
        repository.scanned.wait(settings.worker_timeout_s * 0.8)
        if settings.grpc_port:
            from service import grpc_server

            app.extensions["grpc"] = grpc_server.start(serving)  # stops itself at exit
    return app
