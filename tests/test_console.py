"""The web console in process: pages, panels chosen by the card, report files, traffic."""

from __future__ import annotations

import re

import numpy as np
import pytest

from modelcard import REPORT_PAGE
from service.console.stats import model_traffic
from service.console.views import REPORT_PAGE_CSP
from service.settings import Settings
from tests.conftest import serving_app
from tests.console_app import ESCAPE, PLAIN, PLOT, RENAMED, console_repository

PANELS = {
    "image": 'id="pad"',
    "text": 'id="text-input"',
    "forecast": 'id="series-input"',
    "anomaly": 'id="case-input"',
}


@pytest.fixture(scope="module")
def console_client(model_repo, tmp_path_factory):
    repo = console_repository(model_repo, tmp_path_factory.mktemp("console-repo"))
    with serving_app(Settings(model_repository=repo, poll_interval_s=0, grpc_port=0)) as app:
        yield app.test_client()


def test_index_lists_models_with_versions_states_labels_and_metrics(console_client):
    page = console_client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert '<meta name="viewport"' in html
    for model in console_client.get("/v1/models").get_json()["models"]:
        assert f'data-model="{model["name"]}"' in html
        for status in model["model_version_status"]:
            assert re.search(rf"{status['state']}</span> version {status['version']}\b", html)
    for label in ("stable", "canary"):
        assert f'<span class="label">{label}</span>' in html
    assert "failed to load broken version 1" in html  # a failed load shows its error
    card = console_client.get("/v1/models/digits/metadata").get_json()["card"]["metrics"]
    value = card["model"][card["primary"]]
    assert f"<b>{card['primary']}</b> {value:.3f}" in html


@pytest.mark.parametrize(
    ("model", "panel"),
    [
        ("digits", "image"),
        ("sentiment", "text"),
        ("sunspots", "forecast"),
        (RENAMED, "forecast"),
        ("tumor-anomaly", "anomaly"),
    ],
)
def test_model_page_panel_comes_from_the_card_task(console_client, model, panel):
    html = console_client.get(f"/console/models/{model}").get_data(as_text=True)
    assert PANELS[panel] in html
    assert [p for p, marker in PANELS.items() if marker in html] == [panel]
    assert f'"base": "/v1/models/{model}/versions/' in html  # the API the panel calls


def test_a_model_without_a_card_gets_no_panel(console_client):
    index = console_client.get("/").get_data(as_text=True)
    assert re.search(rf'data-model="{PLAIN}">.*?no model card', index, re.S)
    html = console_client.get(f"/console/models/{PLAIN}").get_data(as_text=True)
    assert "has no model card" in html and 'id="card"' not in html
    assert [p for p, marker in PANELS.items() if marker in html] == []


def test_model_page_shows_card_data_source_licence_and_plots(console_client):
    card = console_client.get("/v1/models/digits/versions/1/metadata").get_json()["card"]
    html = console_client.get("/console/models/digits?version=1").get_data(as_text=True)
    assert card["description"] in html
    for label in card["task"]["labels"]:
        assert label in html
    assert "licence" in html and "CC BY-SA" in html
    metrics = card["metrics"]
    for name, value in [("model", metrics["model"]), *metrics["baselines"].items()]:
        assert f"<td>{value[metrics['primary']]:.4g}</td>" in html, name  # metric vs baseline
    assert f'src="/console/models/digits/versions/1/report/{PLOT}"' in html
    assert ESCAPE not in html  # a symlink out of report/ is no plot
    assert "no report plots" in console_client.get("/console/models/digits?version=2").text


def test_report_plot_is_served_from_the_version_directory(console_client, model_repo):
    response = console_client.get(f"/console/models/digits/versions/1/report/{PLOT}")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.data.startswith(b"\x89PNG")


def test_model_page_links_the_training_report_page(console_client):
    html = console_client.get("/console/models/digits?version=1").get_data(as_text=True)
    assert 'id="report-page" href="/console/models/digits/versions/1/report.html"' in html
    # version 2's report/index.html is a symlink leaving the directory: no link
    assert 'id="report-page"' not in console_client.get("/console/models/digits?version=2").text


def test_training_report_page_is_served_from_the_version_directory(console_client):
    response = console_client.get("/console/models/digits/versions/1/report.html")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == REPORT_PAGE_CSP
    assert "sandbox" in REPORT_PAGE_CSP and "script-src" not in REPORT_PAGE_CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    path = console_client.application.extensions["dataplane"].model("digits", 1).path
    assert response.data == (path / "report" / REPORT_PAGE).read_bytes()
    assert b"Quality floor: " in response.data and b"data:image/png;base64," in response.data


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/console/models/nope/versions/1/report.html", 404, "model 'nope' not found"),
        ("/console/models/digits/versions/x/report.html", 404, "not a version number"),
        ("/console/models/digits/versions/7/report.html", 404, "version 7"),
        ("/console/models/digits/versions/2/report.html", 404, "has no training report page"),
        ("/console/models/digits/versions/1/report/index.html", 404, "not a report plot name"),
        ("/console/models/digits/versions/1/report.html/..%2F..%2Fmodel.json", 404, ""),
        (f"/console/models/nope/versions/1/report/{PLOT}", 404, "model 'nope' not found"),
        (f"/console/models/digits/versions/x/report/{PLOT}", 404, "not a version number"),
        (f"/console/models/digits/versions/7/report/{PLOT}", 404, "version 7"),
        ("/console/models/digits/versions/1/report/notes.txt", 404, "not a report plot name"),
        (f"/console/models/digits/versions/1/report/{ESCAPE}", 404, "has no report plot"),
        ("/console/models/digits/versions/1/report/..%2Fsaved_model.pb", 404, ""),
        ("/console/models/digits/versions/1/report/.hidden.png", 404, "not a report plot name"),
        ("/console/models/digits/versions/2/report/missing.png", 404, "has no report plot"),
        ("/console/models/nope", 404, "model 'nope' not found"),
        ("/console/models/digits?version=abc", 404, "not a version number"),
        ("/console/models/broken", 503, "no available version"),
        ("/console/static/../views.py", 404, ""),
    ],
)
def test_bad_console_requests_are_json_errors(console_client, url, status, message):
    response = console_client.get(url)
    assert response.status_code == status and response.mimetype == "application/json"
    assert message in response.get_json()["error"]


def test_stats_count_exactly_the_requests_made(console_client):
    def traffic() -> dict:
        body = console_client.get("/console/api/stats").get_json()
        return body["models"].get("sunspots", {"requests": 0, "errors": 0, "latency_count": 0})

    before = traffic()
    for steps in (1, 2, 99):  # two answered, one refused (steps beyond the horizon)
        console_client.post(
            "/v1/models/sunspots:forecast",
            json={"instances": [np.arange(40.0).tolist()], "steps": steps},
        )
    console_client.get("/console/models/sunspots")  # viewing the console is not traffic
    after = traffic()
    assert after["requests"] - before["requests"] == 3
    assert after["errors"] - before["errors"] == 1
    assert after["latency_count"] - before["latency_count"] == 3


def test_model_traffic_sums_versions_and_apis_and_skips_modelless_requests():
    text = """# TYPE serving_requests_total counter
serving_requests_total{model="a",version="1",api="rest_v1",endpoint="predict",status="200"} 4
serving_requests_total{model="a",version="2",api="grpc",endpoint="Predict",status="OK"} 3
serving_requests_total{model="a",version="2",api="grpc",endpoint="Predict",status="NOT_FOUND"} 1
serving_requests_total{model="a",version="",api="task",endpoint="classify",status="400"} 2
serving_requests_total{model="",version="",api="ops",endpoint="healthz",status="200"} 9
# TYPE serving_request_duration_seconds histogram
serving_request_duration_seconds_bucket{model="a",api="rest_v1",endpoint="predict",le="+Inf"} 4
serving_request_duration_seconds_sum{model="a",api="rest_v1",endpoint="predict"} 0.5
serving_request_duration_seconds_count{model="a",api="rest_v1",endpoint="predict"} 4
serving_request_duration_seconds_sum{model="a",api="grpc",endpoint="Predict"} 0.25
serving_request_duration_seconds_count{model="a",api="grpc",endpoint="Predict"} 6
"""
    assert model_traffic(text) == {
        "a": {"requests": 10.0, "errors": 3.0, "latency_sum_s": 0.75, "latency_count": 10.0}
    }


def test_console_assets_are_served_locally(console_client):
    html = console_client.get("/console/models/digits").get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="(/console/static/[^"]+)"', html)
    assert len(assets) == 3  # stylesheet, plot.js, tryit.js
    for asset in assets:
        assert console_client.get(asset).status_code == 200
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html), "no third-party hosts"
