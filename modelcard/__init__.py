"""The model card and repository layout: the contract between ``training/`` and ``service/``.

Every version directory ``models/<name>/<version>/`` holds a SavedModel plus ``model.json``
validated by :class:`ModelCard`. Both sides import this package and nothing of each other,
so the server installs and ships without the trainer. It needs only pydantic.
"""

from modelcard.card import (
    CARD_FILE,
    METRICS_FILE,
    REPORT_DIR,
    REPORT_PAGE,
    SCHEMA_VERSION,
    AnomalyTask,
    ClassificationTask,
    DataInfo,
    ForecastingTask,
    ImageSpec,
    Metrics,
    ModelCard,
    Task,
    TensorDescription,
    json_schema,
)
from modelcard.layout import is_complete_version, parse_version, version_dirs, version_number

__all__ = [
    "CARD_FILE",
    "METRICS_FILE",
    "REPORT_DIR",
    "REPORT_PAGE",
    "SCHEMA_VERSION",
    "AnomalyTask",
    "ClassificationTask",
    "DataInfo",
    "ForecastingTask",
    "ImageSpec",
    "Metrics",
    "ModelCard",
    "Task",
    "TensorDescription",
    "is_complete_version",
    "json_schema",
    "parse_version",
    "version_dirs",
    "version_number",
]
