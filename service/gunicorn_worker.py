"""The gunicorn worker class: gthread, with the HTTP server's own errors answered in JSON.

gunicorn answers what it refuses before the app runs (a request line over
``limit_request_line``, headers over ``limit_request_field_size`` or too many of them, a
malformed request line or header) with an HTML page written by ``gunicorn.util.
write_error``, the one place its workers build those responses and with no hook for the
format. The worker replaces it, so a client gets ``{"error": ...}`` with the same status
gunicorn chose (400, 414, 431, 501...) like every other error of this service.
"""

from __future__ import annotations

import orjson
from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """``gunicorn.util.write_error`` with a JSON body."""
    body = orjson.dumps({"error": f"{reason}: {mesg}" if mesg else reason})
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


class JsonErrorWorker(ThreadWorker):
    """gthread worker whose pre-application error responses are JSON."""

    def init_process(self) -> None:
        util.write_error = write_json_error  # in this worker process only
        super().init_process()
