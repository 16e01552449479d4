"""A TF Serving model directory without our card is servable as it is (predict, status,
metadata), like TF Serving's own ``half_plus_two`` test model."""

from __future__ import annotations

import pytest

from tests.conftest import serving_app


@pytest.fixture(scope="module")
def plain_client(tmp_path_factory):
    import tensorflow as tf

    from service.settings import Settings

    class HalfPlusTwo(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def serve(self, x):
            return {"y": x / 2.0 + 2.0}

        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.float32, name="a"),
                tf.TensorSpec([None], tf.float32, name="b"),
            ]
        )
        def add(self, a, b):
            return {"sum": a + b, "name_bytes": tf.strings.as_string(a)}

    repo = tmp_path_factory.mktemp("plain")
    module = HalfPlusTwo()
    tf.saved_model.save(
        module,
        str(repo / "half_plus_two" / "123"),
        signatures={"serving_default": module.serve, "add": module.add},
    )
    with serving_app(Settings(model_repository=repo, poll_interval_s=0, grpc_port=0)) as app:
        yield app.test_client()


def test_predict_status_and_metadata_without_a_card(plain_client):
    r = plain_client.post("/v1/models/half_plus_two:predict", json={"instances": [1.0, 2.0, 5.0]})
    assert r.get_json() == {"predictions": [2.5, 3.0, 4.5]}
    status = plain_client.get("/v1/models/half_plus_two").get_json()["model_version_status"]
    assert [(s["version"], s["state"]) for s in status] == [("123", "AVAILABLE")]
    meta = plain_client.get("/v1/models/half_plus_two/metadata").get_json()
    sigs = meta["metadata"]["signature_def"]["signature_def"]
    assert set(sigs) == {"serving_default", "add"} and "card" not in meta


def test_several_inputs_and_bytes_outputs(plain_client):
    rows = plain_client.post(
        "/v1/models/half_plus_two:predict",
        json={"signature_name": "add", "instances": [{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 4.0}]},
    )
    preds = rows.get_json()["predictions"]
    assert [p["sum"] for p in preds] == [3.0, 7.0]
    # outputs named *_bytes travel base64-encoded, as TF Serving does
    assert preds[0]["name_bytes"] == {"b64": "MS4wMDAwMDA="}
    cols = plain_client.post(
        "/v1/models/half_plus_two:predict",
        json={"signature_name": "add", "inputs": {"a": [1.0], "b": [2.0]}},
    )
    assert cols.get_json()["outputs"]["sum"] == [3.0]
    missing = plain_client.post(
        "/v1/models/half_plus_two:predict", json={"signature_name": "add", "inputs": {"a": [1.0]}}
    )
    assert missing.status_code == 400
    assert missing.get_json() == {"error": "missing input(s) ['b']; the signature takes ['a', 'b']"}


def test_task_verbs_need_a_card(plain_client):
    r = plain_client.post("/v1/models/half_plus_two:classify", json={"instances": [1.0]})
    assert r.status_code == 501
    assert r.get_json() == {
        "error": "model 'half_plus_two' version 123 is not a classification model (no model card)"
    }
