"""Open Inference Protocol (KServe V2) tensors <-> numpy, with Triton's extensions.

JSON tensors: ``{"name", "shape", "datatype", "data"}`` with ``data`` row-major, nested or
flat. Binary tensor extension (Triton ``extension_binary_data.md``): the body is the JSON
header of ``Inference-Header-Content-Length`` bytes followed by each binary tensor's raw
little-endian bytes in input order, each input announcing its size in
``parameters.binary_data_size``; BYTES elements are a 4-byte little-endian length followed
by the bytes. Outputs come back binary when the output asks with ``parameters.binary_data``
or the request with ``parameters.binary_data_output`` (the output's flag wins).
Classification extension (Triton ``extension_classification.md``): an output requested
with ``parameters.classification: k`` is replaced by BYTES ``"<score>:<index>[:<label>]"``,
the top k along its last axis.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from service import dtypes
from service.codecs.json_body import dumps
from service.codecs.tensor_json import parse_tensor_json
from service.errors import InternalError, InvalidInput, summary
from service.signature import TensorSpec

HEADER_LENGTH = "Inference-Header-Content-Length"

# In the order the specification lists them (error messages name them so).
DATATYPES: dict[str, np.dtype] = {name: dtypes.BY_V2[name].numpy for name in dtypes.V2_DATATYPES}

_UNSUPPORTED_PARAMETERS = (
    "shared_memory_region",
    "shared_memory_byte_size",
    "shared_memory_offset",
)


def datatype_of(spec: TensorSpec) -> str:
    known = dtypes.BY_TF_ENUM.get(spec.tf_dtype)
    if known is not None:
        return known.v2
    return "BYTES" if spec.is_string else str(spec.dtype)


def tensor_metadata(spec: TensorSpec) -> dict:
    """``{"name", "datatype", "shape"}`` with -1 for variable dimensions."""
    shape = [-1] if spec.shape is None else [-1 if d is None else d for d in spec.shape]
    return {"name": spec.name, "datatype": datatype_of(spec), "shape": shape}


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool | None  # None: follow the request-level binary_data_output
    classification: int  # 0: the raw tensor


@dataclass
class V2Request:
    """A decoded infer request: numpy inputs plus how the client wants the outputs."""

    id: str | None
    inputs: dict[str, np.ndarray]
    outputs: list[RequestedOutput] | None  # None: every output, in the model's order
    binary_output: bool  # request-level default

    @property
    def output_names(self) -> list[str] | None:
        return None if self.outputs is None else list(dict.fromkeys(o.name for o in self.outputs))


# ---- request --------------------------------------------------------------------------
def decode_request(
    body: bytes, header_length: str | None, specs: dict[str, TensorSpec]
) -> V2Request:
    """Parse an infer request (JSON, or JSON header + binary tensors) into numpy inputs.

    ``specs`` are the signature's inputs: a declared datatype must match the model's (as
    Triton requires); unknown or missing inputs are left to the shared validation.
    """
    header, binary = _split(body, header_length)
    request = parse_tensor_json(header)
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput("'id' must be a string")
    parameters = _parameters(request, "the request")
    binary_output = parameters.get("binary_data_output", False)
    if not isinstance(binary_output, bool):
        raise InvalidInput("parameter 'binary_data_output' must be true or false")
    entries = request.get("inputs")
    if not isinstance(entries, list) or not entries:
        raise InvalidInput("'inputs' must be a non-empty list of tensors")
    inputs: dict[str, np.ndarray] = {}
    offset = 0
    for index, entry in enumerate(entries):
        name, array, offset = _decode_input(entry, index, binary, offset, specs)
        if name in inputs:
            raise InvalidInput(f"input '{name}' is given more than once")
        inputs[name] = array
    if offset != len(binary):
        raise InvalidInput(
            f"the body holds {len(binary) - offset} bytes of binary data after "
            "the last binary input (check binary_data_size)"
        )
    return V2Request(request_id, inputs, _requested_outputs(request.get("outputs")), binary_output)


def _split(body: bytes, header_length: str | None) -> tuple[bytes, memoryview]:
    if header_length is None:
        return body, memoryview(b"")
    try:
        length = int(header_length)
    except ValueError:
        raise InvalidInput(f"{HEADER_LENGTH} must be an integer, got {header_length!r}") from None
    if not 0 < length <= len(body):
        raise InvalidInput(f"{HEADER_LENGTH} is {length} but the body has {len(body)} bytes")
    view = memoryview(body)
    return bytes(view[:length]), view[length:]


def _parameters(obj: dict, where: str) -> dict:
    parameters = obj.get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidInput(f"'parameters' of {where} must be an object")
    shared = [p for p in _UNSUPPORTED_PARAMETERS if p in parameters]
    if shared:
        raise InvalidInput(f"{where}: shared memory is not supported (got {shared})")
    return parameters


def _decode_input(
    entry: object, index: int, binary: memoryview, offset: int, specs: dict[str, TensorSpec]
) -> tuple[str, np.ndarray, int]:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise InvalidInput(
            f"inputs[{index}] must be an object with a string 'name', "
            "'shape', 'datatype' and 'data'"
        )
    name = entry["name"]
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise InvalidInput(
            f"input '{name}': 'shape' must be a list of non-negative integers, got {shape!r}"
        )
    datatype = entry.get("datatype")
    if datatype not in DATATYPES:
        raise InvalidInput(
            f"input '{name}': unknown datatype {datatype!r}; expected one of "
            + ", ".join(DATATYPES)
        )
    spec = specs.get(name)
    if spec is not None and datatype_of(spec) != datatype:
        raise InvalidInput(
            f"input '{name}' has datatype {datatype} but the model expects {datatype_of(spec)}"
        )
    parameters = _parameters(entry, f"input '{name}'")
    size = parameters.get("binary_data_size")
    count = math.prod(shape)
    if size is None:
        if "data" not in entry:
            raise InvalidInput(f"input '{name}' has neither 'data' nor parameters.binary_data_size")
        flat = _from_json(entry["data"], datatype, name)
        end = offset
    else:
        if "data" in entry:
            raise InvalidInput(f"input '{name}' has both 'data' and binary_data_size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidInput(
                f"input '{name}': binary_data_size must be a non-negative integer, got {size!r}"
            )
        end = offset + size
        if end > len(binary):
            raise InvalidInput(
                f"input '{name}': binary_data_size {size} goes beyond the body "
                f"({len(binary) - offset} bytes of binary data remain)"
            )
        flat = _from_binary(binary[offset:end], datatype, name, count)
    if flat.size != count:
        raise InvalidInput(
            f"input '{name}' has {flat.size} elements but shape {shape} needs {count}"
        )
    return name, flat.reshape(shape), end


def _from_json(data: object, datatype: str, name: str) -> np.ndarray:
    if not isinstance(data, list | np.ndarray):  # ndarray: numbers parsed by tensor_json
        data = [data]
    if datatype == "BYTES":
        return _json_strings(data, name)
    dtype = DATATYPES[datatype]
    try:
        array = data if isinstance(data, np.ndarray) else np.asarray(data)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"input '{name}' is not a {datatype} tensor: {_reason(exc)}") from None
    if dtype.kind in "fV":  # FP16/32/64, BF16
        if array.size and array.dtype.kind not in "iuf":  # true/false or null: not numbers
            held = {"b": "booleans", "U": "strings", "S": "strings"}.get(
                array.dtype.kind, "nulls or mixed values"
            )
            raise InvalidInput(f"input '{name}' is {datatype} but 'data' holds {held}")
        return array.astype(dtype, copy=False).ravel()
    if array.size == 0:
        return np.empty(0, dtype)
    if dtype.kind == "b":
        if array.dtype.kind != "b":
            raise InvalidInput(
                f"input '{name}' is BOOL but 'data' holds {array.dtype.kind!r} "
                "values; use true/false"
            )
    elif array.dtype.kind == "f" and np.all(np.mod(array, 1) == 0):
        # integers beyond int64 (UINT64) make numpy infer float64: convert the exact values
        try:
            return np.asarray(data, dtype=dtype).ravel()
        except (OverflowError, ValueError, TypeError):
            raise InvalidInput(
                f"input '{name}' has values outside the range of {datatype}"
            ) from None
    elif array.dtype.kind not in "iu":
        raise InvalidInput(f"input '{name}' is {datatype} but 'data' holds non-integer values")
    else:
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise InvalidInput(f"input '{name}' has values outside the range of {datatype}")
    return array.astype(dtype, copy=False).ravel()


def _json_strings(data: list, name: str) -> np.ndarray:
    flat: list[bytes] = []

    def walk(value: object) -> None:
        if isinstance(value, np.ndarray):  # numbers parsed straight to numpy
            kind = "int" if value.dtype.kind in "iu" else "float"
            raise InvalidInput(f"input '{name}' is BYTES but 'data' holds a {kind}; send strings")
        if isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            flat.append(value.encode("utf-8"))
        else:
            raise InvalidInput(
                f"input '{name}' is BYTES but 'data' holds a {type(value).__name__}; send strings"
            )

    walk(data)
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array


def _reason(exc: Exception) -> str:
    if "inhomogeneous" in str(exc):
        return "ragged nested lists"
    return summary(exc, 200)


def _from_binary(chunk: memoryview, datatype: str, name: str, count: int) -> np.ndarray:
    if datatype == "BYTES":
        return _deserialize_bytes(chunk, name)
    dtype = DATATYPES[datatype].newbyteorder("<")
    if len(chunk) != count * dtype.itemsize:
        raise InvalidInput(
            f"input '{name}': binary_data_size {len(chunk)} does not match "
            f"{count} {datatype} elements ({count * dtype.itemsize} bytes)"
        )
    return np.frombuffer(chunk, dtype=dtype)  # zero-copy view of the body


def _deserialize_bytes(chunk: memoryview, name: str) -> np.ndarray:
    items: list[bytes] = []
    pos, end = 0, len(chunk)
    while pos < end:
        if pos + 4 > end:
            raise InvalidInput(f"input '{name}': truncated BYTES element length at byte {pos}")
        (length,) = struct.unpack_from("<I", chunk, pos)
        pos += 4
        if pos + length > end:
            raise InvalidInput(
                f"input '{name}': BYTES element of {length} bytes at byte "
                f"{pos} goes beyond its binary_data_size"
            )
        items.append(bytes(chunk[pos : pos + length]))
        pos += length
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def _requested_outputs(entries: object) -> list[RequestedOutput] | None:
    if entries is None:
        return None
    if not isinstance(entries, list):
        raise InvalidInput("'outputs' must be a list of {\"name\": ...} objects")
    outputs = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise InvalidInput(f"outputs[{index}] must be an object with a string 'name'")
        name = entry["name"]
        parameters = _parameters(entry, f"output '{name}'")
        binary = parameters.get("binary_data")
        if binary is not None and not isinstance(binary, bool):
            raise InvalidInput(f"output '{name}': binary_data must be true or false")
        k = parameters.get("classification", 0)
        if not isinstance(k, int) or isinstance(k, bool) or k < 0:
            raise InvalidInput(
                f"output '{name}': classification must be a positive integer, got {k!r}"
            )
        outputs.append(RequestedOutput(name, binary, k))
    return outputs


# ---- response -------------------------------------------------------------------------
def encode_response(
    model_name: str,
    model_version: str,
    request: V2Request,
    outputs: dict[str, np.ndarray],
    labels_of: Callable[[str], list[str] | None],
) -> tuple[bytes, int | None]:
    """The response body and, when any output is binary, the JSON header's length.

    ``labels_of(output)`` gives the class labels of an output for the classification
    extension (None: the strings carry only score and index, as Triton without labels).
    """
    wanted = (
        request.outputs
        if request.outputs is not None
        else [RequestedOutput(name, None, 0) for name in outputs]
    )
    encoded, blobs = [], []
    for want in wanted:
        array = outputs[want.name]
        if want.classification:
            array = classify(array, want.classification, labels_of(want.name))
        binary = request.binary_output if want.binary is None else want.binary
        tensor = {
            "name": want.name,
            "datatype": _datatype_of_array(array),
            "shape": list(array.shape),
        }
        if binary:
            blob = _to_binary(array)
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = _to_json(array)
        encoded.append(tensor)
    response = {"model_name": model_name, "model_version": model_version}
    if request.id is not None:
        response["id"] = request.id
    response["outputs"] = encoded
    header = dumps(response)
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)


def classify(scores: np.ndarray, k: int, labels: list[str] | None) -> np.ndarray:
    """Top ``k`` of the last axis as ``"<score>:<index>[:<label>]"`` BYTES (Triton's format,
    scores printed like C++ ``std::to_string``); shape ``scores.shape[:-1] + (k,)``."""
    if scores.ndim == 0 or scores.dtype.kind not in "fiub":
        raise InvalidInput(
            "classification needs a numeric output with a class axis, got "
            f"shape {list(scores.shape)} of {scores.dtype}"
        )
    k = min(k, scores.shape[-1])
    top = np.argsort(-scores.astype(np.float64), axis=-1, kind="stable")[..., :k]
    values = np.take_along_axis(scores, top, axis=-1)
    out = np.empty(top.shape, dtype=object)
    for pos in np.ndindex(top.shape):
        index = int(top[pos])
        text = f"{float(values[pos]):f}:{index}"
        if labels is not None and index < len(labels):
            text += f":{labels[index]}"
        out[pos] = text.encode("utf-8")
    return out


def _datatype_of_array(array: np.ndarray) -> str:
    if array.dtype.kind in "OSU":
        return "BYTES"
    try:
        return dtypes.BY_NUMPY[array.dtype].v2
    except KeyError:
        raise InternalError(f"output dtype {array.dtype} has no V2 datatype") from None


def _to_json(array: np.ndarray) -> object:
    if array.dtype.kind in "OSU":
        return [
            v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
            for v in array.ravel().tolist()
        ]
    if array.dtype == DATATYPES["BF16"]:
        array = array.astype(np.float32)
    return np.ascontiguousarray(array).ravel()  # orjson serialises it natively


def _to_binary(array: np.ndarray) -> bytes | memoryview:
    if array.dtype.kind in "OSU":
        parts = []
        for value in array.ravel().tolist():
            data = value if isinstance(value, bytes) else str(value).encode("utf-8")
            parts.append(struct.pack("<I", len(data)))
            parts.append(data)
        return b"".join(parts)
    little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).reshape(-1)
    return memoryview(little.view(np.uint8))  # joined into the body without another copy
