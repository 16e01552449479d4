"""The HTTP layer shared by every blueprint: request ids, limits, metrics, logs, errors.

Views only parse and shape; counting, timing, logging and mapping exceptions to
``{"error": ...}`` responses happen here once.
"""

from __future__ import annotations

import itertools
import logging
import os
import time

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from service import metrics
from service.codecs.json_body import dumps
from service.errors import PayloadTooLarge, ServingError
from service.inference import CURRENT_MODEL
from service.logs import access_log

log = logging.getLogger("service.http")

# Blueprint name -> the ``api`` label of metrics and logs.
API_OF_BLUEPRINT = {"rest_v1": "rest_v1", "rest_v2": "rest_v2", "tasks": "task", "ops": "ops"}


class RequestIds:
    """Unique request ids: 32 hex digits, a random per-process prefix and a counter.

    ``uuid4`` reads the kernel's random source on every request, a system call that gives
    up the GIL and then queues for it behind the worker's other threads; ids only need to
    be unique, not unpredictable. The prefix is drawn again in a forked child.
    """

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count()  # next() on a count is atomic under the GIL

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


request_ids = RequestIds()


def json_response(payload: object, status: int = 200, headers: dict | None = None) -> Response:
    return Response(dumps(payload), status=status, mimetype="application/json", headers=headers)


def error_response(message: str, status: int) -> Response:
    return json_response({"error": message}, status)


def install(app: Flask, max_request_bytes: int) -> None:
    """Attach the request hooks and error handlers to ``app``."""
    app.config["MAX_CONTENT_LENGTH"] = max_request_bytes

    # The hooks resolve Flask's context proxies (g, request) once each: every attribute read
    # through a proxy is a lookup, and they run on every request.
    @app.before_request
    def _start() -> None:
        scope, req = g._get_current_object(), request._get_current_object()
        scope.started = time.perf_counter()
        scope.request_id = req.headers.get("X-Request-ID") or request_ids.next()
        scope.api = API_OF_BLUEPRINT.get(req.blueprint or "", "other")
        scope.endpoint = req.endpoint.rsplit(".", 1)[-1] if req.endpoint else "unknown"
        CURRENT_MODEL.set(("", ""))
        metrics.in_flight(scope.api).inc()
        scope.in_flight = True
        length = req.content_length
        if length is not None and length > max_request_bytes:
            raise PayloadTooLarge(
                f"request body of {length} bytes exceeds the limit of {max_request_bytes} bytes"
            )

    @app.after_request
    def _finish(response: Response) -> Response:
        scope = g._get_current_object()
        response.headers["X-Request-ID"] = getattr(scope, "request_id", "")
        model, version = CURRENT_MODEL.get()
        if version:  # which version answered: visible to clients during rollouts
            response.headers["X-Model-Version"] = f"{model}/{version}"
        _observe(scope, request._get_current_object(), response, model, version)
        return response

    @app.teardown_request
    def _teardown(_exc) -> None:
        scope = g._get_current_object()
        if getattr(scope, "in_flight", False):
            metrics.in_flight(scope.api).dec()
            scope.in_flight = False

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


def _observe(scope, req, response: Response, model: str, version: str) -> None:
    if not hasattr(scope, "started"):
        return
    elapsed = time.perf_counter() - scope.started
    metrics.observe_request(
        scope.api,
        scope.endpoint,
        str(response.status_code),
        model,
        version,
        elapsed,
        req.content_length,
        response.content_length,
    )
    if scope.api != "ops" or response.status_code >= 400:
        access_log.record(
            request_id=scope.request_id,
            method=req.method,
            path=req.path,
            status=response.status_code,
            model=model,
            version=version,
            api=scope.api,
            endpoint=scope.endpoint,
            latency_ms=round(elapsed * 1000, 3),
        )
