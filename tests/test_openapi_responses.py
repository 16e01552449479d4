"""Real responses of every documented operation validate against the OpenAPI document.

Each case is a real request to an app serving the tiny test models (with an admin token,
report plots and a label on every model); its response must have a documented status and
media type, and a JSON body must validate against the documented schema. The JSON request
bodies of successful cases are checked against the documented request schema too. Every
operation of the document needs at least one case answered 200, so a new route cannot go
undocumented or untested.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from service.settings import Settings
from tests.conftest import serving_app
from tests.console_app import PLOT, console_repository
from tests.openapi_check import check_response, operation, request_schema, validate_json

TOKEN = "s3cret"
IMAGE = np.zeros((28, 28, 1)).tolist()
FEATURES = np.linspace(0.1, 30.0, 30).tolist()
HISTORY = np.abs(np.sin(np.arange(40.0))).round(3).tolist()
V2_IMAGE = {"name": "image", "shape": [1, 28, 28, 1], "datatype": "FP32", "data": [0.0] * 784}

# (template, method, url, JSON body or None, status). Template None: a failure outside any
# documented operation, answered with the document's shared error response.
CASES = [
    ("/v1/models", "GET", "/v1/models", None, 200),
    ("/v1/models/{name}", "GET", "/v1/models/digits", None, 200),
    ("/v1/models/{name}", "GET", "/v1/models/broken", None, 200),  # a failed version
    ("/v1/models/{name}", "GET", "/v1/models/nope", None, 404),
    ("/v1/models/{name}/versions/{version}", "GET", "/v1/models/digits/versions/1", None, 200),
    ("/v1/models/{name}/versions/{version}", "GET", "/v1/models/digits/versions/9", None, 404),
    ("/v1/models/{name}/labels/{label}", "GET", "/v1/models/digits/labels/stable", None, 200),
    ("/v1/models/{name}/metadata", "GET", "/v1/models/tumor-anomaly/metadata", None, 200),
    ("/v1/models/{name}/metadata", "GET", "/v1/models/broken/metadata", None, 503),
    ("/v1/models/{name}/metadata", "GET", "/v1/models/plain/metadata", None, 200),  # no card
    ("/v1/models/{name}/versions/{version}/metadata", "GET",
     "/v1/models/sunspots/versions/1/metadata", None, 200),
    ("/v1/models/{name}/labels/{label}/metadata", "GET",
     "/v1/models/digits/labels/canary/metadata", None, 200),
    ("/v1/models/{name}:predict", "POST", "/v1/models/digits:predict",
     {"instances": [IMAGE]}, 200),
    ("/v1/models/{name}:predict", "POST", "/v1/models/tumor-anomaly:predict",
     {"inputs": [FEATURES]}, 200),  # columnar, several outputs
    ("/v1/models/{name}:predict", "POST", "/v1/models/digits:predict",
     {"instances": [[1, 2]]}, 400),
    ("/v1/models/{name}/versions/{version}:predict", "POST",
     "/v1/models/sentiment/versions/1:predict", {"instances": [{"b64": "aGk="}]}, 200),
    ("/v1/models/{name}/labels/{label}:predict", "POST",
     "/v1/models/digits/labels/canary:predict", {"instances": [IMAGE]}, 200),
    ("/v1/models/{name}:classify", "POST", "/v1/models/digits:classify",
     {"instances": [IMAGE], "k": 3}, 200),
    ("/v1/models/{name}:classify", "POST", "/v1/models/sunspots:classify",
     {"instances": [HISTORY]}, 501),
    ("/v1/models/{name}/versions/{version}:classify", "POST",
     "/v1/models/sentiment/versions/1:classify", {"instances": ["so good"]}, 200),
    ("/v1/models/{name}/labels/{label}:classify", "POST",
     "/v1/models/sentiment/labels/stable:classify", {"instances": ["bad"], "k": 2}, 200),
    ("/v1/models/{name}:forecast", "POST", "/v1/models/sunspots:forecast",
     {"instances": [HISTORY], "steps": 3}, 200),
    ("/v1/models/{name}:forecast", "POST", "/v1/models/sunspots:forecast",
     {"instances": [[1.0, 2.0]]}, 400),
    ("/v1/models/{name}/versions/{version}:forecast", "POST",
     "/v1/models/sunspots/versions/1:forecast", {"instances": [HISTORY]}, 200),
    ("/v1/models/{name}/labels/{label}:forecast", "POST",
     "/v1/models/sunspots/labels/stable:forecast", {"instances": [HISTORY]}, 200),
    ("/v1/models/{name}:detect", "POST", "/v1/models/tumor-anomaly:detect",
     {"instances": [FEATURES], "explain": True}, 200),
    ("/v1/models/{name}:detect", "POST", "/v1/models/tumor-anomaly:detect",
     {"instances": [FEATURES], "threshold": "high"}, 400),
    ("/v1/models/{name}/versions/{version}:detect", "POST",
     "/v1/models/tumor-anomaly/versions/1:detect", {"instances": [FEATURES]}, 200),
    ("/v1/models/{name}/labels/{label}:detect", "POST",
     "/v1/models/tumor-anomaly/labels/stable:detect",
     {"instances": [FEATURES], "threshold": 0.5}, 200),
    (None, "GET", "/v1/models/digits:predict", None, 405),
    (None, "POST", "/v1/models/digits", None, 405),
    ("/v2/health/live", "GET", "/v2/health/live", None, 200),
    ("/v2/health/ready", "GET", "/v2/health/ready", None, 503),  # the broken model
    ("/v2", "GET", "/v2", None, 200),
    ("/v2/models/{name}", "GET", "/v2/models/digits", None, 200),
    ("/v2/models/{name}", "GET", "/v2/models/nope", None, 404),
    ("/v2/models/{name}/versions/{version}", "GET", "/v2/models/digits/versions/2", None, 200),
    ("/v2/models/{name}/ready", "GET", "/v2/models/digits/ready", None, 200),
    ("/v2/models/{name}/ready", "GET", "/v2/models/broken/ready", None, 503),
    ("/v2/models/{name}/versions/{version}/ready", "GET", "/v2/models/digits/versions/1/ready",
     None, 200),
    ("/v2/models/{name}/infer", "POST", "/v2/models/digits/infer",
     {"id": "7", "inputs": [V2_IMAGE]}, 200),
    ("/v2/models/{name}/infer", "POST", "/v2/models/digits/infer",
     {"inputs": [{**V2_IMAGE, "datatype": "FP99"}]}, 400),
    ("/v2/models/{name}/versions/{version}/infer", "POST", "/v2/models/digits/versions/1/infer",
     {"inputs": [V2_IMAGE],
      "outputs": [{"name": "probabilities", "parameters": {"classification": 2}}]}, 200),
    ("/v2/repository/index", "POST", "/v2/repository/index", {"ready": True}, 200),
    ("/v2/repository/index", "POST", "/v2/repository/index", {"ready": 3}, 400),
    ("/v2/repository/models/{name}/load", "POST", "/v2/repository/models/digits/load", {}, 401),
    ("/v2/repository/models/{name}/unload", "POST", "/v2/repository/models/nope/unload", {},
     401),
    ("/healthz", "GET", "/healthz", None, 200),
    ("/readyz", "GET", "/readyz", None, 503),  # the broken model: the reasons body
    ("/metrics", "GET", "/metrics", None, 200),
    ("/openapi.json", "GET", "/openapi.json", None, 200),
    ("/docs", "GET", "/docs", None, 200),
    ("/docs/static/{filename}", "GET", "/docs/static/swagger-ui.css", None, 200),
    ("/docs/static/{filename}", "GET", "/docs/static/nope.js", None, 404),
    ("/", "GET", "/", None, 200),
    ("/console/models/{name}", "GET", "/console/models/digits", None, 200),
    ("/console/models/{name}", "GET", "/console/models/nope", None, 404),
    ("/console/models/{name}", "GET", "/console/models/plain", None, 200),
    ("/console/api/stats", "GET", "/console/api/stats", None, 200),
    ("/console/models/{name}/versions/{version}/report/{filename}", "GET",
     f"/console/models/digits/versions/1/report/{PLOT}", None, 200),
    ("/console/models/{name}/versions/{version}/report/{filename}", "GET",
     "/console/models/digits/versions/1/report/model.json", None, 404),
    ("/console/models/{name}/versions/{version}/report.html", "GET",
     "/console/models/digits/versions/1/report.html", None, 200),
    ("/console/models/{name}/versions/{version}/report.html", "GET",
     "/console/models/digits/versions/2/report.html", None, 404),
    ("/console/static/{filename}", "GET", "/console/static/console.css", None, 200),
]  # fmt: skip


# Operations whose 200 needs the broken model unloaded first (test_admin_operations...).
ANSWERED_BY_THE_ADMIN_TEST = {
    ("/v2/repository/models/{name}/load", "post"),
    ("/v2/repository/models/{name}/unload", "post"),
    ("/readyz", "get"),
    ("/v2/health/ready", "get"),
}


@pytest.fixture(scope="module")
def admin_client(model_repo, tmp_path_factory):
    repo = console_repository(model_repo, tmp_path_factory.mktemp("schema-repo"))
    settings = Settings(model_repository=repo, poll_interval_s=0, grpc_port=0, admin_token=TOKEN)
    with serving_app(settings) as app:
        yield app.test_client()


@pytest.fixture(scope="module")
def doc(admin_client):
    return admin_client.get("/openapi.json").get_json()


def _check(doc, client, template, method, url, body, status, **kwargs):
    if body is not None and template is not None and status == 200:  # failures send bad bodies
        schema = request_schema(doc, template, method)
        assert schema is not None, f"{method} {template} documents no request body"
        validate_json(doc, schema, body)
    response = client.open(url, method=method, json=body, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    check_response(doc, template, method, status, response.content_type, response.data)
    return response


@pytest.mark.parametrize(("template", "method", "url", "body", "status"), CASES)
def test_response_matches_the_document(doc, admin_client, template, method, url, body, status):
    _check(doc, admin_client, template, method, url, body, status)


def test_every_operation_has_a_successful_case(doc):
    answered = {(t, m.lower()) for t, m, _, _, status in CASES if status == 200 and t}
    answered |= ANSWERED_BY_THE_ADMIN_TEST
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert documented - answered == set()


def test_admin_operations_and_readiness(doc, admin_client):
    """Unloading the broken model makes the server ready; loading it again fails (503)."""
    auth = {"headers": {"Authorization": f"Bearer {TOKEN}"}}
    unload = "/v2/repository/models/{name}/unload"
    load = "/v2/repository/models/{name}/load"
    _check(doc, admin_client, unload, "POST", "/v2/repository/models/broken/unload", {}, 200,
           **auth)  # fmt: skip
    try:
        _check(doc, admin_client, "/readyz", "GET", "/readyz", None, 200)
        _check(doc, admin_client, "/v2/health/ready", "GET", "/v2/health/ready", None, 200)
        _check(doc, admin_client, unload, "POST", "/v2/repository/models/nope/unload", {}, 404,
               **auth)  # fmt: skip
        refused = {"parameters": {"config": "{}"}}
        _check(doc, admin_client, load, "POST", "/v2/repository/models/digits/load", refused,
               501, **auth)  # fmt: skip
        _check(doc, admin_client, load, "POST", "/v2/repository/models/digits/load", {}, 200,
               **auth)  # fmt: skip
    finally:
        _check(doc, admin_client, load, "POST", "/v2/repository/models/broken/load", {}, 503,
               **auth)  # fmt: skip
    assert admin_client.get("/readyz").status_code == 503


def test_binary_tensors_match_the_documented_header_schema(doc, admin_client):
    """Binary in and out: each JSON header validates against InferRequest / InferResponse."""
    header = {
        "inputs": [{**V2_IMAGE, "data": None, "parameters": {"binary_data_size": 784 * 4}}],
        "parameters": {"binary_data_output": True},
    }
    del header["inputs"][0]["data"]
    infer = operation(doc, "/v2/models/{name}/infer", "post")
    assert "application/octet-stream" in infer["requestBody"]["content"]
    validate_json(doc, request_schema(doc, "/v2/models/{name}/infer", "POST"), header)
    head = json.dumps(header).encode()
    response = admin_client.post(
        "/v2/models/digits/infer",
        data=head + np.zeros(784, np.float32).tobytes(),
        headers={"Inference-Header-Content-Length": str(len(head))},
        content_type="application/octet-stream",
    )
    assert response.status_code == 200 and response.mimetype == "application/octet-stream"
    check_response(doc, "/v2/models/{name}/infer", "POST", 200, response.content_type, b"")
    length = int(response.headers["Inference-Header-Content-Length"])
    answer = json.loads(response.data[:length])
    ok = infer["responses"]["200"]["content"]["application/json"]["schema"]
    validate_json(doc, ok, answer)
    (output,) = answer["outputs"]
    size = output["parameters"]["binary_data_size"]
    assert size == 10 * 4 and len(response.data) == length + size
    probabilities = struct.unpack("<10f", response.data[length:])
    assert abs(sum(probabilities) - 1) < 1e-4


@pytest.mark.parametrize(
    ("schema", "template", "url"),
    [
        ("PredictRequest", "/v1/models/{name}:predict", "/v1/models/sentiment:predict"),
        ("ClassifyRequest", "/v1/models/{name}:classify", "/v1/models/sentiment:classify"),
        ("ForecastRequest", "/v1/models/{name}:forecast", "/v1/models/sunspots:forecast"),
        ("DetectRequest", "/v1/models/{name}:detect", "/v1/models/tumor-anomaly:detect"),
        ("InferRequest", "/v2/models/{name}/infer", "/v2/models/sentiment/infer"),
    ],
)
def test_documented_examples_work_on_the_default_models(doc, admin_client, schema, template, url):
    """What Swagger UI's "Try it out" sends by default answers 200 on models of those names."""
    (example,) = doc["components"]["schemas"][schema]["examples"]
    _check(doc, admin_client, template, "POST", url, example, 200)
