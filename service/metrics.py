"""Every Prometheus metric the server exports, declared once.

Under gunicorn the launcher points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before
anything imports prometheus_client; :func:`exposition` then aggregates all workers with a
fresh registry per scrape, and gunicorn's ``child_exit`` hook calls :func:`mark_dead`.
Without that variable (tests, a single process) the default registry is used.

The histograms labelled by version live as long as the version (:class:`VersionSeries`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import warnings

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
SIZE_BUCKETS = tuple(float(4**i) for i in range(3, 14))  # 64 B .. 64 MiB
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

REQUESTS = Counter(
    "serving_requests_total",
    "Requests answered, by model, version, API, endpoint and status.",
    ["model", "version", "api", "endpoint", "status"],
)
REQUEST_LATENCY = Histogram(
    "serving_request_duration_seconds",
    "Wall time from request received to response ready.",
    ["model", "api", "endpoint"],
    buckets=LATENCY_BUCKETS,
)
INFERENCE_LATENCY = Histogram(
    "serving_inference_duration_seconds",
    "Time of one model call (one batch).",
    ["model", "version"],
    buckets=LATENCY_BUCKETS,
)
REQUEST_SIZE = Histogram(
    "serving_request_size_bytes", "Request body size.", ["api"], buckets=SIZE_BUCKETS
)
RESPONSE_SIZE = Histogram(
    "serving_response_size_bytes", "Response body size.", ["api"], buckets=SIZE_BUCKETS
)
IN_FLIGHT = Gauge(
    "serving_requests_in_flight", "Requests being processed.", ["api"], multiprocess_mode="livesum"
)
BATCH_SIZE = Histogram(
    "serving_batch_size_rows",
    "Rows per model call after dynamic batching (before padding).",
    ["model", "version"],
    buckets=BATCH_BUCKETS,
)
BATCH_QUEUE_WAIT = Histogram(
    "serving_batch_queue_wait_seconds",
    "Time the oldest row of a batch waited in the queue.",
    ["model", "version"],
    buckets=LATENCY_BUCKETS,
)
MODEL_LOADS = Counter(
    "serving_model_load_attempts_total", "Model version load attempts.", ["model"]
)
MODEL_LOAD_FAILURES = Counter(
    "serving_model_load_failures_total", "Model version loads that failed.", ["model"]
)
MODEL_LOAD_LATENCY = Histogram(
    "serving_model_load_duration_seconds",
    "Load + validation + warm-up time of a version.",
    ["model"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
)
CONFIG_ERRORS = Counter(
    "serving_repository_config_errors_total",
    "Repository config files refused (invalid, or a label on a version not loaded); the "
    "last good config stays in force. Counted once per distinct error, per worker.",
)
VERSIONS_LOADED = Gauge(
    "serving_model_versions_loaded",
    "Versions currently loaded (per worker; max across them).",
    ["model"],
    multiprocess_mode="livemax",
)


# Labelled children by label values: ``labels()`` validates and looks up under a lock on
# every call, and each request records five of them. Label sets are the same few per
# model/endpoint/status, so the caches stay as small as the exposition itself.
_request_children: dict[tuple[str, str, str, str, str], tuple] = {}
_api_children: dict[str, tuple] = {}


def in_flight(api: str):
    """The in-flight gauge of ``api`` (cached child)."""
    return _children_of_api(api)[0]


def _children_of_api(api: str) -> tuple:
    children = _api_children.get(api)
    if children is None:
        children = _api_children[api] = (
            IN_FLIGHT.labels(api),
            REQUEST_SIZE.labels(api),
            RESPONSE_SIZE.labels(api),
        )
    return children


def observe_request(
    api: str,
    endpoint: str,
    status: str,
    model: str,
    version: str,
    elapsed_s: float,
    request_bytes: int | None = None,
    response_bytes: int | None = None,
) -> None:
    """Count, time and size one answered request: the one recording every transport uses."""
    key = (model, version, api, endpoint, status)
    children = _request_children.get(key)
    if children is None:
        children = _request_children[key] = (
            REQUESTS.labels(model, version, api, endpoint, status),
            REQUEST_LATENCY.labels(model, api, endpoint),
        )
    children[0].inc()
    children[1].observe(elapsed_s)
    _, request_size, response_size = _children_of_api(api)
    if request_bytes:
        request_size.observe(request_bytes)
    if response_bytes is not None:
        response_size.observe(response_bytes)


def model_discovered(model: str) -> None:
    """Create a model's load counters at 0 when the repository first sees it, so that its
    first failure is an increase (rate() and increase() never see a series born at 1)."""
    MODEL_LOADS.labels(model)
    MODEL_LOAD_FAILURES.labels(model)


# ---- series that end with their version -------------------------------------------------
#
# prometheus_client's multiprocess mode keeps every series it ever wrote, in one file per
# worker and type, and reads them all on every scrape: ~51 samples per version for the
# three histograms below, so a server whose models are reloaded daily scraped ever slower,
# with the scraped worker's GIL held (2.8 ms fresh, 35.7 ms after 24 sentiment reloads).
# Like Triton, which drops an unloaded model's series, each version's histograms go to a
# file of their own that is deleted when the version is unloaded.

_VERSIONED = (INFERENCE_LATENCY, BATCH_SIZE, BATCH_QUEUE_WAIT)
# The library chose its value class at import (mmap files iff PROMETHEUS_MULTIPROC_DIR):
# values made while a thread creates a VersionSeries are routed to that version's own file.
_LIBRARY_VALUE_CLASS = values.ValueClass
_MULTIPROCESS = getattr(_LIBRARY_VALUE_CLASS, "_multiprocess", False)
_routing = threading.local()
_series_numbers = itertools.count(1)
_owners: dict[tuple[str, str], VersionSeries] = {}  # whose children the parents hold
_owners_lock = threading.Lock()
# Removing a labelled child from its parent is what forgetting needs in multiprocess mode
# too (the values are deleted with the version's file); the library warns it is unsupported.
warnings.filterwarnings("ignore", "Removal of labels has not been implemented", UserWarning)


def _routed_value(*args, **kwargs):
    value_class = getattr(_routing, "value_class", None) or _LIBRARY_VALUE_CLASS
    return value_class(*args, **kwargs)


values.ValueClass = _routed_value


class VersionSeries:
    """The histograms of one loaded version (inference duration, batch size, queue wait),
    which :meth:`forget` ends when the version is unloaded.

    In multiprocess mode they are written to ``histogram_<pid>-v<n>.db`` in the metrics
    directory, their own file, which :meth:`forget` closes and deletes: its series leave the
    exposition and the scrape costs no more for it. A worker killed before it unloads keeps
    its files until the server restarts, as every dead worker's histograms do. While one
    worker has forgotten a version and another not yet, the version's series sum fewer
    workers (a counter reset to Prometheus), for the few seconds the version is going away.

    Observations after :meth:`forget` (a request still finishing on the unloaded version)
    are dropped, never written to a closed file.
    """

    def __init__(self, model: str, version: int):
        self.labels = (model, str(version))
        self._lock = threading.Lock()
        self._forgotten = False
        self._value_class = self._path = None
        if _MULTIPROCESS:
            # Fixed at creation: a worker loads after gunicorn's fork and never forks again.
            identifier = f"{os.getpid()}-v{next(_series_numbers)}"
            self._value_class = values.MultiProcessValue(lambda: identifier)
            self._path = os.path.join(
                os.environ["PROMETHEUS_MULTIPROC_DIR"], f"histogram_{identifier}.db"
            )
        with _owners_lock:
            _routing.value_class = self._value_class
            try:
                for parent in _VERSIONED:  # an older copy of this version keeps its own
                    parent.remove(*self.labels)
                self._latency, self._rows, self._wait = (p.labels(*self.labels) for p in _VERSIONED)
            finally:
                _routing.value_class = None
            _owners[self.labels] = self

    def observe_call(self, seconds: float) -> None:
        """One model call (one batch) took ``seconds``."""
        with self._lock:
            if not self._forgotten:
                self._latency.observe(seconds)

    def observe_batch(self, rows: int, padded_rows: int, queue_wait_s: float) -> None:
        """The batcher's per-batch callback: rows in the batch, and the oldest row's wait."""
        with self._lock:
            if not self._forgotten:
                self._rows.observe(rows)
                self._wait.observe(queue_wait_s)

    def forget(self) -> None:
        """End the series (idempotent): out of the exposition from the next scrape."""
        with self._lock:
            if self._forgotten:
                return
            self._forgotten = True
            if self._value_class is not None:
                self._value_class.close_all_files()
                with contextlib.suppress(FileNotFoundError):  # the directory went first
                    os.unlink(self._path)
        with _owners_lock:
            if _owners.get(self.labels) is self:
                del _owners[self.labels]
                for parent in _VERSIONED:
                    parent.remove(*self.labels)


class _MultiProcessCollector(multiprocess.MultiProcessCollector):
    """The library's collector, which also tolerates a version's file deleted between
    listing the directory and reading it: the listing is read again."""

    def collect(self):
        for _ in range(2):
            try:
                return super().collect()
            except FileNotFoundError:
                pass
        return super().collect()


def exposition() -> tuple[bytes, str]:
    """The text exposition (all workers aggregated in multiprocess mode) and its type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        _MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_dead(pid: int) -> None:
    """gunicorn ``child_exit``: drop a dead worker's live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)
