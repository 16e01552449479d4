"""The card's classes: what ``models/<name>/<version>/model.json`` holds, validated.

The server reads the card to learn the task (labels, forecast horizon, anomaly threshold)
so a new architecture trained for an existing task needs no service change. Only pydantic
is imported here, so the server can use it cheaply.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CARD_FILE = "model.json"
METRICS_FILE = "metrics.json"
REPORT_DIR = "report"
# The self-contained HTML training report inside REPORT_DIR (plots embedded, no links out).
REPORT_PAGE = "index.html"
SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TensorDescription(_Strict):
    """One named input or output of the serving signature as the card documents it: dtype
    and shape as the exported graph declares them (-1: a variable dimension), plus what the
    values mean."""

    name: str
    dtype: str = Field(description="TensorFlow dtype name, e.g. float32, string")
    shape: list[int]
    description: str = ""


class ImageSpec(_Strict):
    """How raw images map to the model input: the server decodes PNG/JPEG and resizes."""

    height: int
    width: int
    channels: int
    value_range: tuple[float, float] = (0.0, 255.0)
    invert: bool = Field(False, description="True if the model expects light strokes on dark")


class ClassificationTask(_Strict):
    kind: Literal["classification"] = "classification"
    input: str
    output: str = Field(description="output holding one probability per label")
    labels: list[str] = Field(min_length=2)
    input_kind: Literal["image", "text", "tabular"]
    image: ImageSpec | None = None


class ForecastingTask(_Strict):
    kind: Literal["forecasting"] = "forecasting"
    input: str = Field(description="input holding the last `window` observations, oldest first")
    output: str = Field(description="output holding the next `horizon` values")
    window: int = Field(gt=0)
    horizon: int = Field(gt=0)
    frequency: str = ""
    unit: str = ""


class AnomalyTask(_Strict):
    kind: Literal["anomaly_detection"] = "anomaly_detection"
    input: str
    score_output: str
    contributions_output: str = Field(description="per-feature share of the score")
    threshold: float
    threshold_rule: str = Field(description="how the threshold was chosen, on normal data only")
    feature_names: list[str]


Task = Annotated[ClassificationTask | ForecastingTask | AnomalyTask, Field(discriminator="kind")]


class Metrics(_Strict):
    """Held-out results; ``primary`` names the key of ``model`` the retrain gate compares."""

    split: str = "test"
    primary: str
    higher_is_better: bool
    model: dict[str, float]
    baselines: dict[str, dict[str, float]] = {}
    validation: dict[str, float] = {}


class DataInfo(_Strict):
    name: str
    source: str
    licence: str
    rows: dict[str, int]
    data_hash: str
    notes: str = ""


class ModelCard(_Strict):
    """Everything needed to serve, explain and reproduce one model version."""

    schema_version: int = SCHEMA_VERSION
    name: str
    version: int
    description: str
    architecture: str
    task: Task
    signature_name: str = "serving_default"
    inputs: list[TensorDescription]
    outputs: list[TensorDescription]
    metrics: Metrics
    training: dict[str, Any]
    data: DataInfo
    framework: dict[str, str]
    created_at: datetime
    code_hash: str

    def write(self, version_dir: Path) -> Path:
        path = Path(version_dir) / CARD_FILE
        path.write_text(self.model_dump_json(indent=2) + "\n")
        return path

    @classmethod
    def read(cls, version_dir: Path) -> ModelCard:
        return cls.model_validate(json.loads((Path(version_dir) / CARD_FILE).read_text()))


def json_schema() -> dict[str, Any]:
    """The card's JSON Schema, generated from these classes and published in
    ``docs/model-card.schema.json`` (``python -m modelcard > docs/model-card.schema.json``;
    a test keeps the file equal to this)."""
    return ModelCard.model_json_schema()
