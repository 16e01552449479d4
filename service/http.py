"""The HTTP layer shared by every blueprint: request ids, limits, metrics, logs, errors.

Views only parse and shape; counting, timing, logging and mapping exceptions to
``{"error": ...}`` responses happen here once.
"""

from __future__ import annotations

import logging
import time
import uuid

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from service import metrics
from service.codecs.json_body import dumps
from service.errors import PayloadTooLarge, ServingError
from service.inference import CURRENT_MODEL

log = logging.getLogger("service.access")

# Blueprint name -> the ``api`` label of metrics and logs.
API_OF_BLUEPRINT = {"rest_v1": "rest_v1", "rest_v2": "rest_v2", "tasks": "task", "ops": "ops"}


def json_response(payload: object, status: int = 200, headers: dict | None = None) -> Response:
    return Response(dumps(payload), status=status, mimetype="application/json", headers=headers)


def error_response(message: str, status: int) -> Response:
    return json_response({"error": message}, status)


def install(app: Flask, max_request_bytes: int) -> None:
    """Attach the request hooks and error handlers to ``app``."""
    app.config["MAX_CONTENT_LENGTH"] = max_request_bytes

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        g.api = API_OF_BLUEPRINT.get(request.blueprint or "", "other")
        g.endpoint = request.endpoint.rsplit(".", 1)[-1] if request.endpoint else "unknown"
        CURRENT_MODEL.set(("", ""))
        metrics.IN_FLIGHT.labels(g.api).inc()
        g.in_flight = True
        length = request.content_length
        if length is not None and length > max_request_bytes:
            raise PayloadTooLarge(
                f"request body of {length} bytes exceeds the limit of {max_request_bytes} bytes"
            )

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = getattr(g, "request_id", "")
        model, version = CURRENT_MODEL.get()
        if version:  # which version answered: visible to clients during rollouts
            response.headers["X-Model-Version"] = f"{model}/{version}"
        _observe(response)
        return response

    @app.teardown_request
    def _teardown(_exc) -> None:
        if getattr(g, "in_flight", False):
            metrics.IN_FLIGHT.labels(g.api).dec()
            g.in_flight = False

    @app.errorhandler(ServingError)
    def _serving_error(exc: ServingError) -> Response:
        return error_response(exc.message, exc.http_status)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        if exc.code == 413:
            return error_response(
                f"request body exceeds the limit of {max_request_bytes} bytes", 413
            )
        message = {
            404: f"no such endpoint: {request.method} {request.path}",
            405: f"method {request.method} is not allowed on {request.path}",
        }.get(exc.code or 500, exc.description or "error")
        return error_response(message, exc.code or 500)

    @app.errorhandler(Exception)
    def _internal(exc: Exception) -> Response:
        log.exception("unhandled error", extra={"request_id": getattr(g, "request_id", "")})
        return error_response(
            f"internal error; see the server log for request id {getattr(g, 'request_id', '')}", 500
        )


def _observe(response: Response) -> None:
    if not hasattr(g, "started"):
        return
    elapsed = time.perf_counter() - g.started
    model, version = CURRENT_MODEL.get()
    status = str(response.status_code)
    metrics.observe_request(
        g.api,
        g.endpoint,
        status,
        model,
        version,
        elapsed,
        request.content_length,
        response.content_length,
    )
    if g.api != "ops" or response.status_code >= 400:
        log.info(
            "request",
            extra={
                "request_id": g.request_id,
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "model": model,
                "version": version,
                "api": g.api,
                "endpoint": g.endpoint,
                "latency_ms": round(elapsed * 1000, 3),
            },
        )
