"""TensorFlow Serving REST (v1) predict bodies <-> numpy.

Row format: ``{"instances": [...]}`` -> ``{"predictions": [...]}``; columnar format:
``{"inputs": ...}`` -> ``{"outputs": ...}``. Strings may travel as ``{"b64": "..."}``;
output tensors whose name ends in ``_bytes`` are returned that way (TF Serving's rule).
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from service.codecs.json_body import refuse_unknown_keys
from service.errors import InvalidInput, summary
from service.signature import TensorSpec

PREDICT_KEYS = {"instances", "inputs", "signature_name"}


def decode_predict(body: dict, specs: dict[str, TensorSpec]) -> tuple[dict[str, np.ndarray], bool]:
    """The request's input arrays and whether it used the row (``instances``) format."""
    refuse_unknown_keys(body, PREDICT_KEYS, "the predict body")  # "instance" is no request
    has_rows, has_cols = "instances" in body, "inputs" in body
    if has_rows == has_cols:
        raise InvalidInput(
            "the request must have exactly one of 'instances' (row format) or "
            "'inputs' (columnar format)"
        )
    names = sorted(specs)
    if has_rows:
        instances = body["instances"]
        if isinstance(instances, np.ndarray):  # already a numeric tensor (tensor_json)
            if len(names) != 1:
                raise InvalidInput(
                    f"the signature has several inputs {names}: each instance must be "
                    "an object keyed by input name"
                )
            return {names[0]: to_array(instances, specs[names[0]])}, True
        if not isinstance(instances, list):
            raise InvalidInput("'instances' must be a list with one entry per example")
        if not instances:
            raise InvalidInput("'instances' is empty; send at least one example")
        keyed = all(isinstance(e, dict) and "b64" not in e for e in instances)
        if len(names) == 1 and not keyed:
            return {names[0]: to_array(instances, specs[names[0]])}, True
        if not keyed:
            raise InvalidInput(
                f"the signature has several inputs {names}: each instance must be "
                "an object keyed by input name"
            )
        columns: dict[str, list] = {}
        for i, entry in enumerate(instances):
            if set(entry) != set(names):
                raise InvalidInput(f"instance {i} has inputs {sorted(entry)}; expected {names}")
            for name in names:
                columns.setdefault(name, []).append(entry[name])
        return {n: to_array(v, specs[n]) for n, v in columns.items()}, True
    inputs = body["inputs"]
    if isinstance(inputs, dict) and "b64" not in inputs:
        return {
            n: to_array(v, specs[n]) if n in specs else np.asarray(v) for n, v in inputs.items()
        }, False
    if len(names) != 1:
        raise InvalidInput(
            f"the signature has several inputs {names}: 'inputs' must be an "
            "object keyed by input name"
        )
    return {names[0]: to_array(inputs, specs[names[0]])}, False


def to_array(value: object, spec: TensorSpec) -> np.ndarray:
    """JSON value -> numpy array of the spec's dtype (no per-element loop for numbers)."""
    if spec.is_string:
        return _string_array(value, spec.name)
    try:
        # numbers parsed by tensor_json are arrays already; lists here are the rare rest
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"input '{spec.name}' is not a {spec.describe()} tensor: {_numpy_reason(exc)}"
        ) from None
    allowed = "biuf" if spec.dtype.kind == "b" else "iuf"
    if array.dtype.kind not in allowed:  # true/false or null would pass as 1.0 or NaN
        raise InvalidInput(
            f"input '{spec.name}' is not a {spec.describe()} tensor: "
            f"{_VALUES.get(array.dtype.kind, 'ragged or mixed-type')} values"
        )
    return array.astype(spec.dtype, copy=False) if spec.dtype.kind == "f" else array


_VALUES = {"b": "boolean", "U": "string", "S": "string"}


def _numpy_reason(exc: Exception) -> str:
    if "inhomogeneous" in str(exc):
        return "ragged nested lists (examples or rows of different lengths)"
    return summary(exc, 200)


def _string_array(value: object, name: str) -> np.ndarray:
    if isinstance(value, np.ndarray):  # numbers, parsed straight to numpy
        raise InvalidInput(
            f"input '{name}' expects strings or {{\"b64\": ...}} objects, got {_number_kind(value)}"
        )

    def convert(v):
        if isinstance(v, list):
            return [convert(x) for x in v]
        if isinstance(v, str):
            return v.encode("utf-8")
        if isinstance(v, dict) and set(v) == {"b64"} and isinstance(v["b64"], str):
            try:
                return base64.b64decode(v["b64"], validate=True)
            except binascii.Error:
                raise InvalidInput(f"input '{name}' has invalid base64 data") from None
        raise InvalidInput(
            f"input '{name}' expects strings or {{\"b64\": ...}} objects, got {type(v).__name__}"
        )

    converted = convert(value)
    array = np.empty(_shape_of(converted, name), dtype=object)
    array[...] = converted
    return array


def _number_kind(array: np.ndarray) -> str:
    """How the general path names the first value of a numeric array: int or float."""
    return "int" if array.dtype.kind in "iu" else "float"


def _shape_of(nested: object, name: str) -> tuple[int, ...]:
    shape = []
    while isinstance(nested, list):
        shape.append(len(nested))
        if not nested:
            break
        lengths = {len(x) if isinstance(x, list) else -1 for x in nested}
        if len(lengths) > 1:
            raise InvalidInput(f"input '{name}' has ragged nested lists")
        nested = nested[0]
    return tuple(shape)


def encode_outputs(outputs: dict[str, np.ndarray], row_format: bool) -> dict:
    """``{"predictions": ...}`` (rows) or ``{"outputs": ...}`` (columns), as TF Serving does."""
    values = {name: _jsonable(name, array) for name, array in outputs.items()}
    if not row_format:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    rows = len(next(iter(outputs.values())))
    return {"predictions": [{name: v[i] for name, v in values.items()} for i in range(rows)]}


def _jsonable(name: str, array: np.ndarray):
    if array.dtype != object and array.dtype.kind != "S":
        return np.ascontiguousarray(array)  # orjson serialises it natively
    if name.endswith("_bytes"):
        return _map_nested(array.tolist(), lambda b: {"b64": base64.b64encode(b).decode()})
    return _map_nested(
        array.tolist(), lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes) else b
    )


def _map_nested(value, fn):
    if isinstance(value, list):
        return [_map_nested(v, fn) for v in value]
    return fn(value)
