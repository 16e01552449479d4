"""TensorFlow Serving gRPC conformance, with the tensorflow-serving-api stubs over a real
channel to a real gunicorn server (every worker listening on the shared port)."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
import tritonclient.http as triton
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

DIGITS = np.arange(3 * 28 * 28, dtype=np.float32).reshape(3, 28, 28, 1) * 7 % 256
TIMEOUT = 30


@pytest.fixture(scope="module")
def server(labelled_server):
    return labelled_server


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
        yield channel


@pytest.fixture(scope="module")
def prediction(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


def predict_request(model="digits", inputs=None, version=None, label=None, output_filter=()):
    request = predict_pb2.PredictRequest(output_filter=list(output_filter))
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    for name, value in (inputs if inputs is not None else {"image": DIGITS}).items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def grpc_error(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=TIMEOUT)
    return info.value


@pytest.mark.parametrize(
    ("version", "label", "expected"),
    [(None, None, 2), (1, None, 1), (2, None, 2), (None, "stable", 1), (None, "canary", 2)],
)
def test_predict_by_version_label_or_latest(prediction, version, label, expected):
    response = prediction.Predict(predict_request(version=version, label=label), timeout=TIMEOUT)
    assert response.model_spec.name == "digits"
    assert response.model_spec.version.value == expected
    assert response.model_spec.signature_name == "serving_default"
    probabilities = tf.make_ndarray(response.outputs["probabilities"])
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)


def test_versions_really_differ(prediction):
    one, two = (
        tf.make_ndarray(
            prediction.Predict(predict_request(version=v), timeout=TIMEOUT).outputs["probabilities"]
        )
        for v in (1, 2)
    )
    assert not np.allclose(one, two)


def test_output_filter(prediction):
    features = {"features": np.full((2, 30), 0.5, np.float32)}
    everything = prediction.Predict(predict_request("tumor-anomaly", features), timeout=TIMEOUT)
    assert len(everything.outputs) == 3
    chosen = sorted(everything.outputs)[0]
    filtered = prediction.Predict(
        predict_request("tumor-anomaly", features, output_filter=[chosen]), timeout=TIMEOUT
    )
    assert list(filtered.outputs) == [chosen]
    np.testing.assert_array_equal(
        tf.make_ndarray(filtered.outputs[chosen]), tf.make_ndarray(everything.outputs[chosen])
    )
    error = grpc_error(prediction.Predict, predict_request(output_filter=["logits"]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "unknown output(s) ['logits']; the signature has ['probabilities']"


def test_get_model_metadata(prediction):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "digits"
    request.model_spec.version_label = "stable"
    response = prediction.GetModelMetadata(request, timeout=TIMEOUT)
    assert (response.model_spec.name, response.model_spec.version.value) == ("digits", 1)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_map)
    signature = signature_map.signature_def["serving_default"]
    assert signature.method_name == "tensorflow/serving/predict"
    image = signature.inputs["image"]
    assert image.dtype == tf.float32.as_datatype_enum
    assert [d.size for d in image.tensor_shape.dim] == [-1, 28, 28, 1]
    assert list(signature.outputs) == ["probabilities"]
    del request.metadata_field[:]
    error = grpc_error(prediction.GetModelMetadata, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_get_model_status(channel):
    stub = model_service_pb2_grpc.ModelServiceStub(channel)
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "digits"
    response = stub.GetModelStatus(request, timeout=TIMEOUT)
    available = get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert [(s.version, s.state, s.status.error_code) for s in response.model_version_status] == [
        (2, available, 0),
        (1, available, 0),
    ]
    request.model_spec.version_label = "stable"
    (only,) = stub.GetModelStatus(request, timeout=TIMEOUT).model_version_status
    assert only.version == 1
    request.model_spec.name = "nope"
    assert grpc_error(stub.GetModelStatus, request).code() == grpc.StatusCode.NOT_FOUND


def test_classify_digits(prediction):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "digits"
    for image in DIGITS:
        example = request.input.example_list.examples.add()
        example.features.feature["image"].float_list.value.extend(image.ravel().tolist())
    response = prediction.Classify(request, timeout=TIMEOUT)
    assert response.model_spec.version.value == 2
    probabilities = tf.make_ndarray(
        prediction.Predict(predict_request(), timeout=TIMEOUT).outputs["probabilities"]
    )
    assert len(response.result.classifications) == len(DIGITS)
    for classification, row in zip(response.result.classifications, probabilities, strict=True):
        labels = [c.label for c in classification.classes]
        scores = [c.score for c in classification.classes]
        assert sorted(labels) == [str(d) for d in range(10)]
        assert scores == sorted(scores, reverse=True)
        assert labels[0] == str(int(row.argmax()))
        np.testing.assert_allclose(scores, np.sort(row)[::-1], rtol=0, atol=1e-6)


def test_classify_errors(prediction):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "digits"
    request.input.example_list.examples.add().features.feature["image"].float_list.value.extend(
        [0.0] * 10
    )
    error = grpc_error(prediction.Classify, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == (
        "example 0: feature 'image' has 10 values; the input needs 784 "
        "(shape [28, 28, 1] flattened)"
    )
    request.model_spec.name = "sunspots"
    assert grpc_error(prediction.Classify, request).code() == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize(
    ("request_", "code", "details"),
    [
        (predict_request("nope"), grpc.StatusCode.NOT_FOUND, "model 'nope' not found"),
        (
            predict_request(version=9),
            grpc.StatusCode.NOT_FOUND,
            "version 9 of model 'digits' is not available",
        ),
        (
            predict_request(label="beta"),
            grpc.StatusCode.NOT_FOUND,
            "label 'beta' not found for model 'digits'",
        ),
        (
            predict_request(inputs={"image": DIGITS[..., 0]}),
            grpc.StatusCode.INVALID_ARGUMENT,
            "input 'image' expects shape [-1, 28, 28, 1], got [3, 28, 28]",
        ),
        (
            predict_request(inputs={"image": np.array([b"not pixels"], dtype=object)}),
            grpc.StatusCode.INVALID_ARGUMENT,
            "input 'image' expects DT_FLOAT [-1, 28, 28, 1], got values of type string/object",
        ),
        (
            predict_request(inputs={}),
            grpc.StatusCode.INVALID_ARGUMENT,
            "missing input(s) ['image']; the signature takes ['image']",
        ),
    ],
)
def test_status_codes(prediction, request_, code, details):
    error = grpc_error(prediction.Predict, request_)
    assert (error.code(), error.details()) == (code, details)


def test_health_service(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "tensorflow.serving.PredictionService"):
        response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT)
        assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_requests_are_counted_with_api_grpc(server, prediction):
    prediction.Predict(predict_request(), timeout=TIMEOUT)
    grpc_error(prediction.Predict, predict_request("nope"))
    text = requests.get(server.url + "/metrics", timeout=10).text
    counted = [
        line
        for line in text.splitlines()
        if line.startswith("serving_requests_total{") and 'api="grpc"' in line
    ]
    assert any(
        'endpoint="predict"' in line and 'model="digits"' in line and 'status="OK"' in line
        for line in counted
    ), counted
    assert any('status="NOT_FOUND"' in line for line in counted), counted
    assert any(
        line.startswith("serving_request_duration_seconds_count{") and 'api="grpc"' in line
        for line in text.splitlines()
    )


def test_parity_rest_v1_v2_and_grpc(server, prediction):
    """One input, three protocols, one inference path: identical outputs."""
    v1 = requests.post(
        server.url + "/v1/models/digits/versions/2:predict",
        json={"instances": DIGITS.tolist()},
        timeout=TIMEOUT,
    )
    assert v1.status_code == 200
    tensor = triton.InferInput("image", list(DIGITS.shape), "FP32").set_data_from_numpy(DIGITS)
    v2 = triton.InferenceServerClient(server.url.removeprefix("http://")).infer(
        "digits", [tensor], model_version="2"
    )
    over_grpc = prediction.Predict(predict_request(version=2), timeout=TIMEOUT)
    expected = tf.make_ndarray(over_grpc.outputs["probabilities"])
    for other in (
        np.array(v1.json()["predictions"], dtype=np.float32),
        v2.as_numpy("probabilities"),
    ):
        np.testing.assert_allclose(other, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "dtype", ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]
)
@pytest.mark.parametrize("shape", [(2, 3), (0, 4), (), (1, 28, 28, 1)])
def test_tensor_proto_fast_paths_match_tensorflow(dtype, shape):
    from service.codecs.tensor_proto import from_ndarray, to_ndarray

    array = np.asarray(np.random.default_rng(0).random(shape) * 100).astype(dtype)
    assert from_ndarray(array) == tf.make_tensor_proto(array)  # the same proto, field by field
    back = to_ndarray("x", tf.make_tensor_proto(array))
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
