"""TensorFlow Serving REST v1 conformance: URLs, formats, status codes and exact bodies."""

from __future__ import annotations

import base64

import numpy as np
import orjson
import pytest

IMG = np.arange(28 * 28, dtype=np.float32).reshape(28, 28, 1) % 256


def img_list(n=1):
    return [IMG.tolist()] * n


def test_status_lists_every_version_newest_first(client):
    body = client.get("/v1/models/digits").get_json()
    assert body == {
        "model_version_status": [
            {
                "version": "2",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            },
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            },
        ]
    }


@pytest.mark.parametrize(
    ("url", "version"),
    [("/v1/models/digits/versions/1", "1"), ("/v1/models/digits/labels/canary", "2")],
)
def test_status_of_one_version_or_label(client, url, version):
    (status,) = client.get(url).get_json()["model_version_status"]
    assert status["version"] == version and status["state"] == "AVAILABLE"


def test_failed_version_reports_its_error(client):
    (status,) = client.get("/v1/models/broken").get_json()["model_version_status"]
    assert status["state"] == "END" and status["status"]["error_code"] == "UNKNOWN"
    assert "failed to load broken version 1" in status["status"]["error_message"]


def test_model_list(client):
    models = {m["name"]: m for m in client.get("/v1/models").get_json()["models"]}
    assert {"digits", "sentiment", "sunspots", "tumor-anomaly", "broken"} <= set(models)
    assert models["digits"]["labels"] == {"stable": 1, "canary": 2}


def test_metadata_has_tf_serving_shape(client):
    body = client.get("/v1/models/digits/versions/1/metadata").get_json()
    assert body["model_spec"] == {"name": "digits", "signature_name": "", "version": "1"}
    sig = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["method_name"] == "tensorflow/serving/predict"
    image = sig["inputs"]["image"]
    assert image["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in image["tensor_shape"]["dim"]] == ["-1", "28", "28", "1"]
    assert sig["outputs"]["probabilities"]["dtype"] == "DT_FLOAT"


def test_predict_row_format(client):
    r = client.post("/v1/models/digits:predict", json={"instances": img_list(3)})
    assert r.status_code == 200
    preds = np.array(r.get_json()["predictions"])
    assert preds.shape == (3, 10)
    np.testing.assert_allclose(preds.sum(axis=1), 1.0, atol=1e-5)


def test_predict_columnar_format_matches_rows(client):
    rows = client.post("/v1/models/digits:predict", json={"instances": img_list(2)}).get_json()
    cols = client.post("/v1/models/digits:predict", json={"inputs": img_list(2)}).get_json()
    keyed = client.post(
        "/v1/models/digits:predict", json={"inputs": {"image": img_list(2)}}
    ).get_json()
    np.testing.assert_allclose(rows["predictions"], cols["outputs"], atol=1e-6)
    np.testing.assert_allclose(keyed["outputs"], cols["outputs"], atol=1e-6)


def test_row_objects_keyed_by_input_name(client):
    r = client.post("/v1/models/digits:predict", json={"instances": [{"image": IMG.tolist()}]})
    assert r.status_code == 200 and len(r.get_json()["predictions"]) == 1


def test_versions_and_labels_address_different_models(client):
    def probs(url):
        r = client.post(url, json={"instances": img_list()})
        assert r.status_code == 200, r.get_json()
        return np.array(r.get_json()["predictions"])

    v1, v2 = (
        probs("/v1/models/digits/versions/1:predict"),
        probs("/v1/models/digits/versions/2:predict"),
    )
    assert not np.allclose(v1, v2)  # different seeds -> different weights
    np.testing.assert_allclose(probs("/v1/models/digits/labels/stable:predict"), v1)
    np.testing.assert_allclose(probs("/v1/models/digits/labels/canary:predict"), v2)
    np.testing.assert_allclose(probs("/v1/models/digits:predict"), v2)  # newest


def test_several_outputs_row_and_columnar(client):
    x = np.full((2, 30), 10.0).tolist()
    rows = client.post("/v1/models/tumor-anomaly:predict", json={"instances": x}).get_json()
    assert set(rows["predictions"][0]) == {"score", "contributions", "reconstruction"}
    cols = client.post("/v1/models/tumor-anomaly:predict", json={"inputs": x}).get_json()
    assert set(cols["outputs"]) == {"score", "contributions", "reconstruction"}
    assert len(cols["outputs"]["score"]) == 2


def test_string_input_plain_and_b64(client):
    text = "the flight was great, thanks!"
    plain = client.post("/v1/models/sentiment:predict", json={"instances": [text]})
    b64 = client.post(
        "/v1/models/sentiment:predict",
        json={"instances": [{"b64": base64.b64encode(text.encode()).decode()}]},
    )
    assert plain.status_code == b64.status_code == 200
    assert plain.get_json() == b64.get_json()
    assert np.array(plain.get_json()["predictions"]).shape == (1, 3)


def test_signature_name_selects_a_signature(client):
    ok = client.post(
        "/v1/models/digits:predict",
        json={"signature_name": "serving_default", "instances": img_list()},
    )
    assert ok.status_code == 200
    bad = client.post(
        "/v1/models/digits:predict", json={"signature_name": "nope", "instances": img_list()}
    )
    assert bad.status_code == 400
    assert "signature 'nope' not found" in bad.get_json()["error"]


def test_numbers_parsed_straight_to_numpy_predict_as_the_general_path(client):
    """A NaN literal anywhere sends the body through orjson/json, the general path."""
    images = img_list(3)
    fast = client.post("/v1/models/digits:predict", json={"instances": images})
    # a third image of NaN pixels: rows are independent, so the first three must agree
    body = orjson.dumps({"instances": images})
    general = client.post(
        "/v1/models/digits:predict",
        data=body[:-2] + b", " + orjson.dumps([[[0.0]] * 28] * 28).replace(b"0.0", b"NaN") + b"]}",
    )
    assert fast.status_code == general.status_code == 200
    # Not bit for bit: a batch of four rows may take another oneDNN kernel than one of three,
    # which sums in another order (differences of a few 1e-8 seen).
    np.testing.assert_allclose(
        general.get_json()["predictions"][:3], fast.get_json()["predictions"], rtol=1e-5, atol=1e-6
    )


def test_nan_and_infinity_literals_are_accepted(client):
    row = ", ".join(["NaN", "Infinity"] + ["1.0"] * 28)
    r = client.post("/v1/models/tumor-anomaly:predict", data='{"instances": [[' + row + "]]}")
    assert r.status_code == 200
    assert r.get_json()["predictions"][0]["score"] is None  # a NaN result travels as null


ERRORS = [
    ("/v1/models/nope:predict", {"instances": [1]}, 404, "model 'nope' not found"),
    (
        "/v1/models/digits/versions/9:predict",
        {"instances": [1]},
        404,
        "version 9 of model 'digits' is not available",
    ),
    (
        "/v1/models/digits/labels/beta:predict",
        {"instances": [1]},
        404,
        "label 'beta' not found for model 'digits'",
    ),
    (
        "/v1/models/digits:predict",
        {},
        400,
        "the request must have exactly one of 'instances' (row format) or 'inputs' "
        "(columnar format)",
    ),
    (
        "/v1/models/digits:predict",
        {"instances": [], "inputs": []},
        400,
        "the request must have exactly one of 'instances' (row format) or 'inputs' "
        "(columnar format)",
    ),
    (
        "/v1/models/digits:predict",
        {"instances": []},
        400,
        "'instances' is empty; send at least one example",
    ),
    (
        "/v1/models/digits:predict",
        {"instances": [[1.0, 2.0]]},
        400,
        "input 'image' expects shape [-1, 28, 28, 1], got [1, 2]",
    ),
    (
        "/v1/models/digits:predict",
        {"instances": [[["a"]]]},
        400,
        "input 'image' is not a DT_FLOAT [-1, 28, 28, 1] tensor: string values",
    ),
    (
        "/v1/models/digits:predict",
        {"instances": [[1.0], [1.0, 2.0]]},
        400,
        "input 'image' is not a DT_FLOAT [-1, 28, 28, 1] tensor: ragged nested lists (examples "
        "or rows of different lengths)",
    ),
    (  # 784 values but one row of 29 pixels and one of 27: ragged, not a 28x28 image
        "/v1/models/digits:predict",
        {"instances": [[[[0.0]] * 29, *[[[0.0]] * 28] * 26, [[0.0]] * 27]]},
        400,
        "input 'image' is not a DT_FLOAT [-1, 28, 28, 1] tensor: ragged nested lists (examples "
        "or rows of different lengths)",
    ),
    (
        "/v1/models/digits:predict",
        {"instances": [[1.0] * 16]},
        400,
        "input 'image' expects shape [-1, 28, 28, 1], got [1, 16]",
    ),
    (
        "/v1/models/sentiment:predict",
        {"instances": [[0.5] * 16]},
        400,
        "input 'text' expects strings or {\"b64\": ...} objects, got float",
    ),
    (
        "/v1/models/sentiment:predict",
        {"instances": [3]},
        400,
        "input 'text' expects strings or {\"b64\": ...} objects, got int",
    ),
    (
        "/v1/models/digits:predict",
        {"inputs": {"pixels": [1]}},
        400,
        "unknown input(s) ['pixels']; the signature takes ['image']",
    ),
]


@pytest.mark.parametrize(("url", "body", "status", "message"), ERRORS)
def test_errors_have_exact_status_and_body(client, url, body, status, message):
    r = client.post(url, json=body)
    assert (r.status_code, r.get_json()) == (status, {"error": message})


def test_malformed_json(client):
    r = client.post("/v1/models/digits:predict", data=b'{"instances": [1,')
    assert r.status_code == 400
    assert r.get_json()["error"].startswith("malformed JSON in the request body")


def test_body_must_be_an_object(client):
    r = client.post("/v1/models/digits:predict", data=b"[1, 2]")
    assert (r.status_code, r.get_json()) == (
        400,
        {"error": "the request body must be a JSON object, got list"},
    )


def test_unknown_verb_and_wrong_methods(client):
    r = client.post("/v1/models/digits:explode", json={})
    assert r.status_code == 404 and "unknown verb ':explode'" in r.get_json()["error"]
    r = client.get("/v1/models/digits:predict")
    assert (r.status_code, r.get_json()) == (405, {"error": "predict requires POST"})
    r = client.get("/v1/nothing/here")
    assert r.status_code == 404 and r.get_json() == {
        "error": "no such endpoint: GET /v1/nothing/here"
    }


def test_request_id_is_honoured_or_generated(client):
    r = client.get("/v1/models/digits", headers={"X-Request-ID": "abc-123"})
    assert r.headers["X-Request-ID"] == "abc-123"
    generated = {client.get("/v1/models/digits").headers["X-Request-ID"] for _ in range(50)}
    assert len(generated) == 50  # unique
    assert all(len(rid) == 32 and int(rid, 16) >= 0 for rid in generated)  # 32 hex digits


def test_body_size_limit(model_repo):
    from service import create_app
    from service.settings import Settings

    app = create_app(
        Settings(
            model_repository=model_repo, poll_interval_s=0, grpc_port=0, max_request_bytes=1000
        )
    )
    r = app.test_client().post("/v1/models/digits:predict", data=b"x" * 5000)
    assert (r.status_code, r.get_json()) == (
        413,
        {"error": "request body of 5000 bytes exceeds the limit of 1000 bytes"},
    )
