"""Checking a real HTTP response against the OpenAPI document (test helper).

A response passes when its status is documented for the operation (or is one of the
document's shared error responses), its media type is one the document declares for that
status, and a JSON body validates against the declared schema (JSON Schema 2020-12, the
dialect of OpenAPI 3.1) with ``#/components/...`` references resolved in the document.
"""

from __future__ import annotations

import json

from jsonschema import Draft202012Validator


def operation(doc: dict, template: str, method: str) -> dict:
    path_item = doc["paths"].get(template)
    assert path_item is not None, f"{template} is not documented"
    op = path_item.get(method.lower())
    assert op is not None, f"{method} {template} is not documented"
    return op


def _deref(doc: dict, node: dict) -> dict:
    while "$ref" in node and len(node) == 1:
        pointer = node["$ref"].removeprefix("#/").split("/")
        node = doc
        for part in pointer:
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def response_spec(doc: dict, template: str | None, method: str, status: int) -> dict:
    """The documented response for ``status``: the operation's, or (no template) the
    shared ``Error<status>`` component for failures of undocumented method/URL pairs."""
    if template is None:
        return doc["components"]["responses"][f"Error{status}"]
    responses = operation(doc, template, method)["responses"]
    assert str(status) in responses, (
        f"{method} {template} answered {status}, documented: {sorted(responses)}"
    )
    return _deref(doc, responses[str(status)])


def validate_json(doc: dict, schema: dict, value: object) -> None:
    validator = Draft202012Validator({**schema, "components": doc["components"]})
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors[:5])


def _media_matches(declared: str, actual: str) -> bool:
    declared, actual = declared.split(";")[0].strip(), actual.split(";")[0].strip()
    if declared == "*/*":
        return True
    return declared == actual


def check_response(
    doc: dict, template: str | None, method: str, status: int, content_type: str, body: bytes
) -> None:
    """Assert a real response matches what the document says of it."""
    spec = response_spec(doc, template, method, status)
    content = spec.get("content", {})
    media = next((m for m in content if _media_matches(m, content_type)), None)
    assert media is not None, f"{status} came as {content_type!r}; documented: {sorted(content)}"
    if media != "application/json":
        return
    validate_json(doc, content[media]["schema"], json.loads(body))


def request_schema(doc: dict, template: str, method: str) -> dict | None:
    body = operation(doc, template, method).get("requestBody")
    return body["content"]["application/json"]["schema"] if body else None
