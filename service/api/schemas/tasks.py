"""Task verb bodies: ``:classify``, ``:forecast``, ``:detect`` (see service/tasks.py)."""

from __future__ import annotations

from pydantic import Field

from service.api.schemas.common import B64, Body, TensorValue


class TaskModelSpec(Body):
    name: str
    version: str


class ClassifyRequest(Body):
    instances: list[str | B64 | TensorValue] = Field(
        min_length=1,
        description="text models: strings; image models: 0-255 pixel arrays (HxW or HxWxC) "
        "or {'b64': PNG/JPEG}, resized server-side; tabular models: feature lists",
    )
    k: int | None = Field(None, ge=1, description="labels per instance; default min(5, labels)")


class ClassifyResponse(Body):
    model_spec: TaskModelSpec
    results: list[list[tuple[str, float]]] = Field(
        description="per instance, the top k [label, score] pairs, best first"
    )


class ForecastRequest(Body):
    instances: list[list[float]] = Field(
        min_length=1, description="histories, oldest first, each at least the card's window long"
    )
    steps: int | None = Field(None, ge=1, description="values to forecast, 1..horizon")


class Forecast(Body):
    forecast: list[float]
    steps: int


class ForecastResponse(Body):
    model_spec: TaskModelSpec
    results: list[Forecast]


class DetectRequest(Body):
    instances: list[list[float] | dict[str, float]] = Field(
        min_length=1, description="feature lists in the card's order, or objects by feature name"
    )
    threshold: float | None = Field(None, description="override the card's threshold")
    explain: bool | None = Field(None, description="add each feature's share of the score")


class Detection(Body):
    score: float
    threshold: float
    anomaly: bool = Field(description="score > threshold")
    contributions: dict[str, float] | None = Field(
        None, description="with explain: feature -> share of the score, largest first"
    )


class DetectResponse(Body):
    model_spec: TaskModelSpec
    results: list[Detection]
