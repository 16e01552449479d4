"""The console's own JSON bodies (its pages are HTML)."""

from __future__ import annotations

from pydantic import Field

from service.api.schemas.common import Body


class ModelTraffic(Body):
    """Totals since the server started, summed over versions, APIs and workers; the page
    turns two polls into a rate (requests / s) and a mean latency."""

    requests: float = Field(description="requests answered (serving_requests_total)")
    errors: float = Field(description="of which failed (HTTP status >= 400 or a gRPC error)")
    latency_sum_s: float = Field(description="serving_request_duration_seconds_sum")
    latency_count: float = Field(description="serving_request_duration_seconds_count")


class Stats(Body):
    time: float = Field(description="server time of the scrape, seconds since the epoch")
    models: dict[str, ModelTraffic]
