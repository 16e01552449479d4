"""A SavedModel run the way TensorFlow Serving runs it: one session, one callable per signature.

TF Serving loads a SavedModel into a ``Session`` and runs the signature's tensors through
it. Here each signature becomes a ``Session::MakeCallable`` handle (feeds and fetches fixed
once, the pruned graph and its executor prepared once), called with numpy arrays; the GIL
is held only to convert the arrays in and out.

Two slower ways were measured and left: the eager path
(``tf.saved_model.load(...).signatures[name](**tensors)``) re-takes the GIL for every Python
step of the call, and under gunicorn's request threads each re-take waits behind them (a
0.9 ms model call took 4.6 ms in a loaded worker); and ``Session.make_callable`` with a
``feed_list``, which falls back to the generic ``Session.run`` (fetch handler, feed dict
checks) in Python on every call: 270 µs for one digits image against 111 µs here, and
160 µs of it with the GIL held. Same graph, same kernels, same outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from service.graph_import import load_saved_model

ArrayFn = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


@dataclass(frozen=True)
class ThreadOptions:
    """TensorFlow thread pools of a model session.

    ``inter_op``: -1 runs a call's ops in the calling (batch) thread, no hand-off to a pool:
    the cheapest for the small graphs served here. 0 lets TensorFlow pick. ``intra_op``:
    threads one op (a convolution, a matmul) may use; 0 lets TensorFlow pick.
    """

    intra_op: int = 0
    inter_op: int = -1


class SavedModelSession:
    """A SavedModel's ``serve`` MetaGraph loaded into its own graph and session.

    The session is closed when the object is garbage-collected: a request that still holds
    an unloaded version can finish on it.
    """

    def __init__(self, path: Path, threads: ThreadOptions):
        # By module path, not tf.compat.v1: a worker skips TensorFlow's public API.
        from tensorflow.core.protobuf import config_pb2
        from tensorflow.python.client import session
        from tensorflow.python.framework import ops

        config = config_pb2.ConfigProto(
            intra_op_parallelism_threads=threads.intra_op,
            inter_op_parallelism_threads=threads.inter_op,
        )
        self._graph = ops.Graph()
        self._session = session.Session(graph=self._graph, config=config)
        with self._graph.as_default():
            # Restores the variables and runs the init op (lookup tables of text models),
            # exactly as TF Serving's LoadSavedModel does; the graph goes in in parts that
            # leave the GIL to the requests served meanwhile (service/graph_import.py).
            self.meta_graph = load_saved_model(self._session, path, ["serve"])

    def callable(self, signature_name: str) -> tuple[ArrayFn, list[str]]:
        """numpy -> numpy function of one signature, and the output names it returns.

        Inputs must already have the signature's dtypes (``validate_inputs`` casts them).
        """
        from tensorflow.core.protobuf import config_pb2

        signature = self.meta_graph.signature_def[signature_name]
        input_names = sorted(signature.inputs)
        output_names = sorted(signature.outputs)
        options = config_pb2.CallableOptions(
            feed=[signature.inputs[n].name for n in input_names],
            fetch=[signature.outputs[n].name for n in output_names],
        )
        # Session::MakeCallable through TF's own wrapper (BaseSession._Callable); the
        # public make_callable() only reaches it for calls without feeds.
        run = self._session._make_callable_from_options(options)

        def call(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            values = run(*[inputs[name] for name in input_names])
            return dict(zip(output_names, values, strict=True))

        return call, output_names
