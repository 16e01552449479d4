"""The training pipelines: export parity, knobs, cards, CLI and the retrain gate."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from modelcard import ModelCard
from tests.conftest import ROOT, TINY
from training import runner
from training.config import OPTIMIZERS
from training.export import list_versions
from training.pipelines import PIPELINES, get_pipeline


@pytest.mark.parametrize("name", sorted(TINY))
def test_exported_savedmodel_matches_in_memory_model(tiny_results, name):
    result = tiny_results[name]
    raw = result.pipeline.sample_inputs(result.data, result.state, 8)
    in_memory = runner.keras_predict_fn(result.serving_model)(raw)
    exported = runner.saved_model_predict_fn(result.version_dir)(raw)
    card = ModelCard.read(result.version_dir)
    assert set(in_memory) == set(exported) == {o.name for o in card.outputs}
    for key in in_memory:
        # 1e-5 absolute, and relative for outputs in raw units (a reconstruction of ~450 has
        # a float32 resolution of 3e-5, so a purely absolute 1e-5 would test float rounding)
        np.testing.assert_allclose(exported[key], in_memory[key], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(TINY))
def test_card_validates_and_describes_the_signature(tiny_results, name):
    result = tiny_results[name]
    card = ModelCard.read(result.version_dir)
    assert card.name == name and card.version == result.version
    assert card.inputs and card.outputs and card.data.licence and card.data.source
    assert card.metrics.primary in card.metrics.model
    assert card.metrics.baselines, "every card reports a baseline beside the model"
    task = card.task
    if task.kind == "classification":
        assert len(task.labels) >= 2 and task.output in {o.name for o in card.outputs}
    elif task.kind == "anomaly_detection":
        assert np.isfinite(task.threshold) and task.threshold > 0
        assert len(task.feature_names) == card.inputs[0].shape[-1]
    else:
        assert task.window == card.inputs[0].shape[-1] and task.horizon >= 1
    # every input and output the exported signature has, and only those, with its dtype
    # and shape, as the server and TF Serving's metadata see them
    import tensorflow as tf

    sig = tf.saved_model.load(str(result.version_dir)).signatures[card.signature_name]

    def as_card(specs):
        return {
            key: (spec.dtype.name, [-1 if d is None else d for d in spec.shape.as_list()])
            for key, spec in specs.items()
        }

    assert {t.name: (t.dtype, t.shape) for t in card.inputs} == as_card(
        sig.structured_input_signature[1]
    )
    assert {t.name: (t.dtype, t.shape) for t in card.outputs} == as_card(sig.structured_outputs)
    # ... which are the specs the pipelines used to write by hand, in the same order, each
    # with its description
    assert [(t.name, t.dtype, t.shape) for t in card.inputs + card.outputs] == CARD_SPECS[name]
    assert all(t.description for t in card.inputs + card.outputs)


# The hand-written specs the cards carried before they were read from the graph.
CARD_SPECS = {
    "digits": [("image", "float32", [-1, 28, 28, 1]), ("probabilities", "float32", [-1, 10])],
    "sentiment": [("text", "string", [-1]), ("probabilities", "float32", [-1, 3])],
    "sunspots": [("history", "float32", [-1, 27]), ("forecast", "float32", [-1, 10])],
    "tumor-anomaly": [
        ("features", "float32", [-1, 30]),
        ("score", "float32", [-1]),
        ("contributions", "float32", [-1, 30]),
        ("reconstruction", "float32", [-1, 30]),
    ],
}


def test_a_description_of_a_tensor_the_graph_lacks_fails_the_export(tiny_results, tmp_path):
    result = tiny_results["tumor-anomaly"]

    class StaleDescriptions(type(result.pipeline)):
        def tensor_descriptions(self, state):
            return {**super().tensor_descriptions(state), "anomaly_flag": "renamed since"}

    stale = dataclasses.replace(result, pipeline=StaleDescriptions())
    with pytest.raises(ValueError, match=r"does not have: \['anomaly_flag'\]"):
        runner.export(stale, tmp_path, report=False)
    assert list_versions(tmp_path / "tumor-anomaly") == [], "nothing may be published"


@pytest.mark.parametrize("name", sorted(TINY))
def test_pipelines_keep_no_per_run_attributes(tiny_results, name):
    """Everything a run learns travels in its prepared state, not on the pipeline object."""
    result = tiny_results[name]
    assert vars(result.pipeline) == {}
    assert result.state is not None


def test_classifiers_share_the_floor_message_shape():
    digits, sentiment = get_pipeline("digits"), get_pipeline("sentiment")
    assert digits.quality_floor_failures({"model": {"accuracy": 0.96}}) == [
        "accuracy 0.9600 < 0.97"
    ]
    assert digits.quality_floor_failures({"model": {"accuracy": 0.97}}) == []
    tfidf = {"baselines": {"tfidf_logreg": {"accuracy": 0.70}}}
    assert sentiment.quality_floor_failures({"model": {"accuracy": 0.67}, **tfidf}) == [
        "accuracy 0.6700 < TF-IDF baseline - 0.02 = 0.6800"
    ]
    assert sentiment.quality_floor_failures({"model": {"accuracy": 0.69}, **tfidf}) == []


def _one_step(name, **overrides):
    """Build with the given knobs and run one training step; returns (model, loss before/after)."""
    from training.layers import optimizer

    pipeline = get_pipeline(name)
    config = pipeline.default_config.with_overrides(limit=64, **overrides)
    data = pipeline.limit(pipeline.load_data(), 64)
    prepared = pipeline.prepare(data, config)
    x, y = prepared.x_train, prepared.y_train
    model = pipeline.build(config, prepared.state)
    model.compile(
        optimizer=optimizer(config.optimizer, config.learning_rate), loss=pipeline.loss(config)
    )
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x[:32], y[:32])
    loss = float(np.ravel(loss)[0])
    changed = any(
        not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True)
    )
    return model, loss, changed


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_each_optimizer_trains_one_step(name, optimizer):
    model, loss, changed = _one_step(name, optimizer=optimizer)
    assert np.isfinite(loss) and changed
    assert type(model.optimizer).__name__.lower() == optimizer


SWITCHES = {
    "dropout": {"dropout": 0.3},
    "l1": {"l1": 1e-4},
    "l2": {"l2": 1e-4},
    "batch_norm": {"batch_norm": True},
}


def _layers(model):
    yield from model._flatten_layers(include_self=False)


@pytest.mark.parametrize("switch", sorted(SWITCHES))
@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_each_regulariser_switch_builds_and_trains(name, switch):
    model, loss, changed = _one_step(name, **SWITCHES[switch])
    assert np.isfinite(loss) and changed
    kinds = {type(layer).__name__ for layer in _layers(model)}
    if switch == "batch_norm":
        assert "BatchNormalization" in kinds
    elif switch == "dropout":
        rates = [layer.rate for layer in _layers(model) if type(layer).__name__ == "Dropout"]
        assert 0.3 in rates
    else:
        assert model.losses, f"{switch} penalty must add a regularisation loss"


def test_cli_help_documents_every_flag():
    out = subprocess.run(
        [sys.executable, "-m", "training", "digits", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for flag in (
        "--activation",
        "--loss",
        "--optimizer",
        "--learning-rate",
        "--dropout",
        "--l1",
        "--l2",
        "--batch-norm",
        "--epochs",
        "--batch-size",
        "--seed",
        "--tensorboard",
        "--models-dir",
        "--keep",
    ):
        assert flag in out


def test_cli_trains_exports_and_reports(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "digits",
            "--models-dir",
            str(tmp_path),
            "--epochs",
            "1",
            "--limit",
            "200",
            "--optimizer",
            "rmsprop",
            "--dropout",
            "0.3",
            "--l2",
            "1e-4",
            "--batch-norm",
            "--quiet",
            "--tensorboard",
            str(tmp_path / "tb"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "exported    version 1" in proc.stdout and "test        accuracy" in proc.stdout
    version_dir = tmp_path / "digits" / "1"
    card = ModelCard.read(version_dir)
    assert card.training["optimizer"] == "rmsprop" and card.training["batch_norm"] is True
    assert card.training["l2"] == 1e-4 and card.training["dropout"] == 0.3
    report = sorted(p.name for p in (version_dir / "report").iterdir())
    assert report == ["confusion_matrix.png", "index.html", "learning_curves.png"]
    assert (version_dir / "metrics.json").exists()
    assert any((tmp_path / "tb").rglob("events.out.tfevents*"))


def test_retrain_gate_rejects_worse_and_accepts_equal(tmp_path):
    from training.retrain import retrain

    base = get_pipeline("digits").default_config.with_overrides(epochs=2, limit=400, patience=0)
    first = retrain("digits", tmp_path, config=base, verbose=0, report=False)
    assert first.exported and first.new_version == 1 and first.current is None

    worse = base.with_overrides(learning_rate=1e-7, epochs=1)
    decision = retrain("digits", tmp_path, config=worse, verbose=0, report=False)
    assert not decision.exported and decision.challenger < decision.current
    assert sorted(p.name for p in (tmp_path / "digits").iterdir()) == ["1"]

    # the same configuration and seed reproduce the current model: no worse -> exported
    same = retrain("digits", tmp_path, config=base, verbose=0, report=False)
    assert same.exported and same.new_version == 2
    assert same.challenger == pytest.approx(same.current, abs=1e-9)
