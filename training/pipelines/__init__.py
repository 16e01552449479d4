"""Registry of the default pipelines, by model name."""

from __future__ import annotations

import importlib

from training.pipelines.base import Pipeline

# model name -> "module:Class"; modules import TensorFlow lazily, only when used.
PIPELINES = {
    "digits": "training.pipelines.digits:DigitsCNN",
    "sentiment": "training.pipelines.sentiment:SentimentTransformer",
    "sunspots": "training.pipelines.sunspots:SunspotsRNN",
    "tumor-anomaly": "training.pipelines.tumor_anomaly:TumorAutoencoder",
}


def get_pipeline(name: str) -> Pipeline:
    try:
        module, cls = PIPELINES[name].split(":")
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(PIPELINES)}") from None
    return getattr(importlib.import_module(module), cls)()
