"""The one tensor dtype table: TensorFlow's enum and name, numpy's dtype, the V2 datatype.

Every protocol names dtypes its own way (SignatureDefs and TensorProtos by TensorFlow's
``DataType`` enum, TF Serving's JSON metadata by ``DT_*`` names, the Open Inference
Protocol by ``FP32``-style datatypes); the codecs and the validation all read this table.
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np


@dataclass(frozen=True)
class DType:
    """One dtype as each protocol spells it."""

    tf_enum: int  # tensorflow/core/framework/types.proto
    tf_name: str
    numpy: np.dtype  # DT_STRING / BYTES: object arrays of ``bytes``
    v2: str
    # tf.make_tensor_proto writes these into TensorProto.tensor_content (host byte order)
    packed: bool


DTYPES: tuple[DType, ...] = (
    DType(1, "DT_FLOAT", np.dtype("float32"), "FP32", True),
    DType(2, "DT_DOUBLE", np.dtype("float64"), "FP64", True),
    DType(3, "DT_INT32", np.dtype("int32"), "INT32", True),
    DType(4, "DT_UINT8", np.dtype("uint8"), "UINT8", True),
    DType(5, "DT_INT16", np.dtype("int16"), "INT16", True),
    DType(6, "DT_INT8", np.dtype("int8"), "INT8", True),
    DType(7, "DT_STRING", np.dtype(object), "BYTES", False),
    DType(9, "DT_INT64", np.dtype("int64"), "INT64", True),
    DType(10, "DT_BOOL", np.dtype("bool"), "BOOL", False),
    DType(14, "DT_BFLOAT16", np.dtype(ml_dtypes.bfloat16), "BF16", False),
    DType(17, "DT_UINT16", np.dtype("uint16"), "UINT16", False),
    DType(19, "DT_HALF", np.dtype("float16"), "FP16", True),
    DType(22, "DT_UINT32", np.dtype("uint32"), "UINT32", True),
    DType(23, "DT_UINT64", np.dtype("uint64"), "UINT64", True),
)

BY_TF_ENUM: dict[int, DType] = {d.tf_enum: d for d in DTYPES}
BY_V2: dict[str, DType] = {d.v2: d for d in DTYPES}
BY_NUMPY: dict[np.dtype, DType] = {d.numpy: d for d in DTYPES}


def tf_name(tf_enum: int) -> str:
    """``DT_FLOAT`` for 1; an enum this table lacks is shown as its number."""
    dtype = BY_TF_ENUM.get(tf_enum)
    return dtype.tf_name if dtype is not None else f"dtype {tf_enum}"


# The Open Inference Protocol's datatypes in the order its specification lists them.
V2_DATATYPES = (
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BF16",
    "BYTES",
)
