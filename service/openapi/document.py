"""The OpenAPI 3.1 document, built from the operations table and the body models.

``openapi-pydantic`` gives typed OpenAPI objects and turns each referenced pydantic model
into ``#/components/schemas/<Model>``, so the schemas come from the same classes the tests
check responses against and cannot drift from them by hand-editing.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from openapi_pydantic.util import PydanticSchema, construct_open_api_with_schema_class
from openapi_pydantic.v3.v3_1 import (
    Components,
    Header,
    Info,
    MediaType,
    OpenAPI,
    Operation,
    Parameter,
    PathItem,
    Reference,
    RequestBody,
    Response,
    Schema,
    SecurityScheme,
    Tag,
)

from service.api.schemas.common import ErrorBody
from service.api.schemas.v2 import InferRequest
from service.openapi import operations as table

ERROR_MEANINGS = {
    400: "invalid argument: the body, an input or a task option is wrong",
    401: "the admin token is missing or wrong",
    403: "model control is disabled (no SERVING_ADMIN_TOKEN, or SERVING_MODEL_CONTROL=off)",
    404: "no such model, version, label, verb or file",
    405: "a documented URL with a method it does not document (e.g. GET on a :verb)",
    413: "request body larger than SERVING_MAX_REQUEST_BYTES",
    429: "the model's batch queue is full; retry after the Retry-After seconds",
    501: "not implemented for this model (e.g. a task verb on a model of another task)",
    503: "not ready: the model (version) is loading, unloaded or failed",
    504: "the request's deadline (X-Request-Timeout-Ms, capped by SERVING_REQUEST_TIMEOUT_S) "
    "passed",
}
PATH_PARAMETERS = {
    "name": ("the model's name", {"type": "string"}),
    "version": ("a version number", {"type": "integer"}),
    "label": ("a version label", {"type": "string", "pattern": "^[A-Za-z0-9_]+$"}),
    "filename": ("a file name", {"type": "string"}),
}
BINARY_TEXT = (
    "**Binary tensor extension** (Triton `extension_binary_data.md`, what `tritonclient` "
    "sends for numpy inputs): the body is the JSON header (the `InferRequest` schema) "
    "followed by each binary input's raw little-endian bytes, in input order. The header's "
    "length is in the `Inference-Header-Content-Length` HTTP header; each binary input "
    "carries `parameters.binary_data_size` instead of `data`. BYTES elements are each a "
    "4-byte little-endian length followed by the bytes. Outputs come back binary when the "
    "output asks with `parameters.binary_data: true` (or the request with "
    "`parameters.binary_data_output: true`); the response is then the JSON header "
    "(`InferResponse`) followed by the output bytes, with the same HTTP header."
)
DESCRIPTION = (
    "TensorFlow Serving's REST API (v1), the Open Inference Protocol (KServe V2) with "
    "Triton's binary, classification and model repository extensions, task verbs driven "
    "by each model's card, health and metrics, on one port. Every failure answers "
    '`{"error": "..."}` with the status code of its kind. Every response carries '
    "`X-Request-ID`; responses a model answered carry `X-Model-Version: <name>/<version>`."
)
_PARAMETER = re.compile(r"\{(\w+)\}")


def _json(model) -> dict[str, MediaType]:
    return {"application/json": MediaType(media_type_schema=PydanticSchema(schema_class=model))}


def _request_id_headers() -> dict[str, Header | Reference]:
    return {"X-Request-ID": Reference(ref="#/components/headers/X-Request-ID")}


def _responses(op: table.Operation) -> dict[str, Response | Reference]:
    if isinstance(op.ok, table.Content):
        body = Schema(type="object" if op.ok.media_type == "application/json" else "string")
        content = {op.ok.media_type: MediaType(media_type_schema=body)}
        ok = Response(description=op.ok.description, content=content)
    else:
        ok = Response(description="OK", content=_json(op.ok))
        if op.binary:
            ok.content["application/octet-stream"] = MediaType(
                media_type_schema=Schema(type="string", contentMediaType="application/octet-stream")
            )
    ok.headers = _request_id_headers()
    responses: dict[str, Response | Reference] = {"200": ok}
    for status, model in op.extra.items():
        responses[str(status)] = Response(description="see the body", content=_json(model))
    for status in op.errors:
        responses[str(status)] = Reference(ref=f"#/components/responses/Error{status}")
    return responses


def _request_body(op: table.Operation) -> RequestBody | None:
    if op.request is None:
        return None
    content = _json(op.request)
    if op.binary:
        content["application/octet-stream"] = MediaType(
            media_type_schema=Schema(
                type="string",
                contentMediaType="application/octet-stream",
                description="the JSON header (InferRequest), then the raw tensor bytes",
            )
        )
    # Bodies are optional where the view accepts an empty body (repository calls).
    required = op.path.startswith("/v2/repository/") is False
    return RequestBody(content=content, required=required)


def _parameters(op: table.Operation) -> list[Parameter | Reference]:
    found: list[Parameter | Reference] = []
    for name in _PARAMETER.findall(op.path):
        description, schema = PATH_PARAMETERS[name]
        found.append(
            Parameter(
                name=name,
                param_in="path",
                required=True,
                description=description,
                param_schema=Schema.model_validate(schema),
            )
        )
    if op.binary:
        found.append(
            Parameter(
                name="Inference-Header-Content-Length",
                param_in="header",
                description="binary extension: length of the JSON header in bytes",
                param_schema=Schema(type="integer", minimum=0),
            )
        )
    found.append(Reference(ref="#/components/parameters/X-Request-ID"))
    return found


def _operation(op: table.Operation) -> Operation:
    return Operation(
        operationId=op.operation_id,
        summary=op.summary,
        description=BINARY_TEXT if op.binary else None,
        tags=[op.tag],
        parameters=_parameters(op),
        requestBody=_request_body(op),
        responses=_responses(op),
        security=[{"adminToken": []}] if op.admin else None,
    )


def _components() -> Components:
    error = PydanticSchema(schema_class=ErrorBody)
    return Components(
        responses={
            f"Error{status}": Response(
                description=meaning,
                content={"application/json": MediaType(media_type_schema=error)},
                headers=_request_id_headers(),
            )
            for status, meaning in ERROR_MEANINGS.items()
        },
        headers={
            "X-Request-ID": Header(
                description="the request's id (yours if you sent one)",
                param_schema=Schema(type="string"),
            )
        },
        parameters={
            "X-Request-ID": Parameter(
                name="X-Request-ID",
                param_in="header",
                description="an id to log and echo back; one is made when absent",
                param_schema=Schema(type="string"),
            )
        },
        securitySchemes={
            "adminToken": SecurityScheme(
                type="http",
                scheme="bearer",
                description="needed only when SERVING_ADMIN_TOKEN is set",
            )
        },
    )


@functools.cache
def document(version: str) -> dict[str, Any]:
    """The whole document as JSON-ready data (built once per server version)."""
    paths: dict[str, PathItem] = {}
    for op in table.operations():
        item = paths.setdefault(op.path, PathItem())
        setattr(item, op.method, _operation(op))
    api = OpenAPI(
        openapi="3.1.0",
        info=Info(title="keras-serving", version=version, description=DESCRIPTION),
        tags=[Tag(name=name) for name in dict.fromkeys(op.tag for op in table.operations())],
        paths=paths,
        components=_components(),
    )
    # InferRequest is also the binary body's JSON header: keep it listed even if unused.
    api = construct_open_api_with_schema_class(api, schema_classes=[InferRequest])
    # exclude_unset: openapi-pydantic would otherwise write every default (allowEmptyValue
    # on path parameters, which OpenAPI 3.1 forbids there)
    return api.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)
