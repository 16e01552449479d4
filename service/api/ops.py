"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from flask import Blueprint, Response

from service import metrics
from service.http import dataplane, json_response

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    """200 while the process serves HTTP (liveness)."""
    return json_response({"status": "alive"})


@bp.get("/readyz")
def readyz():
    """200 when every model in the repository has an AVAILABLE version, else 503 + reasons."""
    reasons = dataplane().not_ready()
    if reasons:
        return json_response({"status": "not ready", "reasons": reasons}, 503)
    return json_response({"status": "ready"})


@bp.get("/metrics")
def prometheus_metrics():
    """Prometheus text exposition, aggregated over all gunicorn workers."""
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)
