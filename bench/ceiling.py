"""The in-process ceiling: the SavedModel's ``serving_default`` signature called directly.

Measured before any server starts, so nothing competes for the cores. Each call converts
numpy -> tensor -> numpy, as the server's batch function does; what remains is the cost of
the graph itself, i.e. the most items/s any server on this machine could get from it.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

BATCH_SIZES = (1, 32, 64)


def in_process_ceiling(
    version_dir: Path,
    inputs: dict[str, np.ndarray],
    seconds: float,
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
) -> dict:
    """Items/s and mean call time of the signature at each batch size."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(version_dir), tags=["serve"])
    fn = loaded.signatures["serving_default"]
    results = {}
    for batch in batch_sizes:
        tiled = {k: np.repeat(v, batch, axis=0) for k, v in inputs.items()}

        def call(tiled=tiled) -> None:
            outputs = fn(**{k: tf.constant(v) for k, v in tiled.items()})
            for value in outputs.values():
                value.numpy()

        for _ in range(3):  # first calls allocate and pick kernels
            call()
        calls = 0
        started = time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            call()
            calls += 1
        results[str(batch)] = {
            "items_per_s": round(calls * batch / elapsed, 1),
            "ms_per_call": round(1000 * elapsed / calls, 3),
        }
    return {
        "batches": results,
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or "all",
        "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads() or "all",
    }
