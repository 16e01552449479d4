"""Multi-worker training: ``MultiWorkerMirroredStrategy`` across the pods of an Indexed Job.

Every worker runs the same program (``python -m training distributed <model>``): the same
data, seed and pipeline, with each global batch split across the workers and gradients
all-reduced, so the trained weights are the same on every worker. Only the chief
publishes a version; the others save to a temporary directory they delete, as TF's
multi-worker Keras guide prescribes (every worker must take part in saving).

The cluster comes from ``TF_CONFIG`` when it is set. In a Kubernetes Indexed Job it is
derived from the pod's completion index and two variables of the Job's pod template::

    JOB_COMPLETION_INDEX=1                 (set by Kubernetes for each pod)
    TRAINING_WORKERS=2                     (the Job's parallelism = completions)
    TRAINING_WORKER_HOSTS_PATTERN=train-{index}.train-workers:2222
                                           (pod hostname under a headless Service)

A cluster of one task, or no cluster at all, trains with TensorFlow's default strategy,
exactly like ``python -m training <model>``.
"""

from __future__ import annotations

import functools
import json
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.config import TrainConfig

if TYPE_CHECKING:
    from training.runner import RunResult

log = logging.getLogger(__name__)

INDEX_VAR = "JOB_COMPLETION_INDEX"
WORKERS_VAR = "TRAINING_WORKERS"
HOSTS_PATTERN_VAR = "TRAINING_WORKER_HOSTS_PATTERN"


class ClusterConfigError(ValueError):
    """The environment describes no usable cluster; the message names the variable."""


@dataclass(frozen=True)
class Cluster:
    """This process's place in a training cluster, as ``TF_CONFIG`` describes it."""

    tasks: dict[str, list[str]]  # task type -> addresses ("host:port"), index = task id
    task_type: str
    task_index: int

    @property
    def size(self) -> int:
        """Number of tasks in the cluster (this one included)."""
        return sum(len(addresses) for addresses in self.tasks.values())

    @property
    def is_chief(self) -> bool:
        """TF's rule: the ``chief`` task if the cluster has one, else worker 0."""
        if "chief" in self.tasks:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.task_index == 0

    def tf_config(self) -> dict[str, Any]:
        """The ``TF_CONFIG`` object that describes this cluster and task."""
        return {
            "cluster": self.tasks,
            "task": {"type": self.task_type, "index": self.task_index},
        }


def indexed_job_tf_config(index: int, workers: int, hosts_pattern: str) -> dict[str, Any]:
    """``TF_CONFIG`` of pod ``index`` of an Indexed Job of ``workers`` pods, whose worker
    addresses are ``hosts_pattern`` formatted with each index."""
    if workers < 1:
        raise ClusterConfigError(f"{WORKERS_VAR} must be >= 1, got {workers}")
    if not 0 <= index < workers:
        raise ClusterConfigError(
            f"{INDEX_VAR}={index} is outside 0..{workers - 1} ({WORKERS_VAR}={workers})"
        )
    if "{index}" not in hosts_pattern:
        raise ClusterConfigError(
            f"{HOSTS_PATTERN_VAR} must contain {{index}}, got {hosts_pattern!r}"
        )
    return {
        "cluster": {"worker": [hosts_pattern.format(index=i) for i in range(workers)]},
        "task": {"type": "worker", "index": index},
    }


def _int(environ: Mapping[str, str], name: str) -> int:
    try:
        return int(environ[name])
    except KeyError:
        raise ClusterConfigError(f"{name} is not set (needed with {INDEX_VAR})") from None
    except ValueError:
        raise ClusterConfigError(f"{name} must be an integer, got {environ[name]!r}") from None


def cluster_from_environment(environ: Mapping[str, str]) -> Cluster | None:
    """The cluster ``environ`` describes: ``TF_CONFIG`` if set, else the Indexed Job
    variables if ``JOB_COMPLETION_INDEX`` is set, else ``None`` (a single process)."""
    if environ.get("TF_CONFIG"):
        try:
            config = json.loads(environ["TF_CONFIG"])
            tasks = {kind: list(addresses) for kind, addresses in config["cluster"].items()}
            task_type, task_index = config["task"]["type"], int(config["task"]["index"])
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ClusterConfigError(f"TF_CONFIG is not a valid cluster: {error!r}") from None
    elif INDEX_VAR in environ:
        config = indexed_job_tf_config(
            _int(environ, INDEX_VAR),
            _int(environ, WORKERS_VAR),
            environ.get(HOSTS_PATTERN_VAR, ""),
        )
        tasks, task_type, task_index = config["cluster"], "worker", config["task"]["index"]
    else:
        return None
    if not 0 <= task_index < len(tasks.get(task_type, [])):
        raise ClusterConfigError(f"TF_CONFIG task {task_type}:{task_index} is not in the cluster")
    return Cluster(tasks, task_type, task_index)


def make_strategy(cluster: Cluster | None) -> Any:
    """``MultiWorkerMirroredStrategy`` over ``cluster`` if it has several tasks, else the
    default strategy. Create it before any other TensorFlow work in the process: the
    collective runtime must be configured before TensorFlow initialises."""
    import tensorflow as tf

    if cluster is None or cluster.size < 2:
        return tf.distribute.get_strategy()
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster.tasks),
        task_type=cluster.task_type,
        task_id=cluster.task_index,
        rpc_layer="grpc",
    )
    return _keras_multi_worker_strategy(tf)(cluster_resolver=resolver)


@functools.cache  # one class per process, made only once TensorFlow is imported
def _keras_multi_worker_strategy(tf: Any) -> type:
    class KerasMultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        """``MultiWorkerMirroredStrategy`` whose ``reduce`` takes what Keras 3's ``fit``
        hands it with several workers (keras-team/keras#20585): a nest of values (the
        first batch, for the symbolic build) and scalars with ``axis=0`` (the per-step
        loss and metrics). TF's ``reduce`` takes one value ("TODO: support value being a
        nest") and needs a real axis; each leaf is reduced alone, scalars across replicas
        only, which is what the step logs mean."""

        def reduce(self, reduce_op: Any, value: Any, axis: int | None) -> Any:
            def one(leaf: Any) -> Any:
                local = (
                    self.experimental_local_results(leaf)[0]
                    if isinstance(leaf, tf.distribute.DistributedValues)
                    else leaf
                )
                return super(KerasMultiWorkerMirroredStrategy, self).reduce(
                    reduce_op, leaf, axis if local.shape.rank else None
                )

            return tf.nest.map_structure(one, value)

    return KerasMultiWorkerMirroredStrategy


def train(
    name: str,
    models_dir: Path,
    environ: Mapping[str, str],
    *,
    config: TrainConfig | None = None,
    keep: int | None = None,
    verbose: int = 1,
    report: bool = True,
    tensorboard_dir: Path | None = None,
) -> RunResult:
    """Train ``name`` as this process's task of the cluster ``environ`` describes; the
    chief (or the only process) exports the next version. Returns the run result
    (``version`` stays None on the other workers)."""
    from training import runner
    from training.pipelines import get_pipeline

    cluster = cluster_from_environment(environ)
    config = config or get_pipeline(name).default_config
    # Equal shards of every global batch: Keras builds the model from the first batch
    # reduced across workers (which needs equal shapes), and equal shards keep each step
    # the same as single-process training's step on that batch.
    if cluster is not None and config.batch_size % cluster.size:
        raise ClusterConfigError(
            f"batch_size {config.batch_size} does not split evenly across {cluster.size} "
            "workers; choose a multiple of the worker count"
        )
    strategy = make_strategy(cluster)  # before any other TensorFlow work
    chief = cluster is None or cluster.is_chief
    if cluster is not None:
        log.info(
            "%s: task %s:%d of %d (%s), %d replicas in sync",
            name,
            cluster.task_type,
            cluster.task_index,
            cluster.size,
            "chief" if chief else "not the chief",
            strategy.num_replicas_in_sync,
        )
    result = runner.fit(
        name,
        config,
        verbose=verbose,
        # one writer per log directory: the chief's curves stand for every worker's
        tensorboard_dir=tensorboard_dir if chief else None,
        strategy=strategy,
    )
    if chief:
        return runner.export(result, models_dir, keep=keep, report=report)
    # TF's multi-worker saving pattern: every worker saves, the non-chief ones to a
    # temporary place they then delete, so no worker publishes a version.
    assert cluster is not None  # only a cluster has workers that are not the chief
    with tempfile.TemporaryDirectory(prefix=f"{name}-{cluster.task_type}-") as tmp:
        result.serving_model.export(tmp, verbose=False)
    return result
