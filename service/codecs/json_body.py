"""JSON request bodies: orjson fast path, NaN/Infinity literals accepted like TF Serving."""

from __future__ import annotations

import json
import re

import numpy as np
import orjson

from service.errors import InvalidInput

# Deepest nesting of arrays and objects a body may have. A tensor has at most 64 dimensions
# (numpy's limit) and the protocols wrap it in a few objects; without a limit a body of a
# few thousand nested brackets exhausts the parsers' and the codecs' recursion (a 500).
MAX_NESTING_DEPTH = 100
TOO_DEEP = f"the JSON body nests arrays and objects deeper than {MAX_NESTING_DEPTH} levels"


def parse_json(body: bytes) -> object:
    if not body:
        raise InvalidInput("the request body is empty; expected a JSON object")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        # orjson rejects NaN/Infinity literals that TF Serving clients may send (and nesting
        # past 1024 levels); the stdlib parser accepts them. Only reached on the rare body
        # orjson refused.
        try:
            value = json.loads(body)
        except RecursionError:
            raise InvalidInput(TOO_DEEP) from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"malformed JSON in the request body: {exc}") from None
        if _SURROGATE_ESCAPE.search(body):  # orjson refuses lone surrogates; json does not
            _check_unicode(value)
    check_depth(value)
    return value


# A \uD800-\uDFFF escape: half of a UTF-16 pair, which alone is no Unicode character.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _check_unicode(value: object) -> None:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidInput(
                    "the JSON body holds a string with a lone UTF-16 surrogate "
                    "(an unpaired \\ud800-\\udfff escape); strings must be valid Unicode"
                ) from None


def check_depth(value: object, limit: int = MAX_NESTING_DEPTH) -> None:
    """InvalidInput if ``value`` nests lists and dicts (numpy arrays: their dimensions)
    deeper than ``limit``; iterative, so any depth is safe to check."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, np.ndarray):
            depth += node.ndim - 1
            children = ()
        elif isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            raise InvalidInput(TOO_DEEP)
        stack.extend((child, depth + 1) for child in children if isinstance(child, list | dict))


def parse_json_object(body: bytes) -> dict:
    value = parse_json(body)
    if not isinstance(value, dict):
        raise InvalidInput(f"the request body must be a JSON object, got {type(value).__name__}")
    return value


def refuse_unknown_keys(body: dict, allowed: set[str], where: str) -> None:
    """Refuse a body key outside ``allowed``: a misspelt option must not pass as absent.

    ``where`` names the body in the message ("the predict body", "this verb").
    """
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidInput(f"unknown key(s) {unknown} in {where}; it takes {sorted(allowed)}")


def dumps(value: object) -> bytes:
    """Serialise with numpy arrays and scalars handled natively by orjson."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
