"""Multi-worker training: the cluster an Indexed Job's environment describes, and two real
worker processes on loopback ports training one model of which only the chief publishes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from modelcard import ModelCard
from tests.conftest import ROOT, TINY, export_tiny, free_port
from training import runner
from training.distributed import (
    Cluster,
    ClusterConfigError,
    cluster_from_environment,
    indexed_job_tf_config,
)
from training.export import list_versions

PATTERN = "train-{index}.train-workers:2222"
JOB = {"TRAINING_WORKERS": "3", "TRAINING_WORKER_HOSTS_PATTERN": PATTERN}


def test_an_indexed_job_pod_derives_its_tf_config():
    cluster = cluster_from_environment({**JOB, "JOB_COMPLETION_INDEX": "1"})
    assert cluster.tf_config() == {
        "cluster": {
            "worker": [
                "train-0.train-workers:2222",
                "train-1.train-workers:2222",
                "train-2.train-workers:2222",
            ]
        },
        "task": {"type": "worker", "index": 1},
    }
    assert cluster.size == 3 and not cluster.is_chief
    assert cluster_from_environment({**JOB, "JOB_COMPLETION_INDEX": "0"}).is_chief


def test_tf_config_wins_and_no_cluster_means_one_process():
    given = {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}
    environ = {**JOB, "JOB_COMPLETION_INDEX": "0", "TF_CONFIG": json.dumps(given)}
    assert cluster_from_environment(environ).tf_config() == given
    assert cluster_from_environment({"TRAINING_WORKERS": "2"}) is None
    assert cluster_from_environment({"TF_CONFIG": ""}) is None


def test_the_chief_is_the_chief_task_else_worker_zero():
    with_chief = {"chief": ["c:1"], "worker": ["w:1", "w:2"]}
    assert Cluster(with_chief, "chief", 0).is_chief
    assert not Cluster(with_chief, "worker", 0).is_chief
    assert Cluster({"worker": ["w:1", "w:2"]}, "worker", 0).is_chief


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"JOB_COMPLETION_INDEX": "0"}, "TRAINING_WORKERS is not set"),
        ({**JOB, "JOB_COMPLETION_INDEX": "3"}, r"JOB_COMPLETION_INDEX=3 is outside 0\.\.2"),
        ({**JOB, "JOB_COMPLETION_INDEX": "x"}, "JOB_COMPLETION_INDEX must be an integer"),
        (
            {**JOB, "JOB_COMPLETION_INDEX": "0", "TRAINING_WORKER_HOSTS_PATTERN": "train:2222"},
            "TRAINING_WORKER_HOSTS_PATTERN must contain {index}",
        ),
        ({"TF_CONFIG": "{not json"}, "TF_CONFIG is not a valid cluster"),
        (
            {"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"index": 0}})},
            "TF_CONFIG is not a valid cluster",
        ),
        (
            {
                "TF_CONFIG": json.dumps(
                    {"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}
                )
            },
            "task worker:1 is not in the cluster",
        ),
    ],
)
def test_a_broken_cluster_description_names_the_variable(environ, message):
    with pytest.raises(ClusterConfigError, match=message):
        cluster_from_environment(environ)


def test_a_batch_that_does_not_split_evenly_is_refused_before_training(tmp_path):
    from training.distributed import train
    from training.pipelines import get_pipeline

    config = get_pipeline("tumor-anomaly").default_config.with_overrides(batch_size=16)
    environ = {**JOB, "JOB_COMPLETION_INDEX": "0"}
    with pytest.raises(ClusterConfigError, match="batch_size 16 does not split evenly across 3"):
        train("tumor-anomaly", tmp_path, environ, config=config)
    assert not (tmp_path / "tumor-anomaly").exists()


def test_zero_workers_is_refused():
    with pytest.raises(ClusterConfigError, match="TRAINING_WORKERS must be >= 1"):
        indexed_job_tf_config(0, 0, PATTERN)


def test_two_workers_train_one_model_and_only_the_chief_publishes(tmp_path):
    name, flags = "tumor-anomaly", ["--epochs", str(TINY["tumor-anomaly"]["epochs"])]
    workers = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    models = tmp_path / "models"
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        environment = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CONFIG": json.dumps(tf_config)}
        command = [sys.executable, "-m", "training", "distributed", name, "--models-dir"]
        log = open(tmp_path / f"worker-{index}.log", "w")  # noqa: SIM115 - closed below
        processes.append(
            (
                subprocess.Popen(
                    [*command, str(models), *flags, "--patience", "0", "--quiet", "--no-report"],
                    cwd=ROOT,
                    env=environment,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                ),
                log,
            )
        )
    try:
        codes = [process.wait(timeout=180) for process, _ in processes]
    finally:
        for process, log in processes:
            if process.poll() is None:  # a worker waits for its peer forever: stop it
                process.kill()
            log.close()
    logs = [(tmp_path / f"worker-{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], "\n\n".join(log[-3000:] for log in logs)
    assert "exported    version 1" in logs[0] and "not the chief" in logs[1]

    # exactly one version, and nothing else left in the model's directory
    assert sorted(p.name for p in (models / name).iterdir()) == ["1"]
    version_dir = models / name / "1"
    card = ModelCard.read(version_dir)
    assert card.training["replicas"] == 2 and card.training["epochs_run"] == 2

    # the same checks as a single-worker tiny model: it loads, predicts the card's shapes,
    # and scores as the same configuration trained in one process does
    single = export_tiny(name, tmp_path / "single")
    assert "replicas" not in ModelCard.read(single.version_dir).training
    raw = single.pipeline.sample_inputs(single.data, single.state, 5)
    outputs = runner.saved_model_predict_fn(version_dir)(raw)
    for spec in card.outputs:
        assert outputs[spec.name].shape == (5, *spec.shape[1:])
        assert np.isfinite(outputs[spec.name]).all()
    auc, single_auc = card.metrics.model["roc_auc"], single.metrics["model"]["roc_auc"]
    assert auc == pytest.approx(single_auc, abs=0.02)
    assert list_versions(tmp_path / "single" / name) == [1]
