"""The knobs every pipeline accepts, with one dataclass so the CLI, the card and the
retraining job all speak about the same fields."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

OPTIMIZERS = ("sgd", "adam", "rmsprop")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu")
LOSSES = ("crossentropy", "mse", "mae", "huber")


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run.

    Each pipeline supplies its own defaults (chosen so the default model meets its quality
    floor); the CLI overrides individual fields.
    """

    activation: str = "relu"
    loss: str = "crossentropy"
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    dropout: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    batch_norm: bool = False
    epochs: int = 10
    batch_size: int = 64
    seed: int = 42
    # Stop when validation loss has not improved for this many epochs (0 disables) and keep
    # the best weights: cheaper than guessing the epoch count and protects the small data sets.
    patience: int = 5
    # Train on at most this many training rows (None = all); tests use it to train on a slice.
    limit: int | None = None
    # Architecture-specific sizes (units, heads, window...), documented by each pipeline.
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("l1", "l2"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.epochs < 0 or self.batch_size < 1:
            raise ValueError("epochs must be >= 0 and batch_size >= 1")

    def with_overrides(self, **overrides: Any) -> TrainConfig:
        """A copy with the given fields replaced; ``None`` values are ignored and ``params``
        is merged rather than replaced."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        if "params" in changes:
            changes["params"] = {**self.params, **changes["params"]}
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
