"""TensorFlow ``TensorProto`` <-> numpy, the tensor wire format of TF Serving's gRPC API.

Conversion is TensorFlow's own (``tf.make_ndarray`` / ``tf.make_tensor_proto``), so every
encoding a TF Serving client may send is understood: ``tensor_content`` bytes (read without
a per-element loop), typed ``*_val`` fields (a short field repeats its last value, TF's
rule), ``half_val`` bit patterns. ``DT_STRING`` becomes an object array of ``bytes``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2

from service.errors import InvalidInput
from service.signature import TF_DTYPE_NAMES


def to_ndarray(name: str, proto: tensor_pb2.TensorProto) -> np.ndarray:
    """The input tensor ``name`` as numpy; InvalidInput names the input when it is malformed."""
    try:
        array = tf.make_ndarray(proto)
    except (TypeError, ValueError) as exc:
        dims = [d.size for d in proto.tensor_shape.dim]
        dtype = TF_DTYPE_NAMES.get(proto.dtype, f"dtype {proto.dtype}")
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "malformed"
        raise InvalidInput(
            f"input '{name}' is not a valid {dtype} tensor of shape {dims}: {reason}"
        ) from None
    if array.dtype.kind == "S":  # make_ndarray gives fixed-width bytes for some inputs
        array = array.astype(object)
    return array


def from_ndarray(array: np.ndarray) -> tensor_pb2.TensorProto:
    """An output tensor as a TensorProto (numeric data as packed ``tensor_content``)."""
    return tf.make_tensor_proto(array)
