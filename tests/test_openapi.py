"""The OpenAPI document against the app itself: valid, complete, and every path routes.

The app is built (never started) for these tests: routing needs no models.
"""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from service.api.urls import parse_model_url
from service.app import create_app
from service.openapi.operations import operations
from service.settings import Settings

# Values substituted for path parameters when a documented template is routed.
SAMPLES = {"name": "digits", "version": "2", "label": "stable", "filename": "plot.png"}
V1_CATCH_ALL = "rest_v1.model_url"
IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture(scope="module")
def built_app(tmp_path_factory):
    return create_app(Settings(model_repository=tmp_path_factory.mktemp("empty"), grpc_port=0))


@pytest.fixture(scope="module")
def doc(built_app):
    with built_app.test_client() as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def _documented(doc: dict) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in doc["paths"].items() for method in item}


def _template_of(rule: str) -> str:
    """Flask's ``/v2/models/<name>`` as OpenAPI's ``/v2/models/{name}``."""
    return re.sub(r"<(?:[a-z]+:)?(\w+)>", r"{\1}", rule)


def _concrete(template: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLES[m[1]], template)


def test_document_is_valid_openapi_3_1(doc):
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # openapi-spec-validator: the OpenAPI 3.1 meta-schema and $refs
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)), "operationIds must be unique"


def test_every_flask_rule_is_documented(built_app, doc):
    documented = _documented(doc)
    v1_model_paths = {p for p, _ in documented if p.startswith("/v1/models/")}
    for rule in built_app.url_map.iter_rules():
        methods = set(rule.methods or ()) - IGNORED_METHODS
        if rule.endpoint == V1_CATCH_ALL:
            # one rule behind TF Serving's model URLs: documented as their real templates
            assert len(v1_model_paths) == 18  # 3 ways to address x (status, metadata, 4 verbs)
            continue
        for method in methods:
            assert (_template_of(rule.rule), method) in documented, f"{method} {rule.rule}"


def test_every_documented_path_routes(built_app, doc):
    adapter = built_app.url_map.bind("localhost")
    for template, method in sorted(_documented(doc)):
        rule, args = adapter.match(_concrete(template), method, return_rule=True)
        if template.startswith("/v1/models/"):
            assert rule.endpoint == V1_CATCH_ALL
            url = parse_model_url(args["rest"], method)  # parses, as the view will
            assert url.name == "digits"
            assert url.version == (2 if "/versions/" in template else None)
            assert url.label == ("stable" if "/labels/" in template else None)
            assert url.metadata == template.endswith("/metadata")
            verb = template.rsplit(":", 1)[1] if ":" in template else None
            assert url.verb == verb
            assert (verb is None) == (method == "GET")
        else:
            assert _template_of(rule.rule) == template  # the very rule, not a catch-all


def test_document_is_built_from_the_operations_table(doc):
    table = {(op.path, op.method.upper()) for op in operations()}
    assert table == _documented(doc)


def test_errors_are_the_error_body_with_their_codes(doc):
    responses = doc["components"]["responses"]
    assert sorted(responses) == [
        f"Error{code}" for code in (400, 401, 403, 404, 405, 413, 429, 501, 503, 504)
    ]
    for response in responses.values():
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    assert doc["components"]["schemas"]["ErrorBody"]["required"] == ["error"]


def test_binary_extension_is_documented_with_its_header_schema(doc):
    infer = doc["paths"]["/v2/models/{name}/infer"]["post"]
    assert "Inference-Header-Content-Length" in infer["description"]
    content = infer["requestBody"]["content"]
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/InferRequest"}
    assert "application/octet-stream" in content
    params = {p.get("name") for p in infer["parameters"]}
    assert "Inference-Header-Content-Length" in params


def test_docs_page_uses_the_packaged_swagger_ui(built_app):
    with built_app.test_client() as client:
        page = client.get("/docs")
        assert page.status_code == 200 and page.mimetype == "text/html"
        html = page.get_data(as_text=True)
        scripts = re.findall(r'src="([^"]+)"', html)
        assert "/docs/static/swagger-ui-bundle.js" in scripts
        assert all(s.startswith("/") for s in scripts), "everything is served locally"
        bundle = client.get("/docs/static/swagger-ui-bundle.js")
        assert bundle.status_code == 200 and len(bundle.data) > 100_000
        assert client.get("/docs/static/../views.py").status_code == 404


def test_schema_examples_validate_against_their_schemas(doc):
    from tests.openapi_check import validate_json

    with_examples = {k: s for k, s in doc["components"]["schemas"].items() if "examples" in s}
    assert {"PredictRequest", "ClassifyRequest", "DetectRequest", "InferRequest"} <= set(
        with_examples
    )
    for name, schema in with_examples.items():
        for example in schema["examples"]:
            validate_json(doc, {"$ref": f"#/components/schemas/{name}"}, example)
