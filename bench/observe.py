"""What happened on the server side during one level: CPU use and dynamic batching.

A snapshot is taken before and after each measured level. CPU comes from ``/proc`` (the
server's process tree and the whole machine); batching from the service's own Prometheus
metrics (``serving_batch_size_rows`` sum and count, aggregated over workers), so the
results show how many rows each model call carried at every concurrency.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from bench.http_load import LevelResult
from bench.servers import Server, system_busy_seconds

# A load generator above this share of one core is likely what limits the measured rate.
CLIENT_BOUND_PERCENT = 85.0
_BATCH_ROWS = re.compile(r"^serving_batch_size_rows_(sum|count)\{([^}]*)\}\s+(\S+)$", re.M)
_REQUESTS = re.compile(r"^serving_requests_total\{([^}]*)\}\s+(\S+)$", re.M)


@dataclass(frozen=True)
class Snapshot:
    at: float
    server_cpu_s: float
    machine_busy_s: float
    batch_rows: tuple[float, float] | None  # (rows, model calls) so far, None: no metrics
    failed_grpc: int | None  # gRPC calls answered with a status other than OK so far


def _scrape(server: Server) -> str | None:
    try:
        with urllib.request.urlopen(server.url + "/metrics", timeout=10) as response:
            return response.read().decode()
    except (urllib.error.URLError, OSError):
        return None


def count_failed_grpc_calls(metrics_text: str) -> int:
    """Sum of ``serving_requests_total`` over ``api="grpc"`` with a status other than OK.

    HTTP/2 load generators see only HTTP 200 for gRPC; the status is in a trailer they do
    not read, so the server's own count is the one that tells failures apart.
    """
    return int(
        sum(
            float(value)
            for labels, value in _REQUESTS.findall(metrics_text)
            if 'api="grpc"' in labels and 'status="OK"' not in labels
        )
    )


def batch_totals(metrics_text: str, model: str) -> tuple[float, float]:
    """Rows and model calls of ``model`` so far."""
    totals = {"sum": 0.0, "count": 0.0}
    for kind, labels, value in _BATCH_ROWS.findall(metrics_text):
        if f'model="{model}"' in labels:
            totals[kind] += float(value)
    return totals["sum"], totals["count"]


def snapshot(server: Server, model: str | None) -> Snapshot:
    """CPU counters and, from one /metrics scrape, batching and failed gRPC calls."""
    text = _scrape(server) if model else None
    return Snapshot(
        time.monotonic(),
        server.cpu_seconds(),
        system_busy_seconds(),
        batch_totals(text, model) if text is not None else None,
        count_failed_grpc_calls(text) if text is not None else None,
    )


def annotate(
    result: LevelResult, server: Server, before: Snapshot, model: str | None, client: str
) -> None:
    """Record where the CPU went and how rows were batched; flag a client-bound level.

    ``other_cpu_percent`` is the machine's busy time minus the server's and the load
    generator's: anything else running (another job on a shared machine) shows up there.
    """
    after = snapshot(server, model)  # before the /metrics scrape counts: it is one request
    elapsed = after.at - before.at
    server_cpu = after.server_cpu_s - before.server_cpu_s
    client_cpu = (result.client_cpu_percent or 0) / 100 * (result.duration_s or elapsed)
    result.server_cpu_percent = round(100 * server_cpu / elapsed, 1)
    if result.requests_per_s:
        result.server_cpu_ms_per_request = round(
            10 * result.server_cpu_percent / result.requests_per_s, 3
        )
    other = after.machine_busy_s - before.machine_busy_s - server_cpu - client_cpu
    result.other_cpu_percent = round(max(0.0, 100 * other / elapsed), 1)
    if before.batch_rows and after.batch_rows:
        calls = after.batch_rows[1] - before.batch_rows[1]
        if calls > 0:
            result.mean_batch_rows = round((after.batch_rows[0] - before.batch_rows[0]) / calls, 2)
    if before.failed_grpc is not None and after.failed_grpc is not None:
        # gRPC failures travel in trailers h2load does not read (warm-up calls included, so
        # this errs on the side of flagging); for HTTP levels the difference is zero.
        failed = after.failed_grpc - before.failed_grpc
        result.errors += failed
        if failed and result.status == "ok" and result.errors > (result.requests or 0) // 100:
            result.status = "failed"
            result.note = f"{result.errors} failed calls (server metrics)"
    if (result.client_cpu_percent or 0) >= CLIENT_BOUND_PERCENT:
        note = (
            f"{client} used {result.client_cpu_percent:.0f}% of a core: the load "
            "generator, not the server, likely limits this rate"
        )
        result.note = f"{result.note}; {note}" if result.note else note
