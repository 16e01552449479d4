"""Malignant-tumour novelty detection with a dense autoencoder trained on benign cases only.

The 30 cell-nucleus measurements of the Wisconsin diagnostic data set are standardised
(constants fitted on the benign training split) and squeezed through a narrow bottleneck,
after keras-io's autoencoder examples. Having only ever seen benign tumours, the network
reconstructs them well and anything unlike them badly; the anomaly score is the mean
squared reconstruction error in standardised units. The saturating ``tanh`` hidden layers
matter here: they cannot follow measurements far outside the benign range (malignant
nuclei are larger and more irregular), so such rows get large errors instead of being
extrapolated along the benign manifold as a linear model would.

The serving graph takes raw feature values and returns the score, each feature's share of
it (which measurements look abnormal) and the reconstruction in raw units. The alert
threshold is a percentile of the scores of the benign *training* cases, so choosing it
needs no malignant examples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training import data as datasets
from training.config import TrainConfig
from training.data import Splits
from training.pipelines.base import Pipeline, PredictFn, Prepared

INPUT = "features"
SCORE, CONTRIBUTIONS, RECONSTRUCTION = "score", "contributions", "reconstruction"
N_FEATURES = 30


@dataclass(frozen=True)
class TumorState:
    """Standardisation fitted on the benign training cases, and the run's threshold and
    baseline settings."""

    mean: np.ndarray  # per feature, float32
    std: np.ndarray
    percentile: float  # of benign training scores: the alert threshold
    pca_variance: float  # variance the PCA baseline keeps

    def standardize(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype("float32")


class TumorAutoencoder(Pipeline[TumorState]):
    name = "tumor-anomaly"
    architecture = "autoencoder"
    description = (
        "Breast-tumour anomaly detector (30 raw nucleus measurements in, anomaly "
        "score out; trained on benign cases only) - a dense autoencoder."
    )
    allowed_losses = ("mse", "mae", "huber")
    primary_metric = "roc_auc"
    higher_is_better = True
    default_config = TrainConfig(
        activation="tanh",
        loss="mse",
        optimizer="adam",
        learning_rate=3e-3,
        dropout=0.0,
        epochs=300,
        batch_size=16,
        patience=30,
        params={
            # encoder widths (the decoder mirrors them): 214 training rows, keep it small
            "hidden_units": [16],
            # code size: benign cases vary along a few directions (size, shape, texture)
            "bottleneck": 4,
            # percentile of benign training scores above which a case is flagged
            "threshold_percentile": 95.0,
            # variance the PCA baseline keeps (n_components chosen on the training split)
            "pca_variance": 0.95,
        },
    )

    def load_data(self) -> Splits:
        return datasets.load_breast_cancer_novelty()

    def prepare(self, data: Splits, config: TrainConfig) -> Prepared[TumorState]:
        # Standardisation constants from benign training cases only.
        state = TumorState(
            mean=data.x_train.mean(axis=0).astype("float32"),
            std=data.x_train.std(axis=0).astype("float32"),
            percentile=float(config.params["threshold_percentile"]),
            pca_variance=float(config.params["pca_variance"]),
        )
        x_train, x_val = state.standardize(data.x_train), state.standardize(data.x_val)
        # an autoencoder's target is its input
        return Prepared(x_train, x_train, x_val, x_val, state)

    def build(self, config: TrainConfig, state: TumorState) -> Any:
        import keras
        from keras import layers

        from training.layers import regularizer

        params, reg = config.params, regularizer(config.l1, config.l2)

        def hidden(x, units):
            x = layers.Dense(units, kernel_regularizer=reg)(x)
            if config.batch_norm:
                x = layers.BatchNormalization()(x)
            x = layers.Activation(config.activation)(x)
            return layers.Dropout(config.dropout)(x)

        inputs = keras.Input(shape=(N_FEATURES,), name="standardized_features")
        x = inputs
        for units in params["hidden_units"]:
            x = hidden(x, units)
        x = layers.Dense(params["bottleneck"], kernel_regularizer=reg, name="code")(x)
        for units in reversed(params["hidden_units"]):
            x = hidden(x, units)
        outputs = layers.Dense(N_FEATURES, kernel_regularizer=reg, name="reconstruction")(x)
        return keras.Model(inputs, outputs, name="tumor_autoencoder")

    def serving_model(self, model: Any, state: TumorState) -> Any:
        import keras
        from keras import layers

        from training.layers import ReconstructionScore, SquaredError

        features = keras.Input(shape=(N_FEATURES,), dtype="float32", name=INPUT)
        variance = np.square(state.std)
        z = layers.Normalization(mean=state.mean, variance=variance, name="standardize")(features)
        z_hat = model(z)
        score, shares = ReconstructionScore(name="score")(SquaredError()([z, z_hat]))
        raw = layers.Normalization(
            mean=state.mean, variance=variance, invert=True, name="unstandardize"
        )(z_hat)
        return keras.Model(
            features,
            {SCORE: score, CONTRIBUTIONS: shares, RECONSTRUCTION: raw},
            name="tumor_anomaly_serving",
        )

    def tensor_descriptions(self, state: TumorState) -> dict[str, str]:
        return {
            INPUT: "30 raw nucleus measurements, in the order of the card's feature_names",
            SCORE: "anomaly score: mean squared reconstruction error of the standardised "
            "features; above the threshold = anomaly",
            CONTRIBUTIONS: "each feature's share of the score (rows sum to 1)",
            RECONSTRUCTION: "the autoencoder's reconstruction, raw units",
        }

    def task_spec(self, predict: PredictFn, data: Splits, state: TumorState) -> dict[str, Any]:
        train_scores = predict(data.x_train)[SCORE]
        return {
            "kind": "anomaly_detection",
            "input": INPUT,
            "score_output": SCORE,
            "contributions_output": CONTRIBUTIONS,
            "threshold": float(np.percentile(train_scores, state.percentile)),
            "threshold_rule": f"{state.percentile:g}th percentile of the anomaly scores of "
            "the benign training cases (no malignant case used)",
            "feature_names": data.extra["feature_names"],
        }

    def evaluate(
        self, predict: PredictFn, data: Splits, task: dict[str, Any], state: TumorState
    ) -> dict[str, Any]:
        from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

        threshold = task["threshold"]
        scores = predict(data.x_test)[SCORE]
        flagged = (scores > threshold).astype(int)
        val_scores = predict(data.x_val)[SCORE]  # benign only: how often would they alert?
        return {
            "model": {
                "roc_auc": float(roc_auc_score(data.y_test, scores)),
                "precision": float(precision_score(data.y_test, flagged, zero_division=0)),
                "recall": float(recall_score(data.y_test, flagged)),
                "f1": float(f1_score(data.y_test, flagged)),
            },
            "validation": {
                "false_positive_rate": float((val_scores > threshold).mean()),
                "mean_score": float(val_scores.mean()),
            },
            "baselines": self._baselines(data, state),
        }

    @staticmethod
    def _baselines(data: Splits, state: TumorState) -> dict[str, dict[str, float]]:
        """PCA reconstruction error (same standardisation) and an isolation forest."""
        from sklearn.decomposition import PCA
        from sklearn.ensemble import IsolationForest
        from sklearn.metrics import roc_auc_score

        z_train, z_test = state.standardize(data.x_train), state.standardize(data.x_test)
        pca = PCA(n_components=state.pca_variance, svd_solver="full").fit(z_train)
        pca_error = np.square(z_test - pca.inverse_transform(pca.transform(z_test))).mean(1)
        forest = IsolationForest(n_estimators=200, random_state=0).fit(data.x_train)
        return {
            "pca_reconstruction": {
                "roc_auc": float(roc_auc_score(data.y_test, pca_error)),
                "n_components": float(pca.n_components_),
            },
            "isolation_forest": {
                "roc_auc": float(roc_auc_score(data.y_test, -forest.score_samples(data.x_test)))
            },
        }

    def quality_floor_failures(self, metrics: dict[str, Any]) -> list[str]:
        auc = metrics["model"]["roc_auc"]
        pca = metrics["baselines"]["pca_reconstruction"]["roc_auc"]
        failures = []
        if auc < 0.90:
            failures.append(f"roc_auc {auc:.4f} < 0.90")
        if auc < pca:
            failures.append(f"roc_auc {auc:.4f} < PCA reconstruction baseline {pca:.4f}")
        return failures

    def quality_floor_rule(self, metrics: dict[str, Any]) -> str:
        pca = metrics["baselines"]["pca_reconstruction"]["roc_auc"]
        return f"test roc_auc >= 0.90 and >= the PCA reconstruction baseline ({pca:.4f})"

    def write_report(
        self,
        predict: PredictFn,
        data: Splits,
        task: dict[str, Any],
        state: TumorState,
        out_dir: Path,
    ) -> list[str]:
        from training import report

        scores = predict(data.x_test)[SCORE]
        return [
            report.score_histogram(
                scores, data.y_test, task["threshold"], out_dir / "score_histogram.png"
            )
        ]
