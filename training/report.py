"""PNG plots written next to each model card (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt
import numpy as np


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def learning_curves(history: dict[str, list[float]], path: Path) -> str:
    """Every training/validation metric Keras recorded, one panel per metric."""
    names = sorted({k.removeprefix("val_") for k in history})
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for key, style in ((name, "-"), (f"val_{name}", "--")):
            if key in history:
                ax.plot(range(1, len(history[key]) + 1), history[key], style, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.legend()
    return _save(fig, path)


def confusion_matrix(
    y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str], path: Path
) -> str:
    n = len(labels)
    matrix = np.zeros((n, n), dtype=int)
    np.add.at(matrix, (y_true, y_pred), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * n, 1.0 + 0.5 * n))
    ax.imshow(matrix, cmap="Blues")
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                matrix[i, j],
                ha="center",
                va="center",
                fontsize=8,
                color="white" if matrix[i, j] > matrix.max() / 2 else "black",
            )
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix (held-out test)")
    return _save(fig, path)


def forecast_vs_actual(
    index: np.ndarray,
    actual: np.ndarray,
    one_step: np.ndarray,
    path_forecasts: list[tuple[np.ndarray, np.ndarray]],
    path: Path,
) -> str:
    fig, ax = plt.subplots(figsize=(9, 3.8))
    ax.plot(index, actual, "k-", label="actual")
    ax.plot(index, one_step, "C0.-", label="1-step forecast")
    for i, (x, y) in enumerate(path_forecasts):
        ax.plot(x, y, "C1--", alpha=0.8, label="multi-step forecast" if i == 0 else None)
    ax.set_title("Forecast vs actual (held-out tail)")
    ax.legend()
    return _save(fig, path)


def score_histogram(
    scores: np.ndarray, is_anomaly: np.ndarray, threshold: float, path: Path
) -> str:
    fig, ax = plt.subplots(figsize=(7, 3.8))
    bins = np.linspace(0, np.quantile(scores, 0.98), 40)
    ax.hist(np.clip(scores[is_anomaly == 0], 0, bins[-1]), bins=bins, alpha=0.6, label="normal")
    ax.hist(np.clip(scores[is_anomaly == 1], 0, bins[-1]), bins=bins, alpha=0.6, label="anomaly")
    ax.axvline(threshold, color="red", linestyle="--", label=f"threshold {threshold:.3g}")
    ax.set_xlabel("reconstruction error (anomaly score)")
    ax.set_title("Anomaly scores on the held-out test split")
    ax.legend()
    return _save(fig, path)
