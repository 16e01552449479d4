"""The gunicorn worker class: gthread with JSON errors and a drain that loses no request.

**Errors.** gunicorn answers what it refuses before the app runs (a request line over
``limit_request_line``, headers over ``limit_request_field_size`` or too many of them, a
malformed request line or header) with an HTML page written by ``gunicorn.util.
write_error``, the one place its workers build those responses and with no hook for the
format. The worker replaces it, so a client gets ``{"error": ...}`` with the same status
gunicorn chose (400, 414, 431, 501...) like every other error of this service.

**Drain.** On SIGTERM gthread stops polling its listening socket but keeps it open until
it exits: clients kept connecting into its backlog meanwhile, and the kernel reset every
one of those connections, requests already sent, when the socket finally closed (six lost
requests per SIGTERM under six keep-alive clients). This worker accepts what the kernel
has already queued, serves it, and closes the listener at once, so a new connection is
refused (never sent, safe to retry elsewhere) instead of accepted and reset. It also tells
the app to drain (:func:`service.app.drain`): readiness turns 503, gRPC NOT_SERVING.
Requests on open keep-alive connections are still answered, with ``Connection: close``.
"""

from __future__ import annotations

import select

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


class ServingWorker(ThreadWorker):
    """gthread worker: JSON pre-application errors, a drain that resets no connection."""

    def init_process(self) -> None:
        util.write_error = write_json_error  # in this worker process only
        super().init_process()

    def handle_exit(self, sig, frame) -> None:
        if self.alive:
            from service.app import drain

            drain(self.wsgi)
        super().handle_exit(sig, frame)

    def set_accept_enabled(self, enabled: bool) -> None:
        super().set_accept_enabled(enabled)
        if not enabled and not self.alive:  # the drain began: stop listening now
            for listener in self.sockets:
                # connections the kernel completed already: take them, they are served
                while select.select([listener], [], [], 0)[0]:
                    before = self.nr_conns
                    self.accept(listener)
                    if self.nr_conns == before:
                        break
                listener.close()
