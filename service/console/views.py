"""The console's routes: the model list, a model page, traffic stats, report plots and the
training report page.

Models are looked up through the data plane without naming them on the request's record
(not :func:`service.http.resolve`), so viewing the console never counts as traffic of the
model it shows.
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, Response, render_template, request, send_file

from modelcard import REPORT_DIR, REPORT_PAGE, ModelCard, parse_version
from service.console import stats
from service.dataplane import ModelSummary
from service.errors import ModelNotFound, NotFound, ServingError
from service.http import dataplane, json_response
from service.served_model import ServedModel

bp = Blueprint(
    "console",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/console/static",
)

# Plots the training report writes: plain names only, so no path can be smuggled in.
_REPORT_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\.png")
# The training report page is self-contained (data: images, inline style). It comes from a
# model directory, which anyone who can write the repository controls, so the browser is
# told to run no script in it, fetch nothing and treat it as its own origin (sandbox): a
# planted page can neither call this server's API as the console nor reach the network.
REPORT_PAGE_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"


def _version_number(name: str, version: str | None) -> int | None:
    if version is None:
        return None
    number = parse_version(version)
    if number is None:
        raise NotFound(f"version '{version}' of model '{name}' is not a version number")
    return number


def _latest_card(name: str) -> ModelCard | None:
    """The card of the version predict would use, or None (no card, nothing loaded)."""
    try:
        return dataplane().model(name).card
    except ServingError:
        return None


def plot_path(model: ServedModel, filename: str) -> Path | None:
    """The file behind a plot name, if it really is a plot in this version's ``report/``:
    a plain ``NAME.png`` name, a regular file, and (resolving any symlink) still inside
    that directory."""
    if not _REPORT_FILE.fullmatch(filename):
        return None
    return _inside_report(model, filename)


def report_page_path(model: ServedModel) -> Path | None:
    """The version's training report page (``report/index.html``), if it has one: a
    regular file that (resolving any symlink) is still inside ``report/``."""
    return _inside_report(model, REPORT_PAGE)


def _inside_report(model: ServedModel, filename: str) -> Path | None:
    root = (Path(model.path) / REPORT_DIR).resolve()
    path = (root / filename).resolve()
    return path if path.parent == root and path.is_file() else None


def _summary(name: str) -> ModelSummary:
    """The model's versions and labels (it may have left the repository meanwhile)."""
    found = next((s for s in dataplane().models() if s.name == name), None)
    if found is None:
        raise ModelNotFound(f"model '{name}' not found")
    return found


def report_files(model: ServedModel) -> list[str]:
    """The plots in a loaded version's ``report/`` directory, by name."""
    report = Path(model.path) / REPORT_DIR
    if not report.is_dir():
        return []
    return sorted(p.name for p in report.iterdir() if plot_path(model, p.name) is not None)


@bp.get("/")
def index() -> str:
    """Every model with its versions, states, labels, card metrics and live traffic."""
    rows = [
        {"summary": summary, "card": _latest_card(summary.name)} for summary in dataplane().models()
    ]
    return render_template("console/index.html", rows=rows)


@bp.get("/console/models/<name>")
def model_page(name: str) -> str:
    """One model version (``?version=N``, default latest): card, plots, try-it panel."""
    plane = dataplane()
    model = plane.model(name, _version_number(name, request.args.get("version")))
    card = model.card
    return render_template(
        "console/model.html",
        model=model,
        card=card,
        task=card.task.model_dump(mode="json") if card is not None else None,
        summary=_summary(name),
        plots=report_files(model),
        has_report_page=report_page_path(model) is not None,
    )


@bp.get("/console/api/stats")
def traffic() -> Response:
    """Per-model request counts and latency sums, read from the service's own metrics."""
    return json_response(stats.snapshot())


@bp.get("/console/models/<name>/versions/<version>/report/<filename>")
def report_file(name: str, version: str, filename: str) -> Response:
    """A plot from a loaded version's ``report/`` directory, and nothing else."""
    model = dataplane().model(name, _version_number(name, version))
    if not _REPORT_FILE.fullmatch(filename):
        raise NotFound(f"'{filename}' is not a report plot name (expected NAME.png)")
    path = plot_path(model, filename)
    if path is None:
        raise NotFound(f"model '{name}' version {model.version} has no report plot '{filename}'")
    return send_file(path, mimetype="image/png", max_age=3600)


@bp.get("/console/models/<name>/versions/<version>/report.html")
def report_page(name: str, version: str) -> Response:
    """The self-contained training report page of a loaded version, and nothing else."""
    model = dataplane().model(name, _version_number(name, version))
    path = report_page_path(model)
    if path is None:
        raise NotFound(f"model '{name}' version {model.version} has no training report page")
    response = send_file(path, mimetype="text/html", max_age=3600)
    response.headers["Content-Security-Policy"] = REPORT_PAGE_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
