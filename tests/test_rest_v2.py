"""Open Inference Protocol (KServe V2) conformance.

A real V2 client (``tritonclient.http``) against a real gunicorn server proves
compatibility; the Flask test client pins exact status codes and bodies of bad requests
and the repository extension.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import orjson
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from service.codecs import v2
from service.errors import InvalidInput
from tests.conftest import serving_app

DIGITS = np.arange(4 * 28 * 28, dtype=np.float32).reshape(4, 28, 28, 1) % 256
TEXTS = np.array([b"a wonderful, moving film", b"dull and far too long"], dtype=object)
HEADER = "Inference-Header-Content-Length"


@pytest.fixture(scope="module")
def server(labelled_server):
    return labelled_server


@pytest.fixture(scope="module")
def triton_client(server):
    return triton.InferenceServerClient(server.url.removeprefix("http://"))


def digits_input(x: np.ndarray, binary: bool = True) -> triton.InferInput:
    tensor = triton.InferInput("image", list(x.shape), "FP32")
    return tensor.set_data_from_numpy(x, binary_data=binary)


# ---- real client, real server ----------------------------------------------------------
def test_health_and_server_metadata(triton_client):
    assert triton_client.is_server_live()
    assert triton_client.is_server_ready()
    assert triton_client.is_model_ready("digits")
    assert triton_client.is_model_ready("digits", "1")
    assert not triton_client.is_model_ready("digits", "9")
    assert not triton_client.is_model_ready("nope")
    metadata = triton_client.get_server_metadata()
    assert metadata["name"] == "keras-serving"
    assert metadata["extensions"] == ["binary_tensor_data", "classification", "model_repository"]


def test_model_metadata(triton_client):
    assert triton_client.get_model_metadata("digits") == {
        "name": "digits",
        "versions": ["1", "2"],
        "platform": "tensorflow_savedmodel",
        "inputs": [{"name": "image", "datatype": "FP32", "shape": [-1, 28, 28, 1]}],
        "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]}],
    }
    sentiment = triton_client.get_model_metadata("sentiment", "1")
    assert sentiment["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]


def test_infer_binary_and_json_agree(triton_client):
    binary = triton_client.infer("digits", [digits_input(DIGITS)], request_id="r1")
    as_json = triton_client.infer(
        "digits",
        [digits_input(DIGITS, binary=False)],
        outputs=[triton.InferRequestedOutput("probabilities", binary_data=False)],
    )
    assert binary.get_response()["id"] == "r1"
    assert binary.get_output("probabilities")["parameters"] == {"binary_data_size": 4 * 10 * 4}
    assert "data" in as_json.get_output("probabilities")
    probabilities = binary.as_numpy("probabilities")
    assert probabilities.shape == (4, 10) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(as_json.as_numpy("probabilities"), probabilities, rtol=0, atol=1e-6)


def test_infer_by_version(triton_client):
    v1 = triton_client.infer("digits", [digits_input(DIGITS)], model_version="1")
    v2 = triton_client.infer("digits", [digits_input(DIGITS)])
    assert v1.get_response()["model_version"] == "1"
    assert v2.get_response()["model_version"] == "2"
    assert not np.allclose(v1.as_numpy("probabilities"), v2.as_numpy("probabilities"))


@pytest.mark.parametrize("binary", [True, False])
def test_bytes_input(triton_client, binary):
    text = triton.InferInput("text", [len(TEXTS)], "BYTES")
    text.set_data_from_numpy(TEXTS, binary_data=binary)
    probabilities = triton_client.infer("sentiment", [text]).as_numpy("probabilities")
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)


def test_classification_extension(triton_client):
    raw = triton_client.infer(
        "sentiment", [triton.InferInput("text", [2], "BYTES").set_data_from_numpy(TEXTS)]
    )
    top = triton_client.infer(
        "sentiment",
        [triton.InferInput("text", [2], "BYTES").set_data_from_numpy(TEXTS)],
        outputs=[triton.InferRequestedOutput("probabilities", class_count=2)],
    )
    classes = top.as_numpy("probabilities")
    assert classes.shape == (2, 2)
    labels = ["negative", "neutral", "positive"]
    for row, probabilities in zip(classes, raw.as_numpy("probabilities"), strict=True):
        entries = [c.decode().split(":") for c in row]  # "<score>:<index>:<label>"
        order = np.argsort(-probabilities)[:2]
        assert [int(index) for _, index, _ in entries] == order.tolist()
        assert [label for _, _, label in entries] == [labels[i] for i in order]
        np.testing.assert_allclose(
            [float(score) for score, _, _ in entries], probabilities[order], rtol=0, atol=1e-6
        )


def test_unknown_model_and_wrong_shape(triton_client):
    with pytest.raises(InferenceServerException) as unknown:
        triton_client.infer("nope", [digits_input(DIGITS)])
    assert unknown.value.status() == "404"
    assert unknown.value.message() == "model 'nope' not found"
    with pytest.raises(InferenceServerException) as shape:
        triton_client.infer("digits", [digits_input(DIGITS[..., 0])])
    assert shape.value.status() == "400"
    assert shape.value.message() == ("input 'image' expects shape [-1, 28, 28, 1], got [4, 28, 28]")


# ---- the codec on every datatype (no model needed) -------------------------------------
def _serialize_bytes(values) -> bytes:
    return b"".join(len(v).to_bytes(4, "little") + v for v in values)


@pytest.mark.parametrize(
    ("datatype", "values"),
    [
        ("BOOL", np.array([True, False])),
        ("INT8", np.array([-3, 4], np.int8)),
        ("UINT64", np.array([1, 2**63 + 5], np.uint64)),
        ("INT64", np.array([-(2**40), 7])),
        ("FP16", np.array([1.5, -2], np.float16)),
        ("FP64", np.array([0.1, -2e300])),
        ("BF16", np.array([1.5, -2], ml_dtypes.bfloat16)),
        ("BYTES", np.array([b"ab", b""], object)),
    ],
)
def test_codec_round_trips_every_datatype(datatype, values):
    raw = _serialize_bytes(values) if datatype == "BYTES" else values.tobytes()
    head = orjson.dumps(
        {
            "parameters": {"binary_data_output": True},
            "inputs": [
                {
                    "name": "x",
                    "shape": [1, 2],
                    "datatype": datatype,
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
        }
    )
    request = v2.decode_request(head + raw, str(len(head)), {})
    np.testing.assert_array_equal(request.inputs["x"], values.reshape(1, 2))
    body, length = v2.encode_response("m", "1", request, {"y": request.inputs["x"]}, lambda _: None)
    assert orjson.loads(body[:length])["outputs"][0]["datatype"] == datatype
    assert body[length:] == raw  # binary out is byte-identical to binary in
    data = [v.decode() for v in values] if datatype == "BYTES" else values.tolist()
    if datatype == "BF16":
        data = values.astype(np.float32).tolist()
    as_json = v2.decode_request(
        orjson.dumps({"inputs": [{"name": "x", "shape": [2], "datatype": datatype, "data": data}]}),
        None,
        {},
    )
    np.testing.assert_array_equal(as_json.inputs["x"], values)


@pytest.mark.parametrize(
    ("tensor", "payload", "error"),
    [
        (
            {"datatype": "INT8", "data": [1, 300]},
            b"",
            "input 'x' has values outside the range of INT8",
        ),
        (
            {"datatype": "INT32", "data": [1.5, 2]},
            b"",
            "input 'x' is INT32 but 'data' holds non-integer values",
        ),
        (
            {"datatype": "BOOL", "data": [1, 0]},
            b"",
            "input 'x' is BOOL but 'data' holds 'i' values; use true/false",
        ),
        (
            {"datatype": "BYTES", "parameters": {"binary_data_size": 5}},
            b"\x09\0\0\0a",
            "input 'x': BYTES element of 9 bytes at byte 4 goes beyond its binary_data_size",
        ),
        (
            {"datatype": "FP32", "parameters": {"binary_data_size": 8}},
            b"\0" * 12,
            "the body holds 4 bytes of binary data after the last binary input (check "
            "binary_data_size)",
        ),
        (
            {"datatype": "FP32", "parameters": {"binary_data_size": 6}},
            b"\0" * 6,
            "input 'x': binary_data_size 6 does not match 2 FP32 elements (8 bytes)",
        ),
    ],
)
def test_codec_errors(tensor, payload, error):
    head = orjson.dumps({"inputs": [{"name": "x", "shape": [2], **tensor}]})
    with pytest.raises(InvalidInput) as info:
        v2.decode_request(head + payload, str(len(head)), {})
    assert info.value.message == error


def test_classification_without_labels_gives_score_and_index():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]], np.float32)
    assert v2.classify(scores, 2, None).tolist() == [
        [b"0.700000:1", b"0.200000:2"],
        [b"0.500000:0", b"0.300000:2"],
    ]
    assert v2.classify(scores, 5, ["a", "b", "c"])[0].tolist() == [
        b"0.700000:1:b",
        b"0.200000:2:c",
        b"0.100000:0:a",
    ]


# ---- exact bodies (Flask test client, the shared test repository) ----------------------
def infer_json(client, body, model="digits"):
    return client.post(
        f"/v2/models/{model}/infer", data=orjson.dumps(body), content_type="application/json"
    )


def image_tensor(**overrides) -> dict:
    return {
        "name": "image",
        "shape": [1, 28, 28, 1],
        "datatype": "FP32",
        "data": DIGITS[0].ravel().tolist(),
        **overrides,
    }


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            {"inputs": [image_tensor(datatype="FP64")]},
            "input 'image' has datatype FP64 but the model expects FP32",
        ),
        (
            {"inputs": [image_tensor(datatype="FLOAT")]},
            "input 'image': unknown datatype 'FLOAT'; expected one of BOOL, UINT8, UINT16, UINT32, "
            "UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BF16, BYTES",
        ),
        (
            {"inputs": [image_tensor(data=list(range(10)))]},
            "input 'image' has 10 elements but shape [1, 28, 28, 1] needs 784",
        ),
        (
            {"inputs": [image_tensor(name="pixels")]},
            "unknown input(s) ['pixels']; the signature takes ['image']",
        ),
        (
            {"inputs": [image_tensor()], "outputs": [{"name": "logits"}]},
            "unknown output(s) ['logits']; the signature has ['probabilities']",
        ),
        ({"inputs": []}, "'inputs' must be a non-empty list of tensors"),
        (
            {"inputs": [image_tensor(data=[[1, 2], [3]])]},
            "input 'image' is not a FP32 tensor: ragged nested lists",
        ),
    ],
)
def test_bad_requests(client, body, error):
    response = infer_json(client, body)
    assert (response.status_code, response.get_json()) == (400, {"error": error})


def test_malformed_json(client):
    response = client.post("/v2/models/digits/infer", data=b"{not json")
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "malformed JSON in the request body: Expecting "
        "property name enclosed in double quotes: line 1 column 2 "
        "(char 1)"
    }


def binary_request(client, header: dict, payload: bytes, header_length: int | None = None):
    head = orjson.dumps(header)
    length = len(head) if header_length is None else header_length
    return client.post(
        "/v2/models/digits/infer",
        data=head + payload,
        headers={HEADER: str(length)},
        content_type="application/octet-stream",
    )


def test_binary_data_size_beyond_the_body(client):
    tensor = {
        "name": "image",
        "shape": [1, 28, 28, 1],
        "datatype": "FP32",
        "parameters": {"binary_data_size": 3136},
    }
    response = binary_request(client, {"inputs": [tensor]}, b"\0" * 100)
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "input 'image': binary_data_size 3136 goes beyond "
        "the body (100 bytes of binary data remain)"
    }
    response = binary_request(client, {"inputs": [tensor]}, b"", header_length=10**6)
    assert response.status_code == 400
    assert "Inference-Header-Content-Length is 1000000" in response.get_json()["error"]


def test_binary_round_trip_with_exact_headers(client):
    x = DIGITS[:2]
    header = {
        "id": "req-7",
        "parameters": {"binary_data_output": True},
        "inputs": [
            {
                "name": "image",
                "shape": [2, 28, 28, 1],
                "datatype": "FP32",
                "parameters": {"binary_data_size": x.nbytes},
            }
        ],
    }
    response = binary_request(client, header, x.tobytes())
    assert response.status_code == 200
    assert response.mimetype == "application/octet-stream"
    length = int(response.headers[HEADER])
    head = orjson.loads(response.data[:length])
    assert head == {
        "model_name": "digits",
        "model_version": "2",
        "id": "req-7",
        "outputs": [
            {
                "name": "probabilities",
                "datatype": "FP32",
                "shape": [2, 10],
                "parameters": {"binary_data_size": 80},
            }
        ],
    }
    probabilities = np.frombuffer(response.data[length:], dtype="<f4").reshape(2, 10)
    expected = infer_json(
        client, {"inputs": [image_tensor(shape=[2, 28, 28, 1], data=x.tolist())]}
    ).get_json()
    np.testing.assert_allclose(
        probabilities,
        np.array(expected["outputs"][0]["data"], dtype=np.float32).reshape(2, 10),
        rtol=0,
        atol=1e-6,
    )


def test_id_echo_and_output_filtering(client):
    outputs = [o["name"] for o in client.get("/v2/models/tumor-anomaly").get_json()["outputs"]]
    assert len(outputs) == 3
    features = {"name": "features", "shape": [2, 30], "datatype": "FP32", "data": [0.5] * 60}
    wanted = [outputs[2], outputs[0]]  # the response follows the requested order
    body = infer_json(
        client,
        {"id": "abc", "inputs": [features], "outputs": [{"name": n} for n in wanted]},
        model="tumor-anomaly",
    ).get_json()
    assert body["id"] == "abc" and body["model_name"] == "tumor-anomaly"
    assert [o["name"] for o in body["outputs"]] == wanted
    everything = infer_json(client, {"inputs": [features]}, model="tumor-anomaly").get_json()
    assert "id" not in everything
    assert sorted(o["name"] for o in everything["outputs"]) == sorted(outputs)


def test_readiness_and_addressing_errors(client):
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 503  # the shared repository holds a broken model
    assert ready.get_json()["error"].startswith("not ready: broken: failed to load broken")
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/models/digits/versions/1/ready").status_code == 200
    cases = {
        "/v2/models/digits/versions/7": (404, "version 7 of model 'digits' is not available"),
        "/v2/models/digits/versions/x/ready": (
            404,
            "version 'x' of model 'digits' is not available",
        ),
        "/v2/models/nope": (404, "model 'nope' not found"),
        "/v2/models/broken/ready": (503, "model 'broken' has no available version"),
    }
    for url, (status, error) in cases.items():
        response = client.get(url)
        assert (response.status_code, response.get_json()) == (status, {"error": error}), url


# ---- model repository extension ---------------------------------------------------------
@pytest.fixture(scope="module")
def admin_client(model_repo):
    """A second app on the same repository, with an admin token (and its own models)."""
    from service.settings import Settings

    settings = Settings(
        model_repository=model_repo, poll_interval_s=0, grpc_port=0, admin_token="s3cret"
    )
    with serving_app(settings) as app:
        yield app.test_client()


AUTH = {"Authorization": "Bearer s3cret"}


def test_repository_index(client):
    rows = {r["name"]: r for r in client.post("/v2/repository/index").get_json()}
    assert rows["digits"] == {"name": "digits", "version": "2", "state": "READY", "reason": ""}
    assert rows["broken"]["state"] == "UNAVAILABLE"
    ready = client.post("/v2/repository/index", json={"ready": True}).get_json()
    assert "broken" not in {r["name"] for r in ready} and "digits" in {r["name"] for r in ready}


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}]
)
def test_admin_token_is_enforced(admin_client, headers):
    for action in ("load", "unload"):
        response = admin_client.post(f"/v2/repository/models/sentiment/{action}", headers=headers)
        assert (response.status_code, response.get_json()) == (
            401,
            {"error": "this operation requires 'Authorization: Bearer <admin token>'"},
        )
    assert admin_client.get("/v2/models/sentiment/ready").status_code == 200


def test_unload_and_load(admin_client):
    unload = admin_client.post(
        "/v2/repository/models/sentiment/unload",
        headers=AUTH,
        json={"parameters": {"unload_dependents": False}},
    )
    assert unload.status_code == 200
    assert admin_client.get("/v2/models/sentiment/ready").status_code == 503
    rows = {r["name"]: r for r in admin_client.post("/v2/repository/index").get_json()}
    assert rows["sentiment"]["state"] == "UNAVAILABLE" and rows["sentiment"]["reason"] == "unloaded"
    assert (
        admin_client.post("/v2/repository/models/sentiment/load", headers=AUTH).status_code == 200
    )
    assert admin_client.get("/v2/models/sentiment/ready").status_code == 200


def test_load_errors(admin_client):
    missing = admin_client.post("/v2/repository/models/nope/load", headers=AUTH)
    assert (missing.status_code, missing.get_json()) == (
        404,
        {"error": "model 'nope' not found in the repository"},
    )
    broken = admin_client.post("/v2/repository/models/broken/load", headers=AUTH)
    assert broken.status_code == 503
    assert broken.get_json()["error"].startswith("model 'broken' did not load: failed to load")
    override = admin_client.post(
        "/v2/repository/models/digits/load", headers=AUTH, json={"parameters": {"config": "{}"}}
    )
    assert override.status_code == 501


def test_model_control_is_disabled_without_a_token(client):
    """The default app has no admin token: nobody may load or unload (Triton's default)."""
    for action in ("load", "unload"):
        response = client.post(
            f"/v2/repository/models/sentiment/{action}", headers={"Authorization": "Bearer x"}
        )
        assert (response.status_code, response.get_json()) == (
            403,
            {
                "error": "model control is disabled: set SERVING_ADMIN_TOKEN and send "
                "'Authorization: Bearer <token>', or SERVING_MODEL_CONTROL=open for local use"
            },
        )
    assert client.get("/v2/models/sentiment/ready").status_code == 200


@pytest.mark.parametrize(
    ("mode", "token", "status"), [("off", "s3cret", 403), ("open", None, 200), ("OPEN", None, 200)]
)
def test_model_control_modes(tiny_models, mode, token, status):
    from service.settings import Settings

    settings = Settings(
        model_repository=tiny_models,
        poll_interval_s=0,
        grpc_port=0,
        admin_token=token,
        model_control=mode,
    )
    with serving_app(settings) as app:
        client = app.test_client()
        response = client.post("/v2/repository/models/digits/unload", headers=AUTH)
        assert response.status_code == status, response.get_json()
        ready = client.get("/v2/models/digits/ready").status_code
        assert ready == (503 if status == 200 else 200)
