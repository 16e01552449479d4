"""The training report: one self-contained HTML page per exported version.

``report/index.html`` beside the card says, for a person rather than a program, what the
card says (training configuration, held-out metrics against the baselines, data source and
licence, input/output specs, framework versions, creation time), plus whether the model
met its quality floor and by which rule, and the report's PNG plots.

Self-contained on purpose: it is opened from a model directory copied anywhere, mailed or
attached to a review, so every plot is embedded as a ``data:`` URI, the style is inline and
there is no script and no link out. Its Content-Security-Policy forbids any fetch but
``data:`` images, so even a browser opening it makes no request. Everything is escaped by
Jinja2's autoescape: card text comes from data sets and configuration, not from us.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from modelcard import REPORT_PAGE, ModelCard

# What the page may load: its inline style and data: images, nothing from anywhere.
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_env = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,  # always, whatever the template's name
    undefined=StrictUndefined,  # a misspelt field fails the export, not a blank cell
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class FloorVerdict:
    """The quality floor a version was held to: the rule in words and why it missed it."""

    rule: str
    failures: list[str] = field(default_factory=list)

    @property
    def met(self) -> bool:
        return not self.failures


def data_uri(png: Path) -> str:
    """A PNG file as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(Path(png).read_bytes()).decode("ascii")


def render(card: ModelCard, floor: FloorVerdict, plots: Sequence[Path]) -> str:
    """The report page of ``card``'s version, the ``plots`` (PNG files) embedded in order."""
    figures = [{"name": Path(p).name, "src": data_uri(p)} for p in plots]
    return _env.get_template("report.html").render(
        card=card, floor=floor, figures=figures, csp=CONTENT_SECURITY_POLICY
    )


def write(card: ModelCard, floor: FloorVerdict, report_dir: Path, plots: Sequence[str]) -> Path:
    """Write ``report_dir/index.html`` embedding the named PNGs of ``report_dir``."""
    path = Path(report_dir) / REPORT_PAGE
    path.write_text(render(card, floor, [Path(report_dir) / name for name in plots]))
    return path
