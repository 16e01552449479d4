"""Task verb bodies: ``:classify``, ``:forecast``, ``:detect`` (see service/tasks.py)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from service.api.schemas.common import B64, Body, TensorValue


class TaskModelSpec(Body):
    name: str
    version: str


# Examples for the default models, as in the README (Swagger UI's "Try it out" sends them).
SUNSPOTS_HISTORY = [5, 11, 16, 23, 36, 58, 29, 20, 10, 8, 3, 0, 0, 2, 11, 27, 47, 63, 60, 39]
SUNSPOTS_HISTORY += [28, 26, 22, 11, 21, 40, 78, 122, 103, 73, 47, 35, 11]
TUMOR_CASE = [17.99, 10.38, 122.8, 1001, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871]
TUMOR_CASE += [1.095, 0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003]
TUMOR_CASE += [0.006193, 25.38, 17.33, 184.6, 2019, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601]
TUMOR_CASE += [0.1189]


class ClassifyRequest(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"instances": ["@united worst delay ever"], "k": 2}]},
    )

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
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"instances": [SUNSPOTS_HISTORY], "steps": 5}]},
    )

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
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"instances": [TUMOR_CASE], "explain": True}]},
    )

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
