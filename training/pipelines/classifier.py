"""What every classifier pipeline shares: its task section, its held-out accuracy beside a
baseline, its confusion-matrix report and the shape of its quality floor.

A classifier pipeline supplies only what really differs: its data, its network and input
kind, its baseline (:meth:`ClassifierPipeline.baselines`) and its floor rule
(:meth:`ClassifierPipeline.accuracy_floor`).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from training.config import TrainConfig
from training.data import Splits
from training.pipelines.base import Pipeline, PredictFn, Prepared


@dataclass(frozen=True)
class ClassifierState:
    """What a classifier's later steps need from its data: the class labels, in the order
    of the network's output units."""

    labels: list[str]


ClassifierStateT = TypeVar("ClassifierStateT", bound=ClassifierState)


class ClassifierPipeline(Pipeline[ClassifierStateT]):
    """A softmax classifier judged by held-out accuracy; labels come from
    ``Splits.extra["labels"]``."""

    input_name: ClassVar[str]
    output_name: ClassVar[str] = "probabilities"
    input_kind: ClassVar[Literal["image", "text", "tabular"]]
    # How raw images map onto the input (the card's ImageSpec); None for other input kinds.
    image: ClassVar[dict[str, Any] | None] = None
    primary_metric = "accuracy"
    higher_is_better = True
    allowed_losses = ("crossentropy",)
    fit_metrics = ("accuracy",)

    @staticmethod
    def labels(data: Splits) -> list[str]:
        """The class labels the data set declares (index = class id)."""
        return list(data.extra["labels"])

    def prepare(self, data: Splits, config: TrainConfig) -> Prepared[ClassifierStateT]:
        """Raw arrays as they are; override when the network trains on a transformed input."""
        # Any: this default suits pipelines whose state is a plain ClassifierState; one with
        # a richer state (sentiment's vectoriser) overrides prepare.
        state: Any = ClassifierState(self.labels(data))
        return Prepared(data.x_train, data.y_train, data.x_val, data.y_val, state)

    @abstractmethod
    def baselines(self, data: Splits) -> dict[str, dict[str, float]]:
        """Held-out accuracy of simpler models on the same split, by baseline name."""

    @abstractmethod
    def accuracy_floor(self, metrics: dict[str, Any]) -> tuple[float, str]:
        """The accuracy the model must reach, and how to say it in a failure message."""

    def task_spec(
        self, predict: PredictFn, data: Splits, state: ClassifierStateT
    ) -> dict[str, Any]:
        task: dict[str, Any] = {
            "kind": "classification",
            "input": self.input_name,
            "output": self.output_name,
            "labels": state.labels,
            "input_kind": self.input_kind,
        }
        if self.image is not None:
            task["image"] = dict(self.image)
        return task

    def evaluate(
        self, predict: PredictFn, data: Splits, task: dict[str, Any], state: ClassifierStateT
    ) -> dict[str, Any]:
        return {
            "model": {"accuracy": self._accuracy(predict, data.x_test, data.y_test)},
            "validation": {"accuracy": self._accuracy(predict, data.x_val, data.y_val)},
            "baselines": self.baselines(data),
        }

    def _accuracy(self, predict: PredictFn, x: Any, y: Any) -> float:
        return float((predict(x)[self.output_name].argmax(-1) == y).mean())

    def quality_floor_failures(self, metrics: dict[str, Any]) -> list[str]:
        accuracy = metrics["model"]["accuracy"]
        floor, rule = self.accuracy_floor(metrics)
        return [] if accuracy >= floor else [f"accuracy {accuracy:.4f} < {rule}"]

    def quality_floor_rule(self, metrics: dict[str, Any]) -> str:
        return f"test accuracy >= {self.accuracy_floor(metrics)[1]}"

    def write_report(
        self,
        predict: PredictFn,
        data: Splits,
        task: dict[str, Any],
        state: ClassifierStateT,
        out_dir: Path,
    ) -> list[str]:
        from training import report

        pred = predict(data.x_test)[self.output_name].argmax(-1)
        return [
            report.confusion_matrix(
                data.y_test, pred, task["labels"], out_dir / "confusion_matrix.png"
            )
        ]
