"""What every architecture pipeline provides; the runner does the rest.

A pipeline knows its data, its network and its task. The shared runner
(:mod:`training.runner`) seeds, compiles, fits, evaluates, writes the report and exports,
so the four pipelines differ only where the models really differ.

State flows forward explicitly: :meth:`Pipeline.prepare` returns the training arrays and a
pipeline-defined ``state`` (what preprocessing learned from the training split: scaling
constants, an adapted vectoriser, the labels...), and every later step receives that state
as an argument. A pipeline object holds no per-run attributes, so one instance can train,
evaluate and export several runs without one run leaking into another.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

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

StateT = TypeVar("StateT")


@dataclass
class Prepared(Generic[StateT]):
    """What :meth:`Pipeline.prepare` hands the runner: the fit/validation arrays in the
    network's own representation, and the ``state`` the later steps (build, serving model,
    task spec, evaluation, report) need, as the pipeline defines it."""

    x_train: Any
    y_train: Any
    x_val: Any
    y_val: Any
    state: StateT


class Pipeline(ABC, Generic[StateT]):
    """One architecture trained for one task on one data set.

    The card's input/output specs (names, dtypes, shapes) are read from the exported
    SavedModel itself; a pipeline only says what each tensor means
    (:meth:`tensor_descriptions`).
    """

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
        """The full data set, split; the test split is never used for fitting or choices.
        What the card or later steps need beyond the arrays (labels, feature names, units)
        travels in ``Splits.extra``."""

    def limit(self, data: Splits, limit: int | None) -> Splits:
        """Keep at most ``limit`` training rows (tests train on a slice)."""
        if limit is None:
            return data
        data.x_train, data.y_train = data.x_train[:limit], data.y_train[:limit]
        return data

    @abstractmethod
    def prepare(self, data: Splits, config: TrainConfig) -> Prepared[StateT]:
        """Fit preprocessing on the training split only; return the arrays to fit on and
        the state every later step receives."""

    @abstractmethod
    def build(self, config: TrainConfig, state: StateT) -> Any:
        """The trainable Keras model (uncompiled)."""

    @abstractmethod
    def serving_model(self, model: Any, state: StateT) -> Any:
        """A Keras model from raw client inputs to a dict of named outputs: preprocessing
        a client should not repeat is part of it."""

    @abstractmethod
    def tensor_descriptions(self, state: StateT) -> dict[str, str]:
        """What each input and output of the serving signature means, by tensor name.

        Names, dtypes and shapes come from the exported graph; naming a tensor the graph
        does not have is an error at export time."""

    @abstractmethod
    def task_spec(self, predict: PredictFn, data: Splits, state: StateT) -> dict[str, Any]:
        """The card's task section (labels, window, threshold...), from training data only."""

    @abstractmethod
    def evaluate(
        self, predict: PredictFn, data: Splits, task: dict[str, Any], state: StateT
    ) -> dict[str, Any]:
        """Held-out metrics: ``{"model": {...}, "baselines": {...}, "validation": {...}}``."""

    @abstractmethod
    def quality_floor_failures(self, metrics: dict[str, Any]) -> list[str]:
        """Why the metrics miss this model's quality floor (empty when they meet it).
        Judged from the metrics alone: cached results carry no pipeline state."""

    @abstractmethod
    def quality_floor_rule(self, metrics: dict[str, Any]) -> str:
        """The floor in words, with the numbers it compares against (the training report
        states it whether it was met or missed)."""

    @abstractmethod
    def write_report(
        self,
        predict: PredictFn,
        data: Splits,
        task: dict[str, Any],
        state: StateT,
        out_dir: Path,
    ) -> list[str]:
        """Task-specific plots (PNG) into ``out_dir``; returns the file names."""

    def loss(self, config: TrainConfig) -> str:
        if config.loss not in self.allowed_losses:
            raise ValueError(
                f"{self.name}: loss must be one of {self.allowed_losses}, got {config.loss!r}"
            )
        return KERAS_LOSSES[config.loss]

    def sample_inputs(self, data: Splits, state: StateT, n: int = 4) -> np.ndarray:
        """A few raw test inputs (used by export parity checks and warm-up examples)."""
        return data.x_test[:n]
