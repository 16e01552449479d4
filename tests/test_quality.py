"""Quality floors of the four default models, trained with their default settings.

Training all four takes minutes, so results are cached in ``.cache/quality/`` under a key
made of the training code, the default config and the data: any change to one of them
retrains; repeated local runs with nothing changed reuse the measured metrics.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.conftest import ROOT
from training import runner
from training.pipelines import PIPELINES, get_pipeline

CACHE = ROOT / ".cache" / "quality"


def _cache_key(name: str) -> str:
    pipeline = get_pipeline(name)
    blob = json.dumps(
        {
            "code": runner.code_hash(),
            "config": pipeline.default_config.to_dict(),
            "data": pipeline.load_data().data_hash(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def default_metrics(name: str) -> dict:
    path = CACHE / f"{name}-{_cache_key(name)}.json"
    if path.exists():
        return json.loads(path.read_text())
    result = runner.fit(name, verbose=2)
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.metrics, indent=2))
    return result.metrics


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_default_model_meets_its_quality_floor(name):
    metrics = default_metrics(name)
    pipeline = get_pipeline(name)
    assert pipeline.quality_floor_failures(metrics) == []
    assert metrics["baselines"], "the floor is judged against baselines on the same split"
