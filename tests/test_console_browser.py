"""The console and the docs in a real browser against a real 2-worker gunicorn server.

Each try-it panel is used as a person would (the digit is drawn with mouse events), and
what the page shows must equal what the API answers for the very request the page sent.
Any console error, uncaught exception, failed request or HTTP error fails the test.
"""

from __future__ import annotations

import numpy as np
import pytest
import requests
from playwright.sync_api import sync_playwright

from tests.browser import CHROMIUM_ARGS, WatchedPage, chromium_path
from tests.conftest import LiveServer
from tests.console_app import PLOT, console_repository


@pytest.fixture(scope="module")
def server(tiny_models, tmp_path_factory):
    repo = console_repository(tiny_models, tmp_path_factory.mktemp("browser-repo"))
    live = LiveServer(repo, workers=2, tmp=tmp_path_factory.mktemp("browser-logs"))
    try:
        live.wait_ready()
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watched = WatchedPage(context.new_page(), server.url)
    yield watched
    context.close()
    assert watched.problems == []


def _shown_pairs(page) -> list[tuple[str, str]]:
    rows = page.page.locator("#result .bars li")
    return [
        (rows.nth(i).locator(".name").inner_text(), rows.nth(i).locator(".value").inner_text())
        for i in range(rows.count())
    ]


def _run_panel(page, button: str, verb: str) -> tuple[dict, dict]:
    """Click the panel's button; the request the page sent and the API's answer to it."""
    with page.page.expect_request(lambda r: r.url.endswith(f":{verb}")) as sent:
        page.page.click(button)
    page.page.wait_for_selector("#result > *")
    request = sent.value
    body = request.post_data_json
    answer = requests.post(request.url, json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    return body, answer.json()


def _sentiment_requests(server) -> int:
    stats = requests.get(server.url + "/console/api/stats", timeout=10).json()["models"]
    return int(stats.get("sentiment", {}).get("requests", 0))


def test_index_shows_models_and_live_traffic(page, server):
    before = _sentiment_requests(server)
    page.goto("/")
    for _ in range(20):  # traffic while the page polls: the next poll shows a rate
        requests.post(
            server.url + "/v1/models/sentiment:classify", json={"instances": ["ok"]}, timeout=10
        )
    # every worker's requests, aggregated (2 gunicorn workers share the load)
    assert _sentiment_requests(server) - before == 20
    # the poll that sees the traffic shows a rate and that interval's mean latency
    latency = page.page.wait_for_function(
        """() => {
          const card = document.querySelector('[data-model=sentiment]');
          return Number(card.querySelector('.rate').textContent) > 0
            && card.querySelector('[data-field=latency]').textContent;
        }""",
        timeout=15_000,
    ).json_value()
    assert float(latency) > 0
    page.page.wait_for_function(
        "n => document.querySelector('[data-model=sentiment] [data-field=requests]')"
        ".textContent === n",
        arg=str(before + 20),
        timeout=15_000,
    )
    models = requests.get(server.url + "/v1/models", timeout=10).json()["models"]
    shown = page.page.locator("[data-model]").evaluate_all("els => els.map(e => e.dataset.model)")
    assert set(shown) == {m["name"] for m in models}
    page.screenshot("console")


def test_draw_a_digit_and_classify_it(page):
    page.goto("/console/models/digits?version=1")
    box = page.page.locator("#pad").bounding_box()
    x = box["x"] + box["width"] / 2
    page.page.mouse.move(x, box["y"] + box["height"] * 0.2)
    page.page.mouse.down()
    page.page.mouse.move(x, box["y"] + box["height"] * 0.8, steps=20)
    page.page.mouse.up()
    body, answer = _run_panel(page, "#classify-image", "classify")
    pixels = np.array(body["instances"][0])
    assert pixels.shape == (28, 28)  # the card's 28x28x1 image, as grey rows
    assert pixels[7:21, 13:15].min() > 100  # the stroke, where it was drawn
    assert pixels[:, :8].max() == 0 and pixels[:3].max() == 0  # the background
    best = answer["results"][0]
    assert page.page.inner_text("#top-label") == best[0][0]
    assert _shown_pairs(page) == [(label, f"{score:.3f}") for label, score in best]
    page.screenshot("console-digits")


def test_text_sentiment(page):
    page.goto("/console/models/sentiment")
    page.page.fill("#text-input", "@united lost my bag again, worst airline")
    body, answer = _run_panel(page, "#classify-text", "classify")
    assert body["instances"] == ["@united lost my bag again, worst airline"]
    best = answer["results"][0]
    assert len(best) == 3  # every label of the card
    assert page.page.inner_text("#top-label") == best[0][0]
    assert _shown_pairs(page) == [(label, f"{score:.3f}") for label, score in best]


def test_forecast_is_plotted(page):
    from statsmodels.api import datasets

    series = datasets.sunspots.load_pandas().data["SUNACTIVITY"].tolist()[-40:]
    page.goto("/console/models/sunspots")
    page.page.fill("#series-input", ", ".join(f"{v:g}" for v in series))
    page.page.fill("#steps-input", "5")
    body, answer = _run_panel(page, "#run-forecast", "forecast")
    assert body == {"instances": [series], "steps": 5}
    forecast = answer["results"][0]["forecast"]
    shown = page.page.locator("#forecast-values li").all_inner_texts()  # one item per step
    assert shown == [f"{v:.3f}" for v in forecast]
    lines = page.page.locator("#plot svg polyline")
    assert lines.count() == 2
    points = lines.nth(1).get_attribute("points").split()
    assert len(points) == 1 + 5  # the last observed value, then the forecast
    page.screenshot("console-forecast")


def test_anomaly_score_and_contributions(page):
    from sklearn.datasets import load_breast_cancer

    case = load_breast_cancer().data[0].tolist()  # a malignant case
    page.goto("/console/models/tumor-anomaly")
    page.page.fill("#case-input", ", ".join(repr(v) for v in case))
    body, answer = _run_panel(page, "#run-detect", "detect")
    assert body["instances"] == [case] and body["explain"] is True
    result = answer["results"][0]
    assert page.page.inner_text("#score") == f"{result['score']:.3f}"
    assert page.page.inner_text("#threshold") == f"{result['threshold']:.3f}"
    assert page.page.inner_text("#verdict") == ("anomaly" if result["anomaly"] else "normal")
    top = list(result["contributions"].items())[:10]
    assert _shown_pairs(page) == [(name, f"{share:.3f}") for name, share in top]
    assert page.page.locator("#case-history option").count() == 2  # "—" and this case
    page.screenshot("console-anomaly")


def test_model_page_shows_card_and_report_plot(page, server):
    page.goto("/console/models/digits?version=1")
    card = requests.get(server.url + "/v1/models/digits/versions/1/metadata", timeout=10).json()
    assert card["card"]["description"] in page.page.inner_text("#card")
    plot = page.page.locator(f'#report img[alt="{PLOT}"]')
    assert plot.evaluate("img => img.complete && img.naturalWidth") == 120
    page.screenshot("console-model")


def test_training_report_page_opens_from_the_console_and_fetches_nothing(page, server):
    page.goto("/console/models/digits?version=1")
    requested: list[str] = []
    page.page.on("request", lambda r: requested.append(r.url))
    with page.page.expect_navigation(wait_until="networkidle"):
        page.page.click("#report-page")
    report = server.url + "/console/models/digits/versions/1/report.html"
    assert page.page.url == report
    # the page itself, and nothing else: its plots are data: URIs, it has no icon to fetch
    assert [url for url in requested if not url.startswith("data:")] == [report]
    assert page.page.inner_text("#floor").startswith("Quality floor: ")
    drawn = page.page.locator("img").evaluate_all(
        "imgs => imgs.map(i => i.complete && i.naturalWidth)"
    )
    assert drawn == [120]  # the version's one plot, decoded from its data: URI
    page.screenshot("console-report-page")


def test_docs_page_renders_every_operation(page, server):
    page.goto("/docs")
    page.page.wait_for_selector(".opblock", timeout=20_000)
    document = requests.get(server.url + "/openapi.json", timeout=10).json()
    operations = sum(len(item) for item in document["paths"].values())
    assert page.page.locator(".opblock").count() == operations
    assert page.page.locator(".opblock-summary-path[data-path='/v1/models/{name}:predict']").count()
    page.screenshot("docs")
    # Try it out: the documented example, sent by Swagger UI to this server, is answered
    classify = page.page.locator("#operations-Task_verbs-classify")
    classify.locator(".opblock-summary").click()
    classify.locator(".try-out__btn").click()
    classify.locator("input[placeholder='name']").fill("sentiment")
    classify.locator(".execute").click()
    status = classify.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for(timeout=15_000)
    assert status.inner_text().strip() == "200"
    assert '"results"' in classify.locator(".live-responses-table .microlight").first.inner_text()


def test_console_fits_a_phone(browser, server):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    phone = WatchedPage(context.new_page(), server.url)
    try:
        for path, name in (
            ("/", "phone-console"),
            ("/console/models/tumor-anomaly", "phone-model"),
        ):
            phone.goto(path)
            overflow = phone.page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
            phone.screenshot(name)
    finally:
        context.close()
    assert phone.problems == []
