"""The gRPC side of the client: TF Serving's ``PredictionService`` and ``ModelService``.

Imported only for ``--grpc``: the ``tensorflow_serving`` protos import TensorFlow, which
takes seconds and is not needed for REST. Answers are shaped like the REST JSON of the
same call, so both transports share one set of renderers (and ``--json`` prints the same
structure either way).
"""

from __future__ import annotations

import base64

import click
import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from service.client.errors import CannotConnect, ServerError
from service.client.inputs import Payload

# What grpc core says when nothing answers (the server's own UNAVAILABLE names a model).
_NO_CONNECTION = ("failed to connect", "connection refused", "dns resolution failed")


class GrpcClient:
    """Calls one server's gRPC port; errors become :class:`ServerError` / :class:`CannotConnect`."""

    def __init__(self, target: str, timeout: float):
        self.target, self.timeout = target, timeout
        channel = grpc.insecure_channel(target)
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(channel)

    def _call(self, method, request):
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            details = exc.details() or ""
            if exc.code() == grpc.StatusCode.UNAVAILABLE and any(
                marker in details.lower() for marker in _NO_CONNECTION
            ):
                raise CannotConnect(self.target, details) from exc
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED and details == "Deadline Exceeded":
                # grpc core's own words: our timeout ran out (the server's 504 says more)
                raise CannotConnect(self.target, f"no answer within {self.timeout:g}s") from exc
            raise ServerError(exc.code().name, details) from exc

    @staticmethod
    def _spec(spec, name: str, version: int | None, label: str | None) -> None:
        spec.name = name
        if version is not None:
            spec.version.value = version
        elif label is not None:
            spec.version_label = label

    def status(self, name: str, version: int | None, label: str | None) -> dict:
        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, name, version, label)
        response = self._call(self.models.GetModelStatus, request)
        state = get_model_status_pb2.ModelVersionStatus.State.Name
        return {
            "model_version_status": [
                {
                    "version": str(s.version),
                    "state": state(s.state),
                    "status": {
                        "error_code": "OK"
                        if s.status.error_code == 0
                        else str(s.status.error_code),
                        "error_message": s.status.error_message,
                    },
                }
                for s in response.model_version_status
            ]
        }

    def _signatures(self, name: str, version: int | None, label: str | None):
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec, name, version, label)
        response = self._call(self.prediction.GetModelMetadata, request)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signatures)
        return response.model_spec, signatures

    def metadata(self, name: str, version: int | None, label: str | None) -> dict:
        spec, signatures = self._signatures(name, version, label)
        return {
            "model_spec": {"name": spec.name, "version": str(spec.version.value)},
            "metadata": {
                "signature_def": json_format.MessageToDict(
                    signatures, preserving_proto_field_name=True
                )
            },
        }

    def _inputs(self, name: str, version: int | None, label: str | None) -> dict:
        """serving_default's input dtypes by name (the request must match them)."""
        _, signatures = self._signatures(name, version, label)
        inputs = signatures.signature_def["serving_default"].inputs
        return {n: tf.dtypes.as_dtype(spec.dtype) for n, spec in inputs.items()}

    def predict(self, name: str, version: int | None, label: str | None, payload: Payload) -> dict:
        dtypes = self._inputs(name, version, label)
        body = payload.request()
        rows = "instances" in body
        tensors = _columns(body["instances"] if rows else body["inputs"], dtypes)
        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, name, version, label)
        for input_name, value in tensors.items():
            request.inputs[input_name].CopyFrom(tf.make_tensor_proto(value))
        response = self._call(self.prediction.Predict, request)
        outputs = {k: tf.make_ndarray(v).tolist() for k, v in response.outputs.items()}
        if not rows:
            return {"outputs": next(iter(outputs.values())) if len(outputs) == 1 else outputs}
        if len(outputs) == 1:
            return {"predictions": next(iter(outputs.values()))}
        count = len(next(iter(outputs.values())))
        return {"predictions": [{k: v[i] for k, v in outputs.items()} for i in range(count)]}

    def classify(
        self, name: str, version: int | None, label: str | None, payload: Payload, k: int | None
    ) -> dict:
        dtypes = self._inputs(name, version, label)
        if len(dtypes) != 1:
            raise click.UsageError(f"{name} has {len(dtypes)} inputs; gRPC classify needs one")
        ((feature, dtype),) = dtypes.items()
        batch = _columns(payload.request()["instances"], dtypes)[feature]
        request = classification_pb2.ClassificationRequest()
        self._spec(request.model_spec, name, version, label)
        for row in batch:
            example = request.input.example_list.examples.add().features.feature[feature]
            if dtype == tf.string:
                example.bytes_list.value.append(row if isinstance(row, bytes) else row.encode())
            else:
                example.float_list.value.extend(np.asarray(row, np.float32).ravel().tolist())
        response = self._call(self.prediction.Classify, request)
        return {
            "model_spec": {
                "name": response.model_spec.name,
                "version": str(response.model_spec.version.value),
            },
            "results": [
                [[c.label, c.score] for c in classification.classes[:k]]
                for classification in response.result.classifications
            ],
        }


def _columns(value, dtypes: dict) -> dict:
    """Instances or inputs (one unnamed input, or named ones) as numpy arrays by input."""
    if isinstance(value, dict):
        named = value
    elif (
        isinstance(value, list)
        and value
        and all(isinstance(v, dict) and "b64" not in v for v in value)
    ):
        named = {key: [row[key] for row in value] for key in value[0]}  # named rows
    elif len(dtypes) == 1:
        named = {next(iter(dtypes)): value}
    else:
        raise click.UsageError(f"the model has inputs {sorted(dtypes)}: name them in the JSON")
    arrays = {}
    for input_name, column in named.items():
        if input_name not in dtypes:
            raise click.UsageError(f"the model has no input '{input_name}' (has {sorted(dtypes)})")
        dtype = dtypes[input_name]
        if dtype == tf.string:
            arrays[input_name] = np.array([_bytes(v) for v in column], dtype=object)
        elif any(isinstance(v, dict) for v in column):
            raise click.UsageError(
                "images are decoded by the server's REST :classify; drop --grpc, or send "
                "pixel arrays"
            )
        else:
            arrays[input_name] = np.asarray(column, dtype=dtype.as_numpy_dtype)
    return arrays


def _bytes(value) -> bytes:
    if isinstance(value, dict) and "b64" in value:
        return base64.b64decode(value["b64"])
    return str(value).encode()
