"""What every architecture pipeline provides; the runner does the rest.

A pipeline knows its data, its network and its task. The shared runner
(:mod:`training.runner`) seeds, compiles, fits, evaluates, writes the report and exports,
so the four pipelines differ only where the models really differ.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from modelcard import TensorDescription
from training.config import TrainConfig
from training.data import Splits

# A model's serving function as the evaluators see it: raw inputs in, named outputs out.
# The same evaluators run on the in-memory Keras model and on a reloaded SavedModel.
PredictFn = Callable[[np.ndarray], dict[str, np.ndarray]]

KERAS_LOSSES = {
    "crossentropy": "sparse_categorical_crossentropy",
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "huber": "huber",
}


class Pipeline(ABC):
    """One architecture trained for one task on one data set."""

    name: str
    architecture: str
    description: str
    default_config: TrainConfig
    allowed_losses: tuple[str, ...]
    primary_metric: str
    higher_is_better: bool
    fit_metrics: tuple[str, ...] = ()

    @abstractmethod
    def load_data(self) -> Splits:
        """The full data set, split; the test split is never used for fitting or choices."""

    def limit(self, data: Splits, limit: int | None) -> Splits:
        """Keep at most ``limit`` training rows (tests train on a slice)."""
        if limit is None:
            return data
        data.x_train, data.y_train = data.x_train[:limit], data.y_train[:limit]
        return data

    @abstractmethod
    def prepare(self, data: Splits, config: TrainConfig) -> tuple[Any, Any, Any, Any]:
        """Fit preprocessing on the training split; return (x_train, y_train, x_val, y_val)."""

    @abstractmethod
    def build(self, config: TrainConfig) -> Any:
        """The trainable Keras model (uncompiled); called after :meth:`prepare`."""

    @abstractmethod
    def serving_model(self, model: Any) -> Any:
        """A Keras model from raw client inputs to a dict of named outputs."""

    @abstractmethod
    def task_spec(self, predict: PredictFn, data: Splits) -> dict[str, Any]:
        """The card's task section (labels, window, threshold...), from training data only."""

    @abstractmethod
    def evaluate(self, predict: PredictFn, data: Splits, task: dict[str, Any]) -> dict[str, Any]:
        """Held-out metrics: ``{"model": {...}, "baselines": {...}, "validation": {...}}``."""

    @abstractmethod
    def quality_floor_failures(self, metrics: dict[str, Any]) -> list[str]:
        """Why the metrics miss this model's quality floor (empty when they meet it)."""

    @abstractmethod
    def write_report(
        self, predict: PredictFn, data: Splits, task: dict[str, Any], out_dir: Any
    ) -> list[str]:
        """Task-specific plots (PNG) into ``out_dir``; returns the file names."""

    @abstractmethod
    def signature(self) -> tuple[list[TensorDescription], list[TensorDescription]]:
        """Input and output specs of the serving signature, for the card."""

    def loss(self, config: TrainConfig) -> str:
        if config.loss not in self.allowed_losses:
            raise ValueError(
                f"{self.name}: loss must be one of {self.allowed_losses}, got {config.loss!r}"
            )
        return KERAS_LOSSES[config.loss]

    def sample_inputs(self, data: Splits, n: int = 4) -> np.ndarray:
        """A few raw test inputs (used by export parity checks and warm-up examples)."""
        return data.x_test[:n]
