"""The one request recorder: request id, in-flight gauge, counters, histograms, access log.

Every transport opens a :class:`RequestRecord` when a request arrives and closes it once
answered: the HTTP hooks (:mod:`service.http`) and the gRPC servicers' decorator
(:mod:`service.api.grpc_services`) alike. The model and version that answered are handed
to the record explicitly by the transport (:meth:`RequestRecord.target`) once it resolved
them. The in-flight gauge a record raised is the one it lowers, even when the request is
relabelled on the way (a task verb arrives on a REST v1 URL), so no gauge drifts.
"""

from __future__ import annotations

import itertools
import os
import time

from service import metrics
from service.logs import access_log


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


class RequestRecord:
    """One request being served: what it is, since when, and which version answers it."""

    __slots__ = (
        "_in_flight",
        "api",
        "deadline",
        "endpoint",
        "model",
        "request_id",
        "started",
        "version",
    )

    def __init__(self, api: str, endpoint: str, request_id: str):
        self.started = time.monotonic()
        self.deadline: float | None = None  # time.monotonic() by which the client gives up
        self.api = api
        self.endpoint = endpoint
        self.request_id = request_id
        self.model = ""
        self.version = ""
        self._in_flight = metrics.in_flight(api)
        self._in_flight.inc()

    def target(self, model: str, version: int | str) -> None:
        """The model version serving this request (labels of its metrics and log line)."""
        self.model = model
        self.version = str(version)

    def expire_after(self, seconds: float) -> None:
        """The client's own deadline: ``seconds`` after the request arrived."""
        self.deadline = self.started + seconds

    def relabel(self, api: str | None = None, endpoint: str | None = None) -> None:
        """Name the request's API or endpoint once the transport knows them; the in-flight
        count moves with the API."""
        if endpoint is not None:
            self.endpoint = endpoint
        if api is not None and api != self.api:
            self.api = api
            if self._in_flight is not None:
                self._in_flight.dec()
                self._in_flight = metrics.in_flight(api)
                self._in_flight.inc()

    @property
    def open(self) -> bool:
        return self._in_flight is not None

    def leave(self) -> None:
        """No longer in flight (idempotent)."""
        if self._in_flight is not None:
            self._in_flight.dec()
            self._in_flight = None


class RequestRecorder:
    """Opens and closes :class:`RequestRecord` s; one per process."""

    def __init__(self) -> None:
        self.ids = RequestIds()

    def open(self, api: str, endpoint: str, request_id: str | None = None) -> RequestRecord:
        """A request arrived: count it in flight; ``request_id`` is the client's, if any."""
        return RequestRecord(api, endpoint, request_id or self.ids.next())

    def close(
        self,
        record: RequestRecord,
        status: int | str,
        *,
        failed: bool,
        method: str,
        path: str | None = None,
        request_bytes: int | None = None,
        response_bytes: int | None = None,
        quiet: bool = False,
    ) -> None:
        """The request was answered with ``status`` (HTTP code or gRPC code name): count,
        time and size it, and log it unless ``quiet`` and successful (health checks and
        scrapes would drown the log)."""
        record.leave()
        elapsed = time.monotonic() - record.started
        metrics.observe_request(
            record.api,
            record.endpoint,
            str(status),
            record.model,
            record.version,
            elapsed,
            request_bytes,
            response_bytes,
        )
        if quiet and not failed:
            return
        access_log.record(
            request_id=record.request_id,
            method=method,
            **({"path": path} if path is not None else {}),
            status=status,
            model=record.model,
            version=record.version,
            api=record.api,
            endpoint=record.endpoint,
            latency_ms=round(elapsed * 1000, 3),
        )


recorder = RequestRecorder()
