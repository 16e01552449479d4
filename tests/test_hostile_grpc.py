"""Hostile gRPC calls: each answered with the matching status code and a message naming the
problem, never INTERNAL or a hang, and a good Predict right after. A real server, the real
``tensorflow-serving-api`` stubs."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

C = grpc.StatusCode
IMAGE = np.zeros((1, 28, 28, 1), np.float32)


def predict(name="digits", inputs=None, **spec) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    for key, value in spec.items():
        if key == "version":
            request.model_spec.version.value = value
        elif key == "output_filter":
            request.output_filter.extend(value)
        else:
            setattr(request.model_spec, key, value)
    for key, value in (inputs if inputs is not None else {"image": IMAGE}).items():
        request.inputs[key].CopyFrom(
            value if isinstance(value, tensor_pb2.TensorProto) else tf.make_tensor_proto(value)
        )
    return request


def tensor(dtype: int, shape: list[int], content: bytes = b"", **values) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=dtype, tensor_content=content, **values)
    proto.tensor_shape.dim.extend(tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape)
    return proto


def classify(name="digits", feature="image", values=None, kind="float_list", examples=1):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = name
    for _ in range(examples):
        example = example_pb2.Example()
        if values is not None:
            feature_value = feature_pb2.Feature()
            getattr(feature_value, kind).value.extend(values)
            example.features.feature[feature].CopyFrom(feature_value)
        request.input.example_list.examples.append(example)
    return request


def metadata(name="digits", fields=("signature_def",)):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=list(fields))
    request.model_spec.name = name
    return request


def metadata_of_version(version: int):
    request = metadata()
    request.model_spec.version.value = version
    return request


def status(name="digits", version=None, label=None):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    return request


F, S, I64 = types_pb2.DT_FLOAT, types_pb2.DT_STRING, types_pb2.DT_INT64
CASES = [
    (
        "predict: no model name",
        "Predict",
        predict(name=""),
        C.INVALID_ARGUMENT,
        "model_spec.name is required",
    ),
    ("predict: unknown model", "Predict", predict(name="nope"), C.NOT_FOUND, "model 'nope'"),
    ("predict: unknown version", "Predict", predict(version=99), C.NOT_FOUND, "version 99"),
    (
        "predict: unknown label",
        "Predict",
        predict(version_label="nope"),
        C.NOT_FOUND,
        "label 'nope'",
    ),
    (
        "predict: label with bad characters",
        "Predict",
        predict(version_label="../x"),
        C.NOT_FOUND,
        "label '../x'",
    ),
    (
        "predict: unknown signature",
        "Predict",
        predict(signature_name="nope"),
        C.INVALID_ARGUMENT,
        "signature 'nope' not found",
    ),
    (
        "predict: no inputs",
        "Predict",
        predict(inputs={}),
        C.INVALID_ARGUMENT,
        "missing input(s) ['image']",
    ),
    (
        "predict: unknown input",
        "Predict",
        predict(inputs={"img": IMAGE}),
        C.INVALID_ARGUMENT,
        "unknown input(s) ['img']",
    ),
    (
        "predict: extra input",
        "Predict",
        predict(inputs={"image": IMAGE, "x": IMAGE}),
        C.INVALID_ARGUMENT,
        "unknown input(s) ['x']",
    ),
    (
        "predict: wrong shape",
        "Predict",
        predict(inputs={"image": np.zeros((1, 784), "f4")}),
        C.INVALID_ARGUMENT,
        "expects shape [-1, 28, 28, 1]",
    ),
    (
        "predict: strings for pixels",
        "Predict",
        predict(inputs={"image": np.array([b"x"] * 784, object).reshape(1, 28, 28, 1)}),
        C.INVALID_ARGUMENT,
        "input 'image' expects DT_FLOAT",
    ),
    (
        "predict: booleans for pixels",
        "Predict",
        predict(inputs={"image": np.zeros((1, 28, 28, 1), bool)}),
        C.INVALID_ARGUMENT,
        "input 'image' expects DT_FLOAT",
    ),
    (
        "predict: empty batch",
        "Predict",
        predict(inputs={"image": np.zeros((0, 28, 28, 1), "f4")}),
        C.INVALID_ARGUMENT,
        "batch size 0",
    ),
    (
        "predict: tensor_content too short",
        "Predict",
        predict(inputs={"image": tensor(F, [1, 28, 28, 1], b"\x00" * 100)}),
        C.INVALID_ARGUMENT,
        "input 'image' is not a valid DT_FLOAT tensor",
    ),
    (
        "predict: negative dimension",
        "Predict",
        predict(inputs={"image": tensor(F, [-1, 28])}),
        C.INVALID_ARGUMENT,
        "input 'image'",
    ),
    (
        "predict: unknown dtype enum",
        "Predict",
        predict(inputs={"image": tensor(999, [1])}),
        C.INVALID_ARGUMENT,
        "input 'image'",
    ),
    (
        "predict: float_val for a string input",
        "Predict",
        predict("sentiment", {"text": tensor(F, [1], float_val=[1.0])}),
        C.INVALID_ARGUMENT,
        "input 'text' expects strings",
    ),
    (
        "predict: unknown output filter",
        "Predict",
        predict(output_filter=["nope"]),
        C.INVALID_ARGUMENT,
        "unknown output(s) ['nope']",
    ),
    (
        "predict: int64 values for pixels beyond float range",
        "Predict",
        predict(inputs={"image": tensor(I64, [1, 28, 28, 1], int64_val=[2**62] * 784)}),
        C.OK,
        "",
    ),  # int64 -> float32 is a lossy but valid cast, as TF Serving's JSON allows
    (
        "predict: batch beyond what the model takes",
        "Predict",
        predict(inputs={"image": np.zeros((4097, 28, 28, 1), "f4")}),
        C.INVALID_ARGUMENT,
        "takes at most 4096 rows",
    ),
    (
        "metadata: no fields",
        "GetModelMetadata",
        metadata(fields=()),
        C.INVALID_ARGUMENT,
        "metadata_field must name at least one field",
    ),
    (
        "metadata: unsupported field",
        "GetModelMetadata",
        metadata(fields=("signature_def", "x")),
        C.INVALID_ARGUMENT,
        "metadata field(s) ['x'] are not supported",
    ),
    (
        "metadata: unknown model",
        "GetModelMetadata",
        metadata(name="nope"),
        C.NOT_FOUND,
        "model 'nope'",
    ),
    (
        "metadata: unknown version",
        "GetModelMetadata",
        metadata_of_version(99),
        C.NOT_FOUND,
        "version 99",
    ),
    (
        "classify: not a classifier",
        "Classify",
        classify("sunspots", "history", [1.0] * 27),
        C.UNIMPLEMENTED,
        "is not a classification model",
    ),
    (
        "classify: no examples",
        "Classify",
        classify(examples=0),
        C.INVALID_ARGUMENT,
        "holds no examples",
    ),
    (
        "classify: feature missing",
        "Classify",
        classify(values=None),
        C.INVALID_ARGUMENT,
        "lacks the feature 'image'",
    ),
    (
        "classify: wrong value count",
        "Classify",
        classify(values=[0.0] * 10),
        C.INVALID_ARGUMENT,
        "has 10 values; the input needs 784",
    ),
    (
        "classify: bytes for an image",
        "Classify",
        classify(values=[b"x"], kind="bytes_list"),
        C.INVALID_ARGUMENT,
        "must be a float_list or int64_list",
    ),
    (
        "classify: floats for a text",
        "Classify",
        classify("sentiment", "text", [1.0]),
        C.INVALID_ARGUMENT,
        "must be a bytes_list with one value",
    ),
    (
        "classify: two strings for a text",
        "Classify",
        classify("sentiment", "text", [b"a", b"b"], kind="bytes_list"),
        C.INVALID_ARGUMENT,
        "must be a bytes_list with one value",
    ),
    (
        "status: no model name",
        "GetModelStatus",
        status(name=""),
        C.INVALID_ARGUMENT,
        "model_spec.name is required",
    ),
    ("status: unknown model", "GetModelStatus", status(name="nope"), C.NOT_FOUND, "model 'nope'"),
    ("status: unknown version", "GetModelStatus", status(version=99), C.NOT_FOUND, "version 99"),
    ("status: unknown label", "GetModelStatus", status(label="nope"), C.NOT_FOUND, "label 'nope'"),
    (
        "reload config",
        "HandleReloadConfigRequest",
        model_management_pb2.ReloadConfigRequest(),
        C.UNIMPLEMENTED,
        "config reload over gRPC is not supported",
    ),
]


@pytest.fixture(scope="module")
def stubs(labelled_server):
    with grpc.insecure_channel(f"127.0.0.1:{labelled_server.grpc_port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=30)
        yield (
            prediction_service_pb2_grpc.PredictionServiceStub(channel),
            model_service_pb2_grpc.ModelServiceStub(channel),
        )


@pytest.mark.parametrize(
    ("kind", "method", "request_", "code", "says"), CASES, ids=[c[0] for c in CASES]
)
def test_hostile_grpc_calls_get_their_status_code(stubs, kind, method, request_, code, says):
    prediction, models = stubs
    stub = models if method in ("GetModelStatus", "HandleReloadConfigRequest") else prediction
    try:
        getattr(stub, method)(request_, timeout=30)
        got, details = C.OK, ""
    except grpc.RpcError as exc:
        got, details = exc.code(), exc.details()
    assert (got, says in details) == (code, True), details
    assert "Traceback" not in details and "/tmp/" not in details
    assert prediction.Predict(predict(), timeout=30).outputs["probabilities"].tensor_shape.dim


def test_a_message_over_the_size_limit_is_resource_exhausted(labelled_server, stubs):
    prediction, _ = stubs
    huge = predict(inputs={"image": tensor(F, [1], b"\x00" * (65 * 2**20))})
    with pytest.raises(grpc.RpcError) as info:
        prediction.Predict(huge, timeout=60)
    assert info.value.code() is C.RESOURCE_EXHAUSTED
    assert "larger than max" in info.value.details()
    assert prediction.Predict(predict(), timeout=30).outputs["probabilities"].tensor_shape.dim
