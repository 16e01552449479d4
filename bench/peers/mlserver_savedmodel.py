"""An MLServer 1.7 custom runtime that serves a TF SavedModel's ``serving_default``.

Runs inside the MLServer peer's own virtualenv (``.cache/peers/mlserver``), never in the
project's: it imports only MLServer, numpy and TensorFlow. ``parameters.uri`` in the
model's ``model-settings.json`` is the SavedModel's version directory. The model loads in
each parallel worker (``load`` runs there), so the main process never imports TensorFlow.
"""

from __future__ import annotations

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class SavedModelRuntime(MLModel):
    """Decode each V2 input to numpy, call the signature eagerly, encode every output."""

    async def load(self) -> bool:
        import tensorflow as tf

        self._tf = tf
        self._signature = tf.saved_model.load(self.settings.parameters.uri).signatures[
            "serving_default"
        ]
        self._dtypes = {
            name: spec.dtype for name, spec in self._signature.structured_input_signature[1].items()
        }
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        feeds = {}
        for request_input in payload.inputs:
            value = NumpyCodec.decode_input(request_input)
            if value.dtype.kind in "OSU":  # BYTES: a list of bytes objects
                value = np.asarray(value, dtype=object)
            feeds[request_input.name] = self._tf.constant(
                value, dtype=self._dtypes[request_input.name]
            )
        outputs = self._signature(**feeds)
        return InferenceResponse(
            model_name=self.name,
            outputs=[
                NumpyCodec.encode_output(name, tensor.numpy())
                for name, tensor in sorted(outputs.items())
            ],
        )
