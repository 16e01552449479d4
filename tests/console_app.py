"""A repository for the console and schema tests: the shared test models plus report plots
and a training report page made by the real report code, symlinks that try to leave the
version directory, a model named unlike any default
(its panel must come from its card) and one without a card. Built in the test's own
directory, never in the shared fixtures'."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from PIL import Image

from modelcard import REPORT_PAGE, ModelCard
from tests.conftest import DIGITS_LABELS

PLOT = "learning_curves.png"
ESCAPE = "escape.png"  # a symlink in report/ pointing outside the version directory
RENAMED = "river-levels"  # a copy of the sunspots model under another name
PLAIN = "plain"  # a SavedModel with no card: no task, so no try-it panel


def console_repository(model_repo: Path, dest: Path) -> Path:
    shutil.copytree(model_repo, dest, dirs_exist_ok=True)
    report = dest / "digits" / "1" / "report"
    report.mkdir()
    Image.new("RGB", (120, 80), (36, 88, 198)).save(report / PLOT)
    (dest / "secret.png").write_bytes(b"not for clients")
    (report / ESCAPE).symlink_to(dest / "secret.png")
    (report / "notes.txt").write_text("not a plot")
    _write_report_page(dest / "digits" / "1", PLOT)
    # version 2's page is a symlink out of its directory: no page, for the console
    planted = dest / "digits" / "2" / "report"
    planted.mkdir()
    (dest / "planted.html").write_text("<script>fetch('/v2/repository/index')</script>")
    (planted / REPORT_PAGE).symlink_to(dest / "planted.html")
    shutil.copytree(dest / "sunspots", dest / RENAMED)
    # a card whose primary metric it never measured: the pages must still render
    card_file = dest / RENAMED / "1" / "model.json"
    card = json.loads(card_file.read_text())
    card["metrics"]["primary"] = "mape"
    card_file.write_text(json.dumps(card))
    shutil.copytree(dest / "digits" / "2", dest / PLAIN / "1")
    (dest / PLAIN / "1" / "model.json").unlink()
    # a label on every task's model, so each task verb is exercised through /labels/ too
    config_file = dest / "repository.json"
    # a copy: the shared DIGITS_LABELS must not gain these labels for later tests
    config = json.loads(
        config_file.read_text() if config_file.exists() else json.dumps(DIGITS_LABELS)
    )
    for name in ("sentiment", "sunspots", "tumor-anomaly"):
        config["models"][name] = {"labels": {"stable": 1}}
    config_file.write_text(json.dumps(config))
    return dest


def _write_report_page(version_dir: Path, *plots: str) -> None:
    """The version's ``report/index.html``, as export writes it, from its card."""
    from training import html_report
    from training.pipelines import get_pipeline

    card = ModelCard.read(version_dir)
    metrics = card.metrics.model_dump()
    pipeline = get_pipeline(card.name)
    floor = html_report.FloorVerdict(
        pipeline.quality_floor_rule(metrics), pipeline.quality_floor_failures(metrics)
    )
    html_report.write(card, floor, version_dir / "report", plots)
