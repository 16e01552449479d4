"""One exception hierarchy for the whole service.

Every failure a client can cause or observe is a ``ServingError`` subclass that carries its
HTTP status and gRPC status code. Transports never decide codes themselves: REST handlers
turn any ``ServingError`` into ``{"error": message}`` with ``http_status``; the gRPC server
aborts with ``grpc_code``. Anything else is an internal error (logged, generic 500).
"""

from __future__ import annotations

import grpc


class ServingError(Exception):
    """Base class: a failure with a client-facing message and its status codes."""

    http_status = 500
    grpc_code = grpc.StatusCode.INTERNAL
    # Seconds after which a retry may succeed (HTTP Retry-After, gRPC retry pushback).
    retry_after_s: int | None = None

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(ServingError):
    """The request is malformed or does not match the model's signature."""

    http_status = 400
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT


class Unauthorized(ServingError):
    """An admin operation was attempted without the configured admin token."""

    http_status = 401
    grpc_code = grpc.StatusCode.UNAUTHENTICATED


class Forbidden(ServingError):
    """The operation is disabled by configuration, whoever asks."""

    http_status = 403
    grpc_code = grpc.StatusCode.PERMISSION_DENIED


class NotFound(ServingError):
    """Base for anything addressed that does not exist."""

    http_status = 404
    grpc_code = grpc.StatusCode.NOT_FOUND


class ModelNotFound(NotFound):
    """No model of that name is in the repository."""


class VersionNotFound(NotFound):
    """The model exists but the version or label does not resolve to a loaded version."""


class MethodNotAllowed(ServingError):
    """The URL exists but not for this HTTP method."""

    http_status = 405
    grpc_code = grpc.StatusCode.UNIMPLEMENTED


class PayloadTooLarge(ServingError):
    """The request body exceeds the configured limit."""

    http_status = 413
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class ResourceExhausted(ServingError):
    """A bounded queue is full; the client should retry later."""

    http_status = 429
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    retry_after_s = 1


class Unimplemented(ServingError):
    """The operation is valid but this model or service does not support it."""

    http_status = 501
    grpc_code = grpc.StatusCode.UNIMPLEMENTED


class Unavailable(ServingError):
    """The model or service cannot serve right now (loading, unloading, shutting down)."""

    http_status = 503
    grpc_code = grpc.StatusCode.UNAVAILABLE
    retry_after_s = 1


class DeadlineExceeded(ServingError):
    """The request could not be served within its deadline."""

    http_status = 504
    grpc_code = grpc.StatusCode.DEADLINE_EXCEEDED


class InternalError(ServingError):
    """A failure inside the model or the service, not the client's fault."""


def summary(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message, at most ``limit`` characters: what a
    client or a status field is shown of a failure (TensorFlow's messages run to pages)."""
    text = (getattr(exc, "message", None) or str(exc)).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
