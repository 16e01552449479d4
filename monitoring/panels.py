"""The dashboard's panels, row by row, on Grafana's SDK builders.

Every panel and query uses the ``datasource`` variable; every query filters on the ``job``,
``model`` and ``version`` variables (see :mod:`monitoring.promql`).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import heatmap, prometheus, stat, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions, VizLegendOptions
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from monitoring.promql import (
    ANY_TRAFFIC,
    ERRORS,
    JOB,
    MODEL,
    NOT_OPS,
    REQUESTS,
    SERVER_ERRORS,
    TRAFFIC,
    VERSIONED,
    increase,
    mean,
    quantile,
    rate,
    ratio,
)

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")


def query(expr: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    """A range query on the dashboard's datasource variable."""
    return (
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend)
        .ref_id(ref)
        .range()
        .datasource(DATASOURCE)
    )


def quantiles(histogram: str, by: str, matchers: tuple[str, ...], legend: str) -> list:
    """p50 and p99 queries of a histogram, one series per ``by`` group."""
    return [
        query(quantile(q, by, histogram, *matchers), f"p{round(q * 100)} {legend}", ref)
        for q, ref in ((0.5, "A"), (0.99, "B"))
    ]


def graph(
    title: str, description: str, unit: str, targets: list[prometheus.Dataquery], width: int = 12
) -> timeseries.Panel:
    """A time series panel with a table legend (mean, max, last per series)."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .grid_pos(GridPos(h=8, w=width))
        .legend(
            VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["mean", "max", "lastNotNull"])
        )
    )
    for target in targets:
        panel.with_target(target)
    return panel


def single(title: str, description: str, unit: str, expr: str) -> stat.Panel:
    """A stat panel showing the last value with its sparkline."""
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .grid_pos(GridPos(h=4, w=4))
        .graph_mode(common.BigValueGraphMode.AREA)
        .color_mode(common.BigValueColorMode.VALUE)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]))
        .with_target(query(expr, ""))
    )


def overview() -> list:
    return [
        single(
            "Targets up",
            "Scraped serving processes answering /metrics.",
            "none",
            f"sum(up{{{JOB}}})",
        ),
        single(
            "Models not ready",
            "Models with no loaded version in some instance (what /readyz reports as 503).",
            "none",
            f"sum(max by (instance, model) (serving_model_versions_loaded{{{MODEL}}}) == bool 0)",
        ),
        single(
            "Requests / s",
            "All model traffic (probes excluded).",
            "reqps",
            f"sum({rate(REQUESTS, ANY_TRAFFIC)})",
        ),
        single(
            "Error ratio",
            "Share of answers that were not 2xx / OK.",
            "percentunit",
            f"sum({rate(REQUESTS, ANY_TRAFFIC, ERRORS)}) / sum({rate(REQUESTS, ANY_TRAFFIC)})",
        ),
        single(
            "In flight",
            "Requests being processed now, all APIs.",
            "none",
            f"sum(serving_requests_in_flight{{{JOB}}})",
        ),
        single(
            "Versions loaded",
            "Model versions loaded (max over the processes of an instance).",
            "none",
            f"sum(max by (instance, model) (serving_model_versions_loaded{{{MODEL}}}))",
        ),
    ]


def traffic() -> list:
    return [
        graph(
            "Request rate per model and version",
            "Answered requests per second, every API.",
            "reqps",
            [
                query(
                    f"sum by (model, version) ({rate(REQUESTS, TRAFFIC)})", "{{model}} v{{version}}"
                )
            ],
        ),
        graph(
            "Request rate per API and endpoint",
            "rest_v1, rest_v2, grpc and task verbs.",
            "reqps",
            [
                query(
                    f"sum by (api, endpoint) ({rate(REQUESTS, ANY_TRAFFIC)})",
                    "{{api}} {{endpoint}}",
                )
            ],
        ),
        graph(
            "Error ratio per model and version",
            "Non-2xx/OK answers over all answers, per model version.",
            "percentunit",
            [
                query(
                    ratio("model, version", REQUESTS, (TRAFFIC, ERRORS), (TRAFFIC,)),
                    "{{model}} v{{version}}",
                )
            ],
        ),
        graph(
            "Errors per status",
            "Error answers per second by status (HTTP code or gRPC code name); the server "
            "errors among them are what the ServingHighErrorRate alert counts.",
            "reqps",
            [
                query(
                    f"sum by (status, model) ({rate(REQUESTS, ANY_TRAFFIC, ERRORS)})",
                    "{{status}} {{model}}",
                ),
                query(
                    f"sum by (model) ({rate(REQUESTS, ANY_TRAFFIC, SERVER_ERRORS)})",
                    "server errors {{model}}",
                    "B",
                ),
            ],
        ),
    ]


def latency() -> list:
    return [
        graph(
            "Request latency per model and endpoint",
            "Wall time from request received to response ready (this histogram has no "
            "version label; the model call per version is next).",
            "s",
            quantiles(
                "serving_request_duration_seconds",
                "model, api, endpoint",
                (MODEL, NOT_OPS),
                "{{model}} {{api}} {{endpoint}}",
            ),
        ),
        graph(
            "Model call latency per model and version",
            "Time of one model call (one batch).",
            "s",
            quantiles(
                "serving_inference_duration_seconds",
                "model, version",
                (VERSIONED,),
                "{{model}} v{{version}}",
            ),
        ),
    ]


def batching() -> list:
    return [
        (
            heatmap.Panel()
            .title("Batch size distribution")
            .description("Rows per model call after dynamic batching, all selected versions.")
            .datasource(DATASOURCE)
            .grid_pos(GridPos(h=8, w=8))
            .calculate(False)
            .with_target(
                query(
                    f"sum by (le) ({increase('serving_batch_size_rows_bucket', VERSIONED)})",
                    "{{le}}",
                ).format(PromQueryFormat.HEATMAP)
            )
        ),
        graph(
            "Mean batch size per model and version",
            "Rows per model call.",
            "none",
            [
                query(
                    mean("model, version", "serving_batch_size_rows", VERSIONED),
                    "{{model}} v{{version}}",
                )
            ],
            width=8,
        ),
        graph(
            "Batch queue wait per model and version",
            "How long the oldest row of a batch waited: the stand-in for queue depth, which "
            "the server does not export.",
            "s",
            quantiles(
                "serving_batch_queue_wait_seconds",
                "model, version",
                (VERSIONED,),
                "{{model}} v{{version}}",
            ),
            width=8,
        ),
        graph(
            "In-flight requests per API",
            "Requests being processed (ops includes the scrape itself).",
            "none",
            [query(f"sum by (api) (serving_requests_in_flight{{{JOB}}})", "{{api}}")],
        ),
        graph(
            "Body sizes per API",
            "Request and response bodies.",
            "bytes",
            [
                *quantiles("serving_request_size_bytes", "api", (JOB,), "request {{api}}"),
                query(
                    quantile(0.99, "api", "serving_response_size_bytes", JOB),
                    "p99 response {{api}}",
                    "C",
                ),
            ],
        ),
    ]


def repository() -> list:
    return [
        graph(
            "Versions loaded per model",
            "0 means the model cannot serve in that instance (not ready).",
            "none",
            [
                query(
                    f"max by (instance, model) (serving_model_versions_loaded{{{MODEL}}})",
                    "{{model}} {{instance}}",
                )
            ],
            width=8,
        ),
        graph(
            "Model load events",
            "Version loads started and failed per interval. A load or failure that created "
            "its series shows in the totals only: Prometheus sees no increase from it.",
            "none",
            [
                query(
                    f"sum by (model) ({increase('serving_model_load_attempts_total', MODEL)})",
                    "loads {{model}}",
                ),
                query(
                    f"sum by (model) ({increase('serving_model_load_failures_total', MODEL)})",
                    "failures {{model}}",
                    "B",
                ),
            ],
            width=8,
        ),
        graph(
            "Loads and failures since start",
            "Totals since each process started, and mean load + warm-up seconds per model.",
            "none",
            [
                query(
                    f"sum by (model) (serving_model_load_attempts_total{{{MODEL}}})",
                    "loads {{model}}",
                ),
                query(
                    f"sum by (model) (serving_model_load_failures_total{{{MODEL}}})",
                    "failures {{model}}",
                    "B",
                ),
                query(
                    f"sum by (model) (serving_model_load_duration_seconds_sum{{{MODEL}}})"
                    f" / sum by (model) (serving_model_load_duration_seconds_count{{{MODEL}}})",
                    "mean load seconds {{model}}",
                    "C",
                ),
            ],
            width=8,
        ),
    ]


def per_model() -> list:
    """Repeated once per selected model: its versions side by side."""
    one = 'job=~"$job", model=~"$model", version=~"$version"'  # one model per repeat
    return [
        graph(
            "$model: requests per version",
            "Answered requests per second per version and status.",
            "reqps",
            [
                query(
                    f"sum by (version, status) ({rate(REQUESTS, one, NOT_OPS)})",
                    "v{{version}} {{status}}",
                )
            ],
            width=8,
        ),
        graph(
            "$model: model call p99 per version",
            "Compare a canary with the stable version.",
            "s",
            [
                query(
                    quantile(0.99, "version", "serving_inference_duration_seconds", one),
                    "v{{version}}",
                )
            ],
            width=8,
        ),
        graph(
            "$model: batch size per version",
            "Mean rows per model call.",
            "none",
            [query(mean("version", "serving_batch_size_rows", one), "v{{version}}")],
            width=8,
        ),
    ]
