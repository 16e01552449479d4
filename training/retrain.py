"""Batch retraining: train a challenger and publish it only if it is no worse.

The challenger and the current version are evaluated by the same pipeline code on the same
held-out split (the split seed is fixed in :mod:`training.data`), the current one through
its exported SavedModel exactly as the server runs it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from modelcard import ModelCard
from training import runner
from training.config import TrainConfig
from training.export import list_versions

log = logging.getLogger(__name__)


@dataclass
class Decision:
    name: str
    exported: bool
    reason: str
    challenger: float
    current: float | None
    current_version: int | None
    new_version: int | None = None

    def __str__(self) -> str:
        verdict = f"exported version {self.new_version}" if self.exported else "kept current"
        return f"{self.name}: {verdict} ({self.reason})"


def is_no_worse(
    challenger: float, current: float, higher_is_better: bool, tolerance: float
) -> bool:
    """True if the challenger is at least as good as current, allowing ``tolerance`` slack."""
    if higher_is_better:
        return challenger >= current - tolerance
    return challenger <= current + tolerance


def retrain(
    name: str,
    models_dir: Path,
    *,
    config: TrainConfig | None = None,
    tolerance: float = 0.0,
    keep: int | None = None,
    verbose: int = 1,
    report: bool = True,
    progress: bool = False,
) -> Decision:
    """Train a challenger for ``name``; export it if it is no worse than the newest version."""
    result = runner.fit(name, config, verbose=verbose, progress=progress)
    pipeline = result.pipeline
    versions = list_versions(Path(models_dir) / name)
    current_score: float | None = None
    current_version = versions[-1] if versions else None
    if current_version is None:
        reason = "no current version"
    else:
        current_dir = Path(models_dir) / name / str(current_version)
        card = ModelCard.read(current_dir)
        predict = runner.saved_model_predict_fn(current_dir, card.signature_name)
        # The challenger's state (its data preparation) judges both on the same windows/rows.
        current_metrics = pipeline.evaluate(
            predict, result.data, card.task.model_dump(), result.state
        )
        current_score = float(current_metrics["model"][pipeline.primary_metric])
        better = is_no_worse(result.primary, current_score, pipeline.higher_is_better, tolerance)
        reason = (
            f"{pipeline.primary_metric}: challenger {result.primary:.4f} vs current "
            f"v{current_version} {current_score:.4f}, tolerance {tolerance}"
        )
        if not better:
            log.info("%s: challenger rejected: %s", name, reason)
            return Decision(name, False, reason, result.primary, current_score, current_version)
    runner.export(result, models_dir, keep=keep, report=report)
    return Decision(
        name, True, reason, result.primary, current_score, current_version, result.version
    )
