"""Every Prometheus metric the server exports, declared once.

Under gunicorn the launcher points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before
anything imports prometheus_client; :func:`exposition` then aggregates all workers with a
fresh registry per scrape, and gunicorn's ``child_exit`` hook calls :func:`mark_dead`.
Without that variable (tests, a single process) the default registry is used.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
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


def batch_observer(model: str, version: int):
    """The batcher's per-batch callback, feeding the batch metrics."""
    size = BATCH_SIZE.labels(model, str(version))
    wait = BATCH_QUEUE_WAIT.labels(model, str(version))

    def observe(rows: int, padded_rows: int, queue_wait_s: float) -> None:
        size.observe(rows)
        wait.observe(queue_wait_s)

    return observe


def exposition() -> tuple[bytes, str]:
    """The text exposition (all workers aggregated in multiprocess mode) and its type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_dead(pid: int) -> None:
    """gunicorn ``child_exit``: drop a dead worker's live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)
