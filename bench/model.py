"""Which model repository the benchmark serves, and where its model comes from.

- ``--model-dir DIR``: any TF Serving-style repository (``<DIR>/<name>/<version>/``), as is.
- ``--quick``: a tiny digits model exported by the real pipeline into a temporary repository
  (one epoch on 300 images: the weights do not matter for speed, the graph does).
- full mode: the project's ``models/`` if it holds digits; otherwise the default digits
  model is trained once into ``.cache/bench-models/<training code hash>/`` and reused, so
  repeated benchmark runs do not retrain (and ``models/`` is never written).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from modelcard import version_dirs

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "digits"
# The configuration tests/conftest.py uses for a tiny digits model.
TINY_DIGITS = {"epochs": 1, "limit": 300, "patience": 0}


@dataclass(frozen=True)
class BenchModel:
    """The repository to serve and the one model in it the load is aimed at."""

    repo: Path
    name: str
    version_dir: Path
    source: str  # how it was obtained, for the results file


def latest_version_dir(model_dir: Path) -> Path | None:
    """The highest complete numeric version of a model directory, or None."""
    versions = version_dirs(model_dir, complete=True)
    return versions[max(versions)] if versions else None


def from_repository(repo: Path, name: str | None, source: str) -> BenchModel:
    """Pick ``name`` (default: digits, else the repository's only model) in ``repo``."""
    repo = repo.resolve()
    found = sorted(p.name for p in repo.iterdir() if latest_version_dir(p)) if repo.is_dir() else []
    if name is None:
        if DEFAULT_MODEL in found:
            name = DEFAULT_MODEL
        elif len(found) == 1:
            name = found[0]
        else:
            raise SystemExit(f"{repo}: choose a model with --model (found: {found or 'none'})")
    version_dir = latest_version_dir(repo / name)
    if version_dir is None:
        raise SystemExit(f"{repo}: no servable version of model '{name}' (found: {found})")
    return BenchModel(repo, name, version_dir, source)


def _export_digits(models_dir: Path, overrides: dict) -> None:
    from training import runner
    from training.pipelines import get_pipeline

    config = get_pipeline(DEFAULT_MODEL).default_config.with_overrides(**overrides)
    result = runner.fit(DEFAULT_MODEL, config, verbose=0)
    runner.export(result, models_dir, report=False)


def cache_repository() -> Path:
    """Where the benchmark trains the default models it needs, keyed by the training code."""
    from training.runner import code_hash

    return ROOT / ".cache" / "bench-models" / code_hash()


def prepare_model(
    quick: bool, model_dir: Path | None, name: str | None, workdir: Path
) -> BenchModel:
    """Resolve (exporting or training if needed) the model the benchmark serves."""
    if model_dir is not None:
        return from_repository(model_dir, name, f"--model-dir {model_dir}")
    if quick:
        repo = workdir / "models"
        log.info("exporting a tiny digits model (quick mode) into %s", repo)
        _export_digits(repo, TINY_DIGITS)
        return from_repository(
            repo, DEFAULT_MODEL, "tiny digits export (quick mode: epochs=1, limit=300)"
        )
    project = ROOT / "models"
    if latest_version_dir(project / DEFAULT_MODEL):
        return from_repository(project, DEFAULT_MODEL, "project models/")
    cache = cache_repository()
    if not latest_version_dir(cache / DEFAULT_MODEL):
        log.info("models/ has no digits: training the default digits model into %s", cache)
        _export_digits(cache, {})
    return from_repository(
        cache, DEFAULT_MODEL, "default digits trained by the benchmark (.cache/bench-models)"
    )
