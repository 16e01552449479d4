"""JSON request bodies: orjson fast path, NaN/Infinity literals accepted like TF Serving."""

from __future__ import annotations

import json

import orjson

from service.errors import InvalidInput


def parse_json(body: bytes) -> object:
    if not body:
        raise InvalidInput("the request body is empty; expected a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    # orjson rejects NaN/Infinity literals that TF Serving clients may send; the stdlib
    # parser accepts them. Only reached on the rare body orjson refused.
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"malformed JSON in the request body: {exc}") from None


def parse_json_object(body: bytes) -> dict:
    value = parse_json(body)
    if not isinstance(value, dict):
        raise InvalidInput(f"the request body must be a JSON object, got {type(value).__name__}")
    return value


def dumps(value: object) -> bytes:
    """Serialise with numpy arrays and scalars handled natively by orjson."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
