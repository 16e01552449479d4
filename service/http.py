"""The HTTP layer shared by every blueprint: request records, limits, errors.

Views only parse, call the data plane and shape; opening and closing each request's
record (ids, metrics, access log: :mod:`service.recorder`) and mapping exceptions to
``{"error": ...}`` responses happen here once. REST v1 ``:predict`` skips Flask's
dispatch (:mod:`service.api.fast_predict`) and uses the same checks and messages from here.
"""

from __future__ import annotations

import logging
import math

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from service.codecs.json_body import dumps
from service.dataplane import DataPlane
from service.errors import InvalidInput, PayloadTooLarge, ServingError
from service.recorder import RequestRecord, recorder
from service.served_model import ServedModel

log = logging.getLogger("service.http")

# The client's deadline for one request, in milliseconds from its arrival (gRPC clients
# set the call's deadline instead); the server's SERVING_REQUEST_TIMEOUT_S still caps it.
TIMEOUT_HEADER = "X-Request-Timeout-Ms"

# Blueprint name -> the ``api`` label of metrics and logs.
API_OF_BLUEPRINT = {
    "rest_v1": "rest_v1",
    "rest_v2": "rest_v2",
    "ops": "ops",
    # the console and the docs are read by people: quiet in the access log, like health
    "console": "ops",
    "docs": "ops",
}


def dataplane() -> DataPlane:
    """The app's data plane (views call nothing else of the server)."""
    return current_app.extensions["dataplane"]


def current_record() -> RequestRecord:
    """The record of the request being handled."""
    return g.record


def resolve(name: str, version: int | None = None, label: str | None = None) -> ServedModel:
    """The version a request addresses, through the data plane, named on its record (so
    metrics, the access log and ``X-Model-Version`` say which version answered)."""
    model = dataplane().model(name, version, label)
    g.record.target(model.name, model.version)
    return model


def request_body() -> bytes:
    """The request body, refused with 413 beyond the configured limit.

    A body with a Content-Length over the limit was refused before the view ran; a chunked
    body has no length up front, and werkzeug's own limited stream hands back an empty body
    past the limit (read as malformed JSON), so it is read here up to one byte past it.
    """
    req = request._get_current_object()
    if (
        req.content_length is not None
        or "chunked" not in req.headers.get("Transfer-Encoding", "").lower()
    ):
        return req.get_data()
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    data = req.input_stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
    return data


def json_response(payload: object, status: int = 200, headers: dict | None = None) -> Response:
    return Response(dumps(payload), status=status, mimetype="application/json", headers=headers)


def error_response(message: str, status: int) -> Response:
    return json_response({"error": message}, status)


def error_headers(exc: ServingError) -> dict[str, str]:
    """The headers a ServingError's answer carries besides its JSON body."""
    return {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else {}


def timeout_s(header: str) -> float:
    """The client's deadline in seconds, from the ``X-Request-Timeout-Ms`` header."""
    try:
        milliseconds = float(header)
    except ValueError:
        milliseconds = math.nan
    if not 0 < milliseconds < math.inf:
        raise InvalidInput(
            f"{TIMEOUT_HEADER} must be a positive number of milliseconds, got {header[:40]!r}"
        )
    return milliseconds / 1000


def check_length(length: int | None, limit: int) -> None:
    """Refuse a body whose Content-Length is over ``limit`` before reading any of it."""
    if length is not None and length > limit:
        raise PayloadTooLarge(f"request body of {length} bytes exceeds the limit of {limit} bytes")


def internal_error_message(request_id: str) -> str:
    """What a client sees of an unexpected exception (logged with the stack trace)."""
    return f"internal error; see the server log for request id {request_id}"


def install(app: Flask, max_request_bytes: int) -> None:
    """Attach the request hooks and error handlers to ``app``."""
    app.config["MAX_CONTENT_LENGTH"] = max_request_bytes

    # The hooks resolve Flask's context proxies (g, request) once each: every attribute read
    # through a proxy is a lookup, and they run on every request.
    @app.before_request
    def _start() -> None:
        scope, req = g._get_current_object(), request._get_current_object()
        scope.record = recorder.open(
            API_OF_BLUEPRINT.get(req.blueprint or "", "other"),
            req.endpoint.rsplit(".", 1)[-1] if req.endpoint else "unknown",
            req.headers.get("X-Request-ID"),
        )
        timeout_ms = req.headers.get(TIMEOUT_HEADER)
        if timeout_ms is not None:
            scope.record.expire_after(timeout_s(timeout_ms))
        check_length(req.content_length, max_request_bytes)

    @app.after_request
    def _finish(response: Response) -> Response:
        record: RequestRecord | None = g._get_current_object().get("record")
        if record is None:  # a request Flask answered before the hooks ran
            return response
        headers = response.headers
        headers["X-Request-ID"] = record.request_id
        if record.version:  # which version answered: visible to clients during rollouts
            headers["X-Model-Version"] = f"{record.model}/{record.version}"
        req, status = request._get_current_object(), response.status_code
        recorder.close(
            record,
            status,
            failed=status >= 400,
            method=req.method,
            path=req.path,
            request_bytes=req.content_length,
            response_bytes=response.content_length,
            quiet=record.api == "ops",
        )
        return response

    @app.teardown_request
    def _teardown(_exc) -> None:
        record = g._get_current_object().get("record")
        if record is not None:  # answered or not, it is no longer in flight
            record.leave()

    @app.errorhandler(ServingError)
    def _serving_error(exc: ServingError) -> Response:
        response = error_response(exc.message, exc.http_status)
        response.headers.update(error_headers(exc))
        return response

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
        request_id = getattr(g.get("record"), "request_id", "")
        log.exception("unhandled error", extra={"request_id": request_id})
        return error_response(internal_error_message(request_id), 500)
