"""JSON bodies that carry tensors: numeric arrays go straight to numpy.

A 28x28 image sent as nested JSON lists is 784 numbers in 785 lists. orjson builds a Python
object for each (54 us) and ``np.asarray`` walks them again (105 us): a third of what the
whole HTTP stack costs per request. simdjson parses the body and copies a numeric array into
a flat buffer in C (~20 us for both), so a regular numeric array reaches the codecs as an
``np.ndarray`` (int64 if every value is an integer, else float64) instead of nested lists.

simdjson flattens ragged nesting silently, so a flattened array is only used when its
minified text has exactly the skeleton of a regular array of the shape its first elements
announce; anything else (ragged, mixed, booleans, empty, integers beyond int64 or a double's
exact range) stays a Python list for the codecs' own checks and error messages. A body
simdjson rejects (NaN/Infinity literals, malformed JSON) goes through :func:`parse_json`,
which owns the error messages. Everything else in the body is ordinary Python values.
"""

from __future__ import annotations

import math
import re
import threading

import numpy as np
import simdjson

from service.codecs.json_body import check_depth, parse_json
from service.errors import InvalidInput

# Arrays of objects or strings shorter than this are converted element by element (so the
# numeric arrays inside, e.g. the "data" of Open Inference inputs, still take the fast path);
# longer ones in one C call. Flat numeric arrays shorter than this stay lists: nothing to
# gain, and small parameters such as an Open Inference "shape" stay plain lists.
_WALK_LIMIT = 16
_EXACT_DOUBLE = 2.0**53
_MAX_NDIM = 64  # numpy's limit on dimensions
# Every character a number can have in simdjson's minified output.
_NUMBER_CHARS = b"0123456789+-.eE"
_NUMBER = re.compile(rb"[-+0-9.eE]+")
_NOT_INTEGER = re.compile(rb"[.eE]")
_local = threading.local()


def parse_tensor_json(body: bytes) -> dict:
    """Parse a JSON object body; regular numeric arrays come back as numpy arrays."""
    try:
        document = _parser().parse(body)
    except (ValueError, RuntimeError, UnicodeDecodeError):
        return _parse_object_slowly(body)  # its message says what is wrong with the body
    if not isinstance(document, simdjson.Object):
        return _parse_object_slowly(body)
    try:
        value = _convert_object(document)
    except KeyError:  # a key holding a NUL: simdjson looks keys up as C strings
        return _parse_object_slowly(body)
    check_depth(value)
    return value


def _parser() -> simdjson.Parser:
    # A parser serves one document at a time and each gunicorn thread parses its own.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = simdjson.Parser()
    return parser


def _parse_object_slowly(body: bytes) -> dict:
    _local.parser = None  # never reuse a parser whose document may still be referenced
    value = parse_json(body)
    if not isinstance(value, dict):
        raise InvalidInput(f"the request body must be a JSON object, got {type(value).__name__}")
    return value


def _convert(value: object) -> object:
    if isinstance(value, simdjson.Array):
        return _convert_array(value)
    if isinstance(value, simdjson.Object):
        return _convert_object(value)
    return value


def _convert_object(obj: simdjson.Object) -> dict:
    keys = list(obj.keys())
    if "\x00" in "".join(keys):  # looked up as C strings: "a\x00" would find "a"
        raise KeyError("a key holds a NUL")
    return {key: _convert(obj[key]) for key in keys}  # items() would deep-copy


def _convert_array(array: simdjson.Array) -> object:
    if len(array) == 0:
        return []
    first = array[0]
    if isinstance(first, simdjson.Array) or (
        isinstance(first, int | float) and not isinstance(first, bool) and len(array) >= _WALK_LIMIT
    ):
        numeric = numeric_array(array)
        if numeric is not None:
            return numeric
    elif len(array) <= _WALK_LIMIT:
        return [_convert(item) for item in array]
    return array.as_list()


def numeric_array(array: simdjson.Array) -> np.ndarray | None:
    """The array as int64 or float64 numpy, or None if it is not a regular numeric array."""
    shape = []
    probe: object = array
    while isinstance(probe, simdjson.Array):
        shape.append(len(probe))
        if not shape[-1]:
            return None
        probe = probe[0]
    if len(shape) > _MAX_NDIM:  # numpy cannot hold it: the codecs' checks say so
        return None
    flat = _int64s(array) if isinstance(probe, int) else None  # a float leads: skip it
    if flat is None:
        flat = _doubles(array)
        if flat is None or (
            flat.size
            and not -_EXACT_DOUBLE < flat.min() <= flat.max() < _EXACT_DOUBLE
            and _needs_python_ints(array.mini)
        ):
            return None
    if flat.size != math.prod(shape) or not _is_regular(array.mini, shape):
        return None
    return flat.reshape(shape)


def _needs_python_ints(text: bytes) -> bool:
    """Whether minified JSON numbers ``text`` must stay exact Python ints rather than doubles.

    Asked only once a value reaches 2**53, where doubles start skipping integers and the
    buffer no longer says which values were written as integers; the text does. Integers
    only (so beyond int64: UINT64) stay ints, and so does any integer a double would round.
    """
    tokens = _NUMBER.findall(text)
    integers = [token for token in tokens if not _NOT_INTEGER.search(token)]
    return len(integers) == len(tokens) or any(
        float(int(token)) != int(token) for token in integers
    )


def _int64s(array: simdjson.Array) -> np.ndarray | None:
    try:
        return np.frombuffer(array.as_buffer(of_type="i"), dtype=np.int64)
    except (TypeError, ValueError):  # a float somewhere, or an integer beyond int64
        return None


def _doubles(array: simdjson.Array) -> np.ndarray | None:
    try:
        return np.frombuffer(array.as_buffer(of_type="d"), dtype=np.float64)
    except (TypeError, ValueError):  # strings, booleans, null or objects inside
        return None


def _is_regular(text: bytes, shape: list[int]) -> bool:
    """Whether minified JSON ``text`` (numbers only) is a nested array of exactly ``shape``.

    With the numbers deleted, brackets and commas fix the nesting and how many values each
    innermost array holds, except that ``[]`` and ``[x]`` look alike; the caller's element
    count check (``flat.size == prod(shape)``) rules that out.
    """
    return text.translate(None, _NUMBER_CHARS) == _skeleton(tuple(shape))


def _skeleton(shape: tuple[int, ...]) -> bytes:
    text = b""
    for size in reversed(shape):
        text = b"[" + b",".join([text] * size) + b"]"
    return text
