"""The HTML training report: written by the real export beside the card, self-contained.

The tiny models (trained once per session with ``report=False``) are exported again with
the report, so every pipeline's plots and page are checked as ``export`` writes them.
"""

from __future__ import annotations

import base64
import dataclasses
import html
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markupsafe import escape

from modelcard import REPORT_DIR, REPORT_PAGE, ModelCard
from tests.conftest import TINY
from training import html_report, runner


class _Page(HTMLParser):
    """Every tag's attributes, the text, and whether any script or style sheet is linked."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.images: list[dict[str, str]] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        values = {k: v or "" for k, v in attrs}
        for key in ("src", "href", "srcset", "action", "data", "poster", "formaction"):
            if key in values:
                self.urls.append((tag, key, values[key]))
        if tag == "img":
            self.images.append(values)

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


@pytest.fixture(scope="module")
def reported(tiny_results, tmp_path_factory) -> dict:
    """Each tiny model exported once more, report included (a copy: the session's results
    keep pointing at their own version directories)."""
    root = tmp_path_factory.mktemp("reported")
    return {
        name: runner.export(dataclasses.replace(tiny_results[name]), root, report=True)
        for name in TINY
    }


def test_export_without_report_writes_no_report(tiny_results):
    assert not (tiny_results["digits"].version_dir / REPORT_DIR).exists()


@pytest.mark.parametrize("name", sorted(TINY))
def test_report_page_is_written_beside_the_card(reported, name):
    report = reported[name].version_dir / REPORT_DIR
    names = sorted(p.name for p in report.iterdir())
    assert REPORT_PAGE in names and "learning_curves.png" in names
    assert len([n for n in names if n.endswith(".png")]) >= 2  # curves and the task's plot


@pytest.mark.parametrize("name", sorted(TINY))
def test_report_embeds_every_plot_and_links_nowhere(reported, name):
    report = reported[name].version_dir / REPORT_DIR
    page = (report / REPORT_PAGE).read_text()
    parsed = _parse(page)
    for tag, attribute, value in parsed.urls:
        assert value.startswith(("data:", "#")), f"<{tag} {attribute}={value!r}> leaves the file"
    assert "script" not in parsed.tags and "url(" not in page and "@import" not in page
    assert f'content="{html_report.CONTENT_SECURITY_POLICY}"' in html.unescape(page)
    pngs = sorted(report.glob("*.png"))
    assert [i["alt"] for i in parsed.images] == ["learning_curves.png"] + [
        p.name for p in pngs if p.name != "learning_curves.png"
    ]
    for image in parsed.images:
        prefix = "data:image/png;base64,"
        assert image["src"].startswith(prefix)
        assert base64.b64decode(image["src"][len(prefix) :]) == (report / image["alt"]).read_bytes()


@pytest.mark.parametrize("name", sorted(TINY))
def test_report_states_the_card_and_the_floor_verdict(reported, name):
    result = reported[name]
    card = ModelCard.read(result.version_dir)
    page = (result.version_dir / REPORT_DIR / REPORT_PAGE).read_text()
    text = " ".join(" ".join(_parse(page).text).split())
    metrics = card.metrics
    for key, value in metrics.model.items():
        assert f"{key} {value:.4g}" in text  # the metric's row: name, then this model's value
    for base, values in metrics.baselines.items():
        assert base in text
        for value in values.values():
            assert f"{value:.4g}" in text
    verdict = "met" if not result.floor_failures else "MISSED"
    assert f"Quality floor: {verdict}" in text
    assert f"Rule: {result.pipeline.quality_floor_rule(result.metrics)}" in text
    for failure in result.floor_failures:
        assert str(escape(failure)) in page  # escaped: failures hold '<' and '>'
    for value in (card.data.source, card.data.licence, card.data.name, card.created_at.isoformat()):
        assert value in text
    for key, value in card.framework.items():
        assert f"{key} {value}" in text
    assert f"epochs_run {card.training['epochs_run']}" in text
    for tensor in [*card.inputs, *card.outputs]:
        assert f"{tensor.name} {tensor.dtype}" in text


def test_report_escapes_card_text(reported, tmp_path):
    card = ModelCard.read(reported["digits"].version_dir)
    hostile = '<script>alert("x")</script><img src="https://example.com/x.png">'
    card = card.model_copy(update={"description": hostile})
    floor = html_report.FloorVerdict("accuracy >= 0.97", ["accuracy 0.1 < 0.97 <b>"])
    page = html_report.render(card, floor, [])
    parsed = _parse(page)
    assert "script" not in parsed.tags and parsed.images == []
    assert hostile in " ".join(parsed.text) and "accuracy 0.1 < 0.97 <b>" in "".join(parsed.text)
    assert "No plots were written" in page


def test_data_uri_round_trips(tmp_path: Path):
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nrest")
    uri = html_report.data_uri(png)
    assert uri == "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
