"""The training pipelines: export parity, knobs, cards, CLI and the retrain gate."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from modelcard import ModelCard
from tests.conftest import ROOT, TINY
from training import runner
from training.config import OPTIMIZERS
from training.pipelines import PIPELINES, get_pipeline


@pytest.mark.parametrize("name", sorted(TINY))
def test_exported_savedmodel_matches_in_memory_model(tiny_results, name):
    result = tiny_results[name]
    raw = result.pipeline.sample_inputs(result.data, 8)
    in_memory = runner.keras_predict_fn(result.serving_model)(raw)
    exported = runner.saved_model_predict_fn(result.version_dir)(raw)
    assert set(in_memory) == set(exported) == {s.name for s in result.pipeline.signature()[1]}
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
    # the exported signature really has the card's input spec
    import tensorflow as tf

    sig = tf.saved_model.load(str(result.version_dir)).signatures["serving_default"]
    (spec,) = sig.structured_input_signature[1].values()
    assert spec.name == card.inputs[0].name
    assert [d if d is not None else -1 for d in spec.shape.as_list()] == card.inputs[0].shape


def _one_step(name, **overrides):
    """Build with the given knobs and run one training step; returns (model, loss before/after)."""
    from training.layers import optimizer

    pipeline = get_pipeline(name)
    config = pipeline.default_config.with_overrides(limit=64, **overrides)
    data = pipeline.limit(pipeline.load_data(), 64)
    x, y, _, _ = pipeline.prepare(data, config)
    model = pipeline.build(config)
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
    assert report == ["confusion_matrix.png", "learning_curves.png"]
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
