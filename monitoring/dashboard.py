"""The Grafana dashboard of the serving stack, built with Grafana's own Python SDK.

``python -m monitoring.dashboard`` writes ``monitoring/grafana/serving-dashboard.json``
(``--check`` only compares, for CI). The committed JSON is what users import; a test keeps it
equal to what this module generates and runs every query of it against a real Prometheus.

Template variables: ``datasource`` (any Prometheus), ``job`` (the scrape job), ``model`` and
``version`` (multi-select, "All" by default). Every query filters on them, so one panel shows
one series per model and version, and the last row repeats once per selected model.

There is no queue-depth metric in ``service/metrics.py``; the batching row shows how long
the oldest row of each batch waited (``serving_batch_queue_wait_seconds``) instead, which
grows with the queue, plus in-flight requests per API.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import heatmap, prometheus, stat, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions, VizLegendOptions
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    GridPos,
    VariableOption,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

OUTPUT = Path(__file__).resolve().parent / "grafana" / "serving-dashboard.json"
UID = "keras-serving"

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
JOB = 'job=~"$job"'
MODEL = JOB + ', model=~"$model"'
VERSIONED = MODEL + ', version=~"$version"'
# /healthz, /readyz and /metrics (api="ops") are the platform's probes, not user traffic.
TRAFFIC = MODEL + ', version=~"$version", api!="ops"'
# REST answers carry HTTP codes, gRPC answers gRPC code names.
ERRORS = 'status!~"2..|OK"'
# The alerting subset (alerts.yml): the server's fault or overload, not a client's mistake;
# 501 is a verb on a model of another task, so it is left out.
SERVER_ERRORS = (
    'status=~"5..|429|UNKNOWN|INTERNAL|UNAVAILABLE|DEADLINE_EXCEEDED|RESOURCE_EXHAUSTED|DATA_LOSS"'
    ', status!="501"'
)


def rate(metric: str, *matchers: str, fn: str = "rate") -> str:
    """``rate(metric{matchers}[$__rate_interval])`` (or another range function)."""
    return f"{fn}({metric}{{{', '.join(matchers)}}}[{RATE}])"


def ratio(by: str, metric: str, numerator: tuple[str, ...], denominator: tuple[str, ...]) -> str:
    """sum by (by) of rate(numerator) / the same of rate(denominator)."""
    return (
        f"sum by ({by}) ({rate(metric, *numerator)}) / sum by ({by}) ({rate(metric, *denominator)})"
    )


def mean(by: str, histogram: str, *matchers: str) -> str:
    """Mean observation of a histogram over the rate interval."""
    return (
        f"sum by ({by}) ({rate(histogram + '_sum', *matchers)})"
        f" / sum by ({by}) ({rate(histogram + '_count', *matchers)})"
    )


def increase(metric: str, *matchers: str) -> str:
    return rate(metric, *matchers, fn="increase")


def quantile(q: float, by: str, histogram: str, *matchers: str) -> str:
    return f"histogram_quantile({q}, sum by (le, {by}) ({rate(histogram + '_bucket', *matchers)}))"


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


def variables() -> list:
    """datasource -> job -> model -> version, each narrowing the next."""

    def labels(name: str, source: str, title: str, all_value: str) -> db.QueryVariable:
        return (
            db.QueryVariable(name)
            .label(title)
            .datasource(DATASOURCE)
            .query(f"label_values({source}, {name})")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.NATURAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(all_value)
            .current(VariableOption(selected=True, text="All", value="$__all"))
        )

    return [
        db.DatasourceVariable("datasource").label("Data source").type("prometheus"),
        labels("job", "serving_requests_total", "Job", ".+"),
        # Requests that named no model (probes, unknown URLs) have model="": never a choice.
        labels("model", f"serving_requests_total{{{JOB}}}", "Model", ".+"),
        # Version-less requests (an unknown label, a model with nothing loaded) still count.
        labels("version", f"serving_requests_total{{{MODEL}}}", "Version", ".*"),
    ]


REQUESTS = "serving_requests_total"
NOT_OPS = 'api!="ops"'


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
            f"sum({rate(REQUESTS, TRAFFIC)})",
        ),
        single(
            "Error ratio",
            "Share of answers that were not 2xx / OK.",
            "percentunit",
            f"sum({rate(REQUESTS, TRAFFIC, ERRORS)}) / sum({rate(REQUESTS, TRAFFIC)})",
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
            [query(f"sum by (api, endpoint) ({rate(REQUESTS, TRAFFIC)})", "{{api}} {{endpoint}}")],
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
                    f"sum by (status, model) ({rate(REQUESTS, TRAFFIC, ERRORS)})",
                    "{{status}} {{model}}",
                ),
                query(
                    f"sum by (model) ({rate(REQUESTS, TRAFFIC, SERVER_ERRORS)})",
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


def build() -> db.Dashboard:
    """The whole dashboard, rows in reading order: is it up, traffic, latency, batching,
    the model repository, then one row per model."""
    dashboard = (
        db.Dashboard("Keras serving")
        .uid(UID)
        .description("TF Serving / KServe V2 compatible Keras model server (service/metrics.py).")
        .tags(["keras-serving", "prometheus"])
        .time("now-1h", "now")
        .refresh("30s")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .variables(variables())
    )
    for title, panels, repeat in (
        ("Overview", overview(), None),
        ("Traffic and errors", traffic(), None),
        ("Latency", latency(), None),
        ("Batching, queueing and in-flight", batching(), None),
        ("Model repository", repository(), None),
        ("Per model: $model", per_model(), "model"),
    ):
        row = db.Row(title)
        if repeat:
            row.repeat(repeat)
        dashboard.with_row(row)
        for panel in panels:
            dashboard.with_panel(panel)
    return dashboard


def render() -> str:
    """The dashboard as the JSON committed to the repository (stable key order, ids)."""
    model = build().build()
    for number, panel in enumerate(model.panels or [], start=1):
        panel.id_val = number
    return json.dumps(model, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python -m monitoring.dashboard", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
