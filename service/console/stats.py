"""Per-model traffic for the console, read from the service's own Prometheus exposition.

Reading :func:`service.metrics.exposition` (rather than keeping counters of its own) means
the console shows exactly what ``/metrics`` shows, aggregated over every gunicorn worker
in multiprocess mode, and adds no work to the request path.
"""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from service import metrics

REQUESTS = "serving_requests"  # the parser names counter families without "_total"
LATENCY = "serving_request_duration_seconds"


def _failed(status: str) -> bool:
    """HTTP statuses are numbers, gRPC ones names ("OK", "NOT_FOUND")."""
    return int(status) >= 400 if status.isdigit() else status != "OK"


def model_traffic(exposition_text: str) -> dict[str, dict[str, float]]:
    """``{model: {requests, errors, latency_sum_s, latency_count}}`` from an exposition.

    Requests that named no model (health checks, the console itself) are left out.
    """
    found: dict[str, dict[str, float]] = {}

    def entry(model: str) -> dict[str, float]:
        return found.setdefault(
            model, {"requests": 0.0, "errors": 0.0, "latency_sum_s": 0.0, "latency_count": 0.0}
        )

    for family in text_string_to_metric_families(exposition_text):
        if family.name not in (REQUESTS, LATENCY):
            continue
        for sample in family.samples:
            model = sample.labels.get("model", "")
            if not model:
                continue
            if sample.name == REQUESTS + "_total":
                row = entry(model)
                row["requests"] += sample.value
                if _failed(sample.labels.get("status", "")):
                    row["errors"] += sample.value
            elif sample.name == LATENCY + "_sum":
                entry(model)["latency_sum_s"] += sample.value
            elif sample.name == LATENCY + "_count":
                entry(model)["latency_count"] += sample.value
    return dict(sorted(found.items()))


def snapshot() -> dict:
    """The console's stats body: the time of the scrape and every model's traffic."""
    body, _content_type = metrics.exposition()
    return {"time": time.time(), "models": model_traffic(body.decode("utf-8"))}
