"""REST v1 ``:predict`` answered ahead of Flask gives the answer Flask's route gives:
the same status, body and headers, and the same metrics, for good and hostile requests."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from prometheus_client import REGISTRY
from werkzeug.test import Client
from werkzeug.wrappers import Response

from service.api.fast_predict import FastPredict

IMG = np.linspace(0, 1, 28 * 28, dtype=np.float32).reshape(28, 28, 1).tolist()

CASES = {
    "rows": ("/v1/models/digits:predict", {"json": {"instances": [IMG, IMG]}}),
    "columns": ("/v1/models/digits:predict", {"json": {"inputs": [IMG]}}),
    "version": ("/v1/models/digits/versions/1:predict", {"json": {"instances": [IMG]}}),
    "label": ("/v1/models/digits/labels/canary:predict", {"json": {"instances": [IMG]}}),
    "unknown label": ("/v1/models/digits/labels/nosuch:predict", {"json": {"instances": [IMG]}}),
    "unknown version": ("/v1/models/digits/versions/9:predict", {"json": {"instances": [IMG]}}),
    "unknown model": ("/v1/models/nosuch:predict", {"json": {"instances": [IMG]}}),
    "broken model": ("/v1/models/broken:predict", {"json": {"instances": [IMG]}}),
    "malformed url": ("/v1/models/digits/versions/x:predict", {"json": {"instances": [IMG]}}),
    "not JSON": ("/v1/models/digits:predict", {"data": b"{not json"}),
    "empty body": ("/v1/models/digits:predict", {"data": b""}),
    "deep nesting": ("/v1/models/digits:predict", {"data": b"[" * 5000 + b"]" * 5000}),
    "wrong shape": ("/v1/models/digits:predict", {"json": {"instances": [[1, 2, 3]]}}),
    "NaN": ("/v1/models/digits:predict", {"data": b'{"instances": [NaN]}'}),
    "strings": ("/v1/models/digits:predict", {"json": {"instances": ["a", "b"]}}),
    "signature type": (
        "/v1/models/digits:predict",
        {"json": {"instances": [IMG], "signature_name": 5}},
    ),
    "unknown signature": (
        "/v1/models/digits:predict",
        {"json": {"instances": [IMG], "signature_name": "nosuch"}},
    ),
    "bad timeout": (
        "/v1/models/digits:predict",
        {"json": {"instances": [IMG]}, "headers": {"X-Request-Timeout-Ms": "soon"}},
    ),
    "client request id": (
        "/v1/models/digits:predict",
        {"json": {"instances": [IMG]}, "headers": {"X-Request-ID": "client-chosen-id"}},
    ),
    "text content type": (
        "/v1/models/digits:predict",
        {"data": json.dumps({"instances": [IMG]}), "content_type": "text/plain"},
    ),
}
COMPARED_HEADERS = ("Content-Type", "X-Model-Version", "Retry-After")


def _answer(response) -> tuple:
    headers = {h: response.headers.get(h) for h in COMPARED_HEADERS}
    return response.status_code, json.loads(response.get_data()), headers


def _count(labels: dict) -> float:
    return REGISTRY.get_sample_value("serving_requests_total", labels) or 0.0


@pytest.mark.parametrize("case", CASES)
def test_the_fast_path_answers_as_flask_does(app, case):
    assert isinstance(app.wsgi_app, FastPredict)
    fast, flask_only = app.test_client(), Client(app.wsgi_app.flask, Response)
    path, kwargs = CASES[case]
    answers = []
    for client in (fast, flask_only):
        response = client.post(path, **kwargs)
        answers.append(_answer(response))
        if "X-Request-ID" in kwargs.get("headers", {}):
            assert response.headers["X-Request-ID"] == "client-chosen-id"
        else:
            assert len(response.headers["X-Request-ID"]) == 32
    assert answers[0] == answers[1]
    assert answers[0][0] != 500


def test_both_paths_record_the_same_metrics(app):
    fast, flask_only = app.test_client(), Client(app.wsgi_app.flask, Response)
    body = {"instances": [IMG]}
    ok = {"model": "digits", "version": "2", "api": "rest_v1", "endpoint": "predict"}
    for client in (fast, flask_only):
        before = _count({**ok, "status": "200"}), _count({**ok, "status": "400"})
        assert client.post("/v1/models/digits:predict", json=body).status_code == 200
        bad = client.post("/v1/models/digits:predict", json={"instances": [[1]]})
        assert bad.status_code == 400
        after = _count({**ok, "status": "200"}), _count({**ok, "status": "400"})
        assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


def test_other_routes_and_chunked_bodies_go_to_flask(app):
    client = app.test_client()
    assert client.get("/v1/models/digits").status_code == 200
    # A chunked body has no length up front: Flask's route reads it (within the limit).
    chunked = client.post(
        "/v1/models/digits:predict",
        input_stream=io.BytesIO(json.dumps({"instances": [IMG]}).encode()),
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
    )
    assert chunked.status_code == 200 and len(chunked.get_json()["predictions"]) == 1
