"""data -> build -> fit -> evaluate -> report -> export, shared by every pipeline."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from modelcard import METRICS_FILE, REPORT_DIR, DataInfo, Metrics, ModelCard
from training.config import TrainConfig
from training.data import Splits
from training.export import export_version
from training.pipelines import get_pipeline
from training.pipelines.base import Pipeline, PredictFn
from training.signature import describe_signature

log = logging.getLogger(__name__)

PREDICT_BATCH = 512


@dataclass
class RunResult:
    """A trained (not necessarily exported) model with its evaluation.

    ``state`` is what the pipeline's ``prepare`` learned (scaling constants, vectoriser,
    labels...): evaluating another model on this run's data (the retrain gate) needs it.
    """

    pipeline: Pipeline
    config: TrainConfig
    data: Splits
    state: Any
    serving_model: Any
    task: dict[str, Any]
    metrics: dict[str, Any]
    history: dict[str, list[float]]
    train_seconds: float
    floor_failures: list[str] = field(default_factory=list)
    # replicas the model trained on (several with multi-worker training)
    replicas: int = 1
    version: int | None = None
    version_dir: Path | None = None

    @property
    def primary(self) -> float:
        return float(self.metrics["model"][self.pipeline.primary_metric])


def code_hash() -> str:
    """Hash of the training package's source: part of the quality-floor cache key."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(path.relative_to(Path(__file__).parent).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def keras_predict_fn(model: Any) -> PredictFn:
    """Batched calls of an in-memory serving model (never ``model.predict`` per row)."""
    import tensorflow as tf

    def predict(x: np.ndarray) -> dict[str, np.ndarray]:
        parts = [
            model(tf.constant(x[i : i + PREDICT_BATCH]), training=False)
            for i in range(0, len(x), PREDICT_BATCH)
        ]
        return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}

    return predict


def saved_model_predict_fn(version_dir: Path, signature: str = "serving_default") -> PredictFn:
    """Batched calls of an exported version's signature, as the server calls it."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(version_dir))
    fn = loaded.signatures[signature]
    (input_name,) = fn.structured_input_signature[1].keys()

    def predict(x: np.ndarray) -> dict[str, np.ndarray]:
        parts = [
            fn(**{input_name: tf.constant(x[i : i + PREDICT_BATCH])})
            for i in range(0, len(x), PREDICT_BATCH)
        ]
        return {k: np.concatenate([p[k].numpy() for p in parts]) for k in parts[0]}

    predict.loaded = loaded  # keep the trackable alive as long as the function
    return predict


def fit(
    name: str,
    config: TrainConfig | None = None,
    *,
    verbose: int = 1,
    tensorboard_dir: Path | None = None,
    strategy: Any = None,
    progress: bool = False,
) -> RunResult:
    """Train and evaluate one model in memory.

    ``verbose`` is Keras's (0 silent, 1 progress bars); ``progress`` prints one plain line
    per epoch instead (:mod:`training.progress`), for logs and ``make run``.

    With a ``tf.distribute`` ``strategy`` (see :mod:`training.distributed`) the network is
    built and compiled in its scope, so ``fit`` splits each batch across its replicas;
    ``batch_size`` stays the global batch size.
    """
    import keras
    import tensorflow as tf

    from training.layers import optimizer

    pipeline = get_pipeline(name)
    config = config or pipeline.default_config
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()

    data = pipeline.limit(pipeline.load_data(), config.limit)
    prepared = pipeline.prepare(data, config)
    state = prepared.state
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = pipeline.build(config, state)
        model.compile(
            optimizer=optimizer(config.optimizer, config.learning_rate),
            loss=pipeline.loss(config),
            metrics=list(pipeline.fit_metrics),
        )
    callbacks: list[Any] = []
    if config.patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                patience=config.patience, restore_best_weights=True, monitor="val_loss"
            )
        )
    if tensorboard_dir is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(tensorboard_dir)))
    if progress:
        from training.progress import EpochLines

        callbacks.append(EpochLines(pipeline.name, config.epochs))
    started = time.perf_counter()
    history = model.fit(
        prepared.x_train,
        prepared.y_train,
        validation_data=(prepared.x_val, prepared.y_val),
        epochs=config.epochs,
        batch_size=config.batch_size,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=True,
    )
    seconds = time.perf_counter() - started

    serving = pipeline.serving_model(model, state)
    predict = keras_predict_fn(serving)
    task = pipeline.task_spec(predict, data, state)
    metrics = pipeline.evaluate(predict, data, task, state)
    result = RunResult(
        pipeline,
        config,
        data,
        state,
        serving,
        task,
        metrics,
        {k: [float(v) for v in vs] for k, vs in history.history.items()},
        seconds,
    )
    result.floor_failures = pipeline.quality_floor_failures(metrics)
    if strategy is not None:
        result.replicas = int(strategy.num_replicas_in_sync)
    return result


def build_card(result: RunResult, version: int, saved_model_dir: Path) -> ModelCard:
    """The card of ``result`` as version ``version``; its input/output specs are read from
    the SavedModel already exported into ``saved_model_dir``."""
    import keras
    import tensorflow as tf

    pipeline, data = result.pipeline, result.data
    inputs, outputs = describe_signature(
        saved_model_dir, pipeline.tensor_descriptions(result.state)
    )
    return ModelCard(
        name=pipeline.name,
        version=version,
        description=pipeline.description,
        architecture=pipeline.architecture,
        task=result.task,
        inputs=inputs,
        outputs=outputs,
        metrics=Metrics(
            primary=pipeline.primary_metric,
            higher_is_better=pipeline.higher_is_better,
            **result.metrics,
        ),
        training={
            **result.config.to_dict(),
            "epochs_run": len(result.history.get("loss", [])),
            "train_seconds": round(result.train_seconds, 2),
            # only multi-worker cards say so: single-process cards stay as they were
            **({"replicas": result.replicas} if result.replicas > 1 else {}),
        },
        data=DataInfo(
            name=data.name,
            source=data.source,
            licence=data.licence,
            rows=data.rows(),
            data_hash=data.data_hash(),
            notes=data.notes,
        ),
        framework={
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
        created_at=datetime.now(UTC),
        code_hash=code_hash(),
    )


def export(
    result: RunResult, models_dir: Path, *, keep: int | None = None, report: bool = True
) -> RunResult:
    """Publish ``result`` as the next version of its model, with card, metrics and (unless
    ``report=False``, which tests use for speed) the report: plots and ``report/index.html``."""

    def write(tmp: Path, version: int) -> None:
        result.serving_model.export(str(tmp), verbose=False)
        card = build_card(result, version, tmp)
        card.write(tmp)
        (tmp / METRICS_FILE).write_text(
            json.dumps({"metrics": result.metrics, "history": result.history}, indent=2) + "\n"
        )
        if report:
            write_report(result, tmp / REPORT_DIR, card)

    version, path = export_version(Path(models_dir) / result.pipeline.name, write, keep=keep)
    result.version, result.version_dir = version, path
    return result


def write_report(result: RunResult, out_dir: Path, card: ModelCard) -> list[str]:
    """The plots (learning curves, then the task's own) and the HTML page embedding them
    with ``card``; returns the file names written into ``out_dir``."""
    from training import html_report, report

    out_dir.mkdir(parents=True, exist_ok=True)
    files = [report.learning_curves(result.history, out_dir / "learning_curves.png")]
    files += result.pipeline.write_report(
        keras_predict_fn(result.serving_model), result.data, result.task, result.state, out_dir
    )
    floor = html_report.FloorVerdict(
        result.pipeline.quality_floor_rule(result.metrics), list(result.floor_failures)
    )
    return [*files, html_report.write(card, floor, out_dir, files).name]


def summary(result: RunResult) -> str:
    """The human-readable end-of-run summary the CLI prints."""
    lines = [
        f"model       {result.pipeline.name} ({result.pipeline.architecture})",
        f"trained     {len(result.history.get('loss', []))} epochs in {result.train_seconds:.1f}s",
    ]
    for key, value in result.metrics["model"].items():
        lines.append(f"test        {key} = {value:.4f}")
    for base, values in result.metrics.get("baselines", {}).items():
        lines.append(f"baseline    {base}: " + ", ".join(f"{k}={v:.4f}" for k, v in values.items()))
    lines.append(
        "floor       "
        + ("met" if not result.floor_failures else "MISSED: " + "; ".join(result.floor_failures))
    )
    if result.version_dir is not None:
        lines.append(f"exported    version {result.version} -> {result.version_dir}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: python -m training")
