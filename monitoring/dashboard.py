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
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from monitoring.panels import (
    DATASOURCE,
    batching,
    latency,
    overview,
    per_model,
    repository,
    traffic,
)
from monitoring.promql import JOB, MODEL

OUTPUT = Path(__file__).resolve().parent / "grafana" / "serving-dashboard.json"
UID = "keras-serving"


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
