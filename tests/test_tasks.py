"""Task endpoints (:classify, :forecast, :detect), driven by each model's card."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image


def post(client, url, body):
    r = client.post(url, json=body)
    return r.status_code, r.get_json()


def test_classify_image_pixels_top_k(client):
    status, body = post(
        client,
        "/v1/models/digits:classify",
        {"instances": [np.zeros((28, 28)).tolist()] * 2, "k": 3},
    )
    assert status == 200 and body["model_spec"]["name"] == "digits"
    assert len(body["results"]) == 2
    for result in body["results"]:
        assert len(result) == 3
        labels, scores = zip(*result, strict=True)
        assert set(labels) <= {str(i) for i in range(10)}
        assert list(scores) == sorted(scores, reverse=True)


def test_classify_matches_predict(client):
    x = (np.arange(784).reshape(28, 28, 1) % 255).tolist()
    probs = np.array(
        post(client, "/v1/models/digits:predict", {"instances": [x]})[1]["predictions"][0]
    )
    _, body = post(client, "/v1/models/digits:classify", {"instances": [x], "k": 10})
    assert [int(label) for label, _ in body["results"][0]] == list(np.argsort(-probs))
    np.testing.assert_allclose([s for _, s in body["results"][0]], np.sort(probs)[::-1], atol=1e-6)


def _png(pixels: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_classify_b64_png_is_decoded_and_resized(client):
    big = np.zeros((56, 56), dtype=np.uint8)
    big[10:46, 24:32] = 255  # a thick vertical stroke, at twice the model's resolution
    small = np.asarray(Image.fromarray(big).resize((28, 28), Image.BILINEAR), np.float32)
    _, from_png = post(
        client, "/v1/models/digits:classify", {"instances": [{"b64": _png(big)}], "k": 10}
    )
    _, from_pixels = post(
        client, "/v1/models/digits:classify", {"instances": [small.tolist()], "k": 10}
    )
    assert from_png["results"] == from_pixels["results"]


def test_classify_text(client):
    status, body = post(
        client,
        "/v1/models/sentiment/versions/1:classify",
        {"instances": ["I love this airline", "worst delay ever"], "k": 2},
    )
    assert status == 200 and len(body["results"]) == 2
    assert all(
        label in {"negative", "neutral", "positive"} for r in body["results"] for label, _ in r
    )


def _window(client):
    meta = client.get("/v1/models/sunspots/metadata").get_json()
    task = meta["card"]["task"]
    return task["window"], task["horizon"]


def test_forecast_n_steps(client):
    window, horizon = _window(client)
    history = (50 + 40 * np.sin(np.arange(window + 5) / 11 * 2 * np.pi)).tolist()
    status, body = post(
        client,
        "/v1/models/sunspots:forecast",
        {"instances": [history, history[-window:]], "steps": 3},
    )
    assert status == 200
    assert [r["steps"] for r in body["results"]] == [3, 3]
    assert len(body["results"][0]["forecast"]) == 3
    # only the last `window` values matter
    assert body["results"][0]["forecast"] == body["results"][1]["forecast"]
    full = post(client, "/v1/models/sunspots:forecast", {"instances": [history]})[1]
    assert len(full["results"][0]["forecast"]) == horizon
    assert full["results"][0]["forecast"][:3] == pytest.approx(body["results"][0]["forecast"])


def test_forecast_bounds(client):
    window, horizon = _window(client)
    status, body = post(
        client,
        "/v1/models/sunspots:forecast",
        {"instances": [[1.0] * window], "steps": horizon + 1},
    )
    assert status == 400 and body == {
        "error": f"'steps' must be an integer in [1, {horizon}], got {horizon + 1}"
    }
    status, body = post(client, "/v1/models/sunspots:forecast", {"instances": [[1.0, 2.0]]})
    assert status == 400 and body["error"] == (
        f"instance 0: history must hold at least {window} values (the model's window), "
        "got shape [2]"
    )


def test_detect_scores_threshold_and_verdict(client):
    meta = client.get("/v1/models/tumor-anomaly/metadata").get_json()["card"]["task"]
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    benign = data.data[data.target == 1][:3].tolist()
    status, body = post(client, "/v1/models/tumor-anomaly:detect", {"instances": benign})
    assert status == 200 and len(body["results"]) == 3
    for r in body["results"]:
        assert r["threshold"] == pytest.approx(meta["threshold"])
        assert r["anomaly"] == (r["score"] > r["threshold"])
        assert "contributions" not in r
    # per-request threshold override flips every verdict
    _, low = post(client, "/v1/models/tumor-anomaly:detect", {"instances": benign, "threshold": -1})
    assert all(r["anomaly"] and r["threshold"] == -1 for r in low["results"])


def test_detect_explains_by_feature(client):
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    names = [str(n) for n in data.feature_names]
    row = data.data[0]
    status, body = post(
        client,
        "/v1/models/tumor-anomaly:detect",
        {"instances": [dict(zip(names, row.tolist(), strict=True))], "explain": True},
    )
    assert status == 200
    contributions = body["results"][0]["contributions"]
    assert set(contributions) == set(names)
    shares = list(contributions.values())
    assert shares == sorted(shares, reverse=True)  # biggest contributor first
    assert sum(shares) == pytest.approx(1.0, abs=1e-4)


def test_task_verbs_refuse_models_of_another_task(client):
    status, body = post(client, "/v1/models/sunspots:classify", {"instances": [[1.0]]})
    assert (status, body) == (
        501,
        {"error": "model 'sunspots' version 1 is not a classification model (forecasting)"},
    )
    status, _ = post(client, "/v1/models/digits:detect", {"instances": [[1.0]]})
    assert status == 501


@pytest.mark.parametrize(
    ("url", "body", "message"),
    [
        (
            "/v1/models/digits:classify",
            {"instances": [[1, 2]]},
            "instance 0: expected pixels of shape [28, 28, 1], got [2]",
        ),
        (
            "/v1/models/digits:classify",
            {"instances": [{"b64": "aGVsbG8="}]},
            "instance 0: b64 data is not a PNG or JPEG image",
        ),
        (
            "/v1/models/digits:classify",
            {"instances": [np.zeros((28, 28)).tolist()], "k": 0},
            "'k' must be an integer in [1, 10], got 0",
        ),
        (
            "/v1/models/sentiment:classify",
            {"instances": [1]},
            "instances of a text model must be strings",
        ),
        (
            "/v1/models/tumor-anomaly:detect",
            {"instances": [[1.0] * 30], "threshold": "x"},
            "'threshold' must be a finite number, got 'x'",
        ),
        (
            "/v1/models/tumor-anomaly:detect",
            {"instances": []},
            "'instances' must be a non-empty list with one entry per example",
        ),
    ],
)
def test_task_input_errors(client, url, body, message):
    status, got = post(client, url, body)
    assert (status, got) == (400, {"error": message})
