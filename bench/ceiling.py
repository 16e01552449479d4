"""The in-process ceiling: the SavedModel's ``serving_default`` signature called directly.

Measured before any server starts, so nothing competes for the cores. Each call goes numpy
-> session callable -> numpy, exactly the server's batch function (``SavedModelSession``),
with TensorFlow free to use every core: the most items/s any server on this machine could
get from the graph.
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
    from service.session_runner import SavedModelSession, ThreadOptions

    threads = ThreadOptions(intra_op=0, inter_op=-1)  # intra-op 0: TensorFlow uses every core
    run, _ = SavedModelSession(version_dir, threads).callable("serving_default")
    results = {}
    for batch in batch_sizes:
        tiled = {k: np.repeat(v, batch, axis=0) for k, v in inputs.items()}

        def call(tiled=tiled) -> None:
            run(tiled)

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
        "tf_intra_op_threads": threads.intra_op or "all",
        "tf_inter_op_threads": "the calling thread" if threads.inter_op < 0 else threads.inter_op,
    }
