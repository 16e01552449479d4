"""The TensorFlow a serving worker uses, imported module by module.

``import tensorflow`` runs ``tensorflow/__init__.py``, which imports the whole public API
(``tf.data``, ``tf.distribute``, feature columns, autograph, the legacy Keras layers...):
about 2,600 modules in 2.3-2.8 s per worker on these machines, even with Keras itself
skipped (``service/gunicorn_conf.py``). A worker needs a session, the SavedModel loader and
the protos: about 900 modules in 0.8 s. So a worker calls :func:`skip_public_api` right
after it is forked, before anything imports TensorFlow, and the server's modules import
TensorFlow's parts by their module paths (``tensorflow.python.client.session``, never
``tf.compat.v1.Session``), which are the same objects whether or not the public API is
there. The tests, training and the client import TensorFlow as usual.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

# Everything a worker imports from TensorFlow, so that it can all be imported before the
# worker freezes its long-lived objects out of the GC (served_model.freeze_long_lived_objects).
SERVING_MODULES = (
    "tensorflow.core.protobuf.config_pb2",
    "tensorflow.core.protobuf.saved_model_pb2",
    "tensorflow.python.client.session",
    "tensorflow.python.framework.errors_impl",
    "tensorflow.python.framework.importer",
    "tensorflow.python.framework.ops",
    "tensorflow.python.framework.tensor_util",
    "tensorflow.python.saved_model.loader_impl",
    "tensorflow.python.training.saver",
    "tensorflow_serving.apis.prediction_service_pb2_grpc",
)


def skip_public_api() -> bool:
    """Make ``tensorflow`` a package whose ``__init__`` never runs; True if it did so.

    Its submodules import as usual (the package keeps its ``__path__``), and the behaviour
    switches that ``__init__`` sets (TF2 behaviour: resource variables, v2 control flow and
    tensor shapes) are set here the same way. Does nothing once TensorFlow is imported.
    """
    if "tensorflow" in sys.modules:
        return False
    spec = importlib.util.find_spec("tensorflow")
    if spec is None:
        return False
    sys.modules["tensorflow"] = importlib.util.module_from_spec(spec)  # not executed
    os.environ["TF2_BEHAVIOR"] = "1"  # as tensorflow/__init__.py sets it, before tf2 reads it
    from tensorflow.python import tf2
    from tensorflow.python.compat import v2_compat

    tf2.enable()
    v2_compat.enable_v2_behavior()
    return True


def import_serving_modules() -> None:
    """Import every module in :data:`SERVING_MODULES`."""
    for name in SERVING_MODULES:
        importlib.import_module(name)
