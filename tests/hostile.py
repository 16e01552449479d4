"""The hostile-input catalogue shared by the battery tests: one :class:`Case` per kind.

Each case is something a careless or malicious client sends, the status it must get and a
phrase its ``{"error": ...}`` message must contain (so the message names the problem).
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Case:
    kind: str  # what is wrong, unique across the catalogue
    method: str
    url: str
    body: bytes | None
    status: int
    says: str
    headers: dict = field(default_factory=dict)


def j(value: object) -> bytes:
    return json.dumps(value).encode()


IMAGE = np.zeros((28, 28, 1)).tolist()
HISTORY = [5.0] * 27
FEATURES = [0.5] * 30

PREDICT_DIGITS = "/v1/models/digits:predict"
PREDICT_TEXT = "/v1/models/sentiment:predict"
PREDICT_TUMOR = "/v1/models/tumor-anomaly:predict"
CLASSIFY_DIGITS = "/v1/models/digits:classify"
CLASSIFY_TEXT = "/v1/models/sentiment:classify"
FORECAST = "/v1/models/sunspots:forecast"
DETECT = "/v1/models/tumor-anomaly:detect"
INFER_DIGITS = "/v2/models/digits/infer"
INFER_TEXT = "/v2/models/sentiment/infer"

# Malformed bodies: the same JSON-level faults against every API that parses a body.
BODY_APIS = {
    "v1 predict": PREDICT_DIGITS,
    "v1 predict text": PREDICT_TEXT,
    "v1 classify": CLASSIFY_DIGITS,
    "v1 forecast": FORECAST,
    "v1 detect": DETECT,
    "v2 infer": INFER_DIGITS,
    "v2 index": "/v2/repository/index",
}
MALFORMED = {
    "truncated JSON": (b'{"instances": [1, ', "malformed JSON"),
    "top-level array": (b"[1, 2, 3]", "must be a JSON object, got list"),
    "top-level string": (b'"hello"', "must be a JSON object, got str"),
    "top-level number": (b"42", "must be a JSON object, got int"),
    "top-level null": (b"null", "must be a JSON object, got NoneType"),
    "invalid UTF-8": (b'{"instances": ["\xff\xfe"]}', "malformed JSON"),
    "trailing garbage": (b'{"instances": []} and more', "malformed JSON"),
    "raw control character in a string": (b'{"instances": ["a\x01b"]}', "malformed JSON"),
    "lone UTF-16 surrogate": (b'{"instances": ["\\ud800"]}', "lone UTF-16 surrogate"),
    "form-encoded body": (b"instances=1&k=2", "malformed JSON"),
    "XML body": (b"<instances><i>1</i></instances>", "malformed JSON"),
    "single-quoted JSON": (b"{'instances': [1]}", "malformed JSON"),
    "JSON with a comment": (b'{"instances": [1] /* x */}', "malformed JSON"),
    "unquoted key": (b"{instances: [1]}", "malformed JSON"),
}


def malformed_cases() -> list[Case]:
    cases = [
        Case(f"{api}: {name}", "POST", url, body, 400, says)
        for api, url in BODY_APIS.items()
        for name, (body, says) in MALFORMED.items()
        # an empty or whitespace body is a valid "no options" index request
    ]
    cases += [
        Case(f"{api}: empty body", "POST", url, b"", 400, "the request body is empty")
        for api, url in BODY_APIS.items()
        if api != "v2 index"
    ]
    return cases


def _png(width: int, height: int) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (width, height)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def v1_cases() -> list[Case]:
    P, T = PREDICT_DIGITS, PREDICT_TEXT

    def bad(kind, url, body, says, status=400):
        return Case(kind, "POST", url, j(body), status, says)

    return [
        bad("predict: neither instances nor inputs", P, {}, "exactly one of 'instances'"),
        bad(
            "predict: an unknown key",
            P,
            {"instances": [IMAGE], "instance": 1},
            "unknown key(s) ['instance'] in the predict body",
        ),
        bad(
            "predict: a NUL in a key",
            P,
            {"instances\u0000": [IMAGE]},
            "unknown key(s) ['instances\\x00']",
        ),
        bad(
            "classify: a misspelt option",
            CLASSIFY_DIGITS,
            {"instances": [IMAGE], "kk": 2},
            "unknown key(s) ['kk'] in this verb's body; it takes ['instances', 'k']",
        ),
        bad(
            "forecast: a misspelt option",
            FORECAST,
            {"instances": [HISTORY], "step": 2},
            "unknown key(s) ['step']",
        ),
        bad(
            "detect: a misspelt option",
            DETECT,
            {"instances": [FEATURES], "explains": True},
            "unknown key(s) ['explains']",
        ),
        bad(
            "predict: both instances and inputs",
            P,
            {"instances": [IMAGE], "inputs": [IMAGE]},
            "exactly one of 'instances'",
        ),
        bad("predict: instances a number", P, {"instances": 5}, "'instances' must be a list"),
        bad("predict: instances a string", P, {"instances": "x"}, "'instances' must be a list"),
        bad("predict: instances empty", P, {"instances": []}, "'instances' is empty"),
        bad(
            "predict: ragged rows", P, {"instances": [[[0.0]] * 28] * 27 + [[[0.0]] * 27]}, "ragged"
        ),
        bad("predict: wrong shape", P, {"instances": [[1, 2]]}, "expects shape [-1, 28, 28, 1]"),
        bad("predict: one dimension too many", P, {"instances": [[IMAGE]]}, "expects shape"),
        bad("predict: scalar instances", P, {"instances": [1.0, 2.0]}, "expects shape"),
        bad("predict: strings for pixels", P, {"instances": [[["a"]] * 28] * 1}, "input 'image'"),
        bad(
            "predict: booleans for pixels",
            P,
            {"instances": [[[[True]] * 28] * 28]},
            "input 'image'",
        ),
        bad("predict: nulls for pixels", P, {"instances": [[[[None]] * 28] * 28]}, "input 'image'"),
        bad(
            "predict: mixed numbers and strings",
            P,
            {"instances": [[[[0.0]] * 27 + [["x"]]] * 28]},
            "input 'image'",
        ),
        bad(
            "predict: b64 object for a numeric input",
            P,
            {"instances": [{"b64": "AAAA"}]},
            "input 'image'",
        ),
        bad(
            "predict: unknown input name in rows",
            P,
            {"instances": [{"img": IMAGE}]},
            "expected ['image']",
        ),
        bad(
            "predict: unknown input name in columns",
            P,
            {"inputs": {"img": [IMAGE]}},
            "unknown input(s) ['img']",
        ),
        bad(
            "predict: unknown signature",
            P,
            {"signature_name": "nope", "instances": [IMAGE]},
            "signature 'nope' not found",
        ),
        bad(
            "predict: signature name not a string",
            P,
            {"signature_name": 5, "instances": [IMAGE]},
            "'signature_name' must be a string",
        ),
        bad(
            "predict: empty input tensor",
            P,
            {"inputs": np.zeros((0, 28, 28, 1)).tolist()},
            "expects shape [-1, 28, 28, 1], got [0]",
        ),
        bad(
            "predict: batch beyond what the model takes",
            P,
            {"instances": [[[[0]] * 28] * 28] * 4097},
            "takes at most 4096 rows",
        ),
        bad("predict text: numbers for strings", T, {"instances": [1, 2]}, "expects strings"),
        bad(
            "predict text: nested strings", T, {"instances": [["a"]]}, "input 'text' expects shape"
        ),
        bad(
            "predict text: invalid base64",
            T,
            {"instances": [{"b64": "!!!not base64"}]},
            "invalid base64",
        ),
        bad("predict text: b64 not a string", T, {"instances": [{"b64": 5}]}, "expects strings"),
        bad(
            "predict text: b64 object with extra key",
            T,
            {"instances": [{"b64": "aGk=", "x": 1}]},
            "expects strings or",
        ),
        bad("predict text: null instance", T, {"instances": [None]}, "expects strings"),
        bad(
            "predict text: mixed strings and numbers", T, {"instances": ["a", 1]}, "expects strings"
        ),
        bad("predict text: ragged nested strings", T, {"inputs": [["a", "b"], ["c"]]}, "ragged"),
        bad(
            "predict columns: several inputs expected as object",
            PREDICT_TUMOR,
            {"inputs": [FEATURES[:3]]},
            "expects shape [-1, 30]",
        ),
        bad(
            "classify: k zero",
            CLASSIFY_DIGITS,
            {"instances": [IMAGE], "k": 0},
            "'k' must be an integer in [1, 10]",
        ),
        bad(
            "classify: k above the labels",
            CLASSIFY_DIGITS,
            {"instances": [IMAGE], "k": 11},
            "'k' must be an integer in [1, 10]",
        ),
        bad(
            "classify: k a string",
            CLASSIFY_DIGITS,
            {"instances": [IMAGE], "k": "3"},
            "'k' must be an integer",
        ),
        bad(
            "classify: k a boolean",
            CLASSIFY_DIGITS,
            {"instances": [IMAGE], "k": True},
            "'k' must be an integer",
        ),
        bad(
            "classify: k a fraction",
            CLASSIFY_DIGITS,
            {"instances": [IMAGE], "k": 2.5},
            "'k' must be an integer",
        ),
        bad(
            "classify: k huge",
            CLASSIFY_DIGITS,
            {"instances": [IMAGE], "k": 10**30},
            "'k' must be an integer",
        ),
        bad(
            "classify: instances missing",
            CLASSIFY_DIGITS,
            {"k": 2},
            "'instances' must be a non-empty list",
        ),
        bad(
            "classify: instances empty",
            CLASSIFY_DIGITS,
            {"instances": []},
            "'instances' must be a non-empty list",
        ),
        bad(
            "classify image: b64 not an image",
            CLASSIFY_DIGITS,
            {"instances": [{"b64": base64.b64encode(b"not an image").decode()}]},
            "not a PNG or JPEG image",
        ),
        bad(
            "classify image: invalid base64",
            CLASSIFY_DIGITS,
            {"instances": [{"b64": "@@@"}]},
            "not a PNG or JPEG image",
        ),
        bad(
            "classify image: b64 not a string",
            CLASSIFY_DIGITS,
            {"instances": [{"b64": [1]}]},
            "'b64' must be a base64 string",
        ),
        bad(
            "classify image: gigapixel PNG",
            CLASSIFY_DIGITS,
            {"instances": [{"b64": _png(20000, 20000)}]},
            "exceeds the limit",
        ),
        bad(
            "classify image: pixels of the wrong shape",
            CLASSIFY_DIGITS,
            {"instances": [[[0] * 5] * 5]},
            "expected pixels of shape [28, 28, 1]",
        ),
        bad(
            "classify image: strings for pixels",
            CLASSIFY_DIGITS,
            {"instances": ["abc"]},
            "neither a pixel array nor a b64 image",
        ),
        bad(
            "classify image: ragged pixel rows",
            CLASSIFY_DIGITS,
            {"instances": [[[0] * 28] * 27 + [[0] * 3]]},
            "instance 0",
        ),
        bad(
            "classify text: a number for a sentence",
            CLASSIFY_TEXT,
            {"instances": [5]},
            "instances of a text model must be strings",
        ),
        bad(
            "classify text: k above the labels",
            CLASSIFY_TEXT,
            {"instances": ["a"], "k": 4},
            "'k' must be an integer in [1, 3]",
        ),
        bad(
            "classify text: lone surrogate",
            CLASSIFY_TEXT,
            {"instances": ["\ud800"]},
            "lone UTF-16 surrogate",
        ),
        bad(
            "classify on a forecaster",
            "/v1/models/sunspots:classify",
            {"instances": [HISTORY]},
            "is not a classification model",
            501,
        ),
        bad(
            "forecast: steps zero",
            FORECAST,
            {"instances": [HISTORY], "steps": 0},
            "'steps' must be an integer in [1, 10]",
        ),
        bad(
            "forecast: steps beyond the horizon",
            FORECAST,
            {"instances": [HISTORY], "steps": 11},
            "'steps' must be an integer in [1, 10]",
        ),
        bad(
            "forecast: steps negative",
            FORECAST,
            {"instances": [HISTORY], "steps": -3},
            "'steps' must be an integer",
        ),
        bad(
            "forecast: steps a string",
            FORECAST,
            {"instances": [HISTORY], "steps": "5"},
            "'steps' must be an integer",
        ),
        bad(
            "forecast: history too short",
            FORECAST,
            {"instances": [[1.0, 2.0]]},
            "at least 27 values",
        ),
        bad(
            "forecast: history of strings",
            FORECAST,
            {"instances": [["a"] * 27]},
            "history must be a list of numbers",
        ),
        bad(
            "forecast: history nested",
            FORECAST,
            {"instances": [[HISTORY]]},
            "history must hold at least 27 values",
        ),
        bad(
            "forecast: history a number",
            FORECAST,
            {"instances": [5]},
            "history must hold at least 27 values",
        ),
        bad(
            "forecast: instances not a list",
            FORECAST,
            {"instances": {"a": 1}},
            "'instances' must be a non-empty list",
        ),
        bad(
            "forecast on a classifier",
            "/v1/models/digits:forecast",
            {"instances": [IMAGE]},
            "is not a forecasting model",
            501,
        ),
        bad(
            "detect: threshold a string",
            DETECT,
            {"instances": [FEATURES], "threshold": "high"},
            "'threshold' must be a finite number",
        ),
        bad(
            "detect: threshold a boolean",
            DETECT,
            {"instances": [FEATURES], "threshold": True},
            "'threshold' must be a finite number",
        ),
        bad(
            "detect: explain not a boolean",
            DETECT,
            {"instances": [FEATURES], "explain": "yes"},
            "'explain' must be true or false",
        ),
        bad(
            "detect: named features missing",
            DETECT,
            {"instances": [{"mean radius": 1.0}]},
            "lacks features",
        ),
        bad(
            "detect: too few features",
            DETECT,
            {"instances": [FEATURES[:5]]},
            "expects shape [-1, 30]",
        ),
        bad(
            "detect: ragged feature rows",
            DETECT,
            {"instances": [FEATURES, FEATURES[:4]]},
            "of equal length",
        ),
        bad(
            "detect: strings for features", DETECT, {"instances": [["x"] * 30]}, "lists of numbers"
        ),
        bad(
            "detect on a text model",
            "/v1/models/sentiment:detect",
            {"instances": ["a"]},
            "is not a anomaly_detection model",
            501,
        ),
    ] + [
        Case(
            f"detect: threshold {literal.decode()}",
            "POST",
            DETECT,
            b'{"instances": [['
            + ",".join(map(str, FEATURES)).encode()
            + b']], "threshold": '
            + literal
            + b"}",
            400,
            "'threshold' must be a finite number",
        )
        for literal in (b"NaN", b"Infinity", b"-Infinity")
    ]


def _tensor(**overrides) -> dict:
    tensor = {"name": "image", "shape": [1, 28, 28, 1], "datatype": "FP32", "data": IMAGE}
    tensor.update(overrides)
    return {key: value for key, value in tensor.items() if value is not None}


def v2_json_cases() -> list[Case]:
    def bad(kind, body, says, url=INFER_DIGITS, status=400):
        return Case(f"v2 infer: {kind}", "POST", url, j(body), status, says)

    good = _tensor()
    return [
        bad("inputs missing", {"id": "1"}, "'inputs' must be a non-empty list"),
        bad("inputs empty", {"inputs": []}, "'inputs' must be a non-empty list"),
        bad("inputs an object", {"inputs": good}, "'inputs' must be a non-empty list"),
        bad("input not an object", {"inputs": [5]}, "inputs[0] must be an object"),
        bad("input without a name", {"inputs": [_tensor(name=None)]}, "with a string 'name'"),
        bad("input name a number", {"inputs": [_tensor(name=7)]}, "with a string 'name'"),
        bad("shape missing", {"inputs": [_tensor(shape=None)]}, "'shape' must be a list"),
        bad(
            "shape negative",
            {"inputs": [_tensor(shape=[-1, 28, 28, 1])]},
            "'shape' must be a list of non-negative integers",
        ),
        bad("shape of strings", {"inputs": [_tensor(shape=["1"])]}, "'shape' must be a list"),
        bad("shape of booleans", {"inputs": [_tensor(shape=[True])]}, "'shape' must be a list"),
        bad("shape a number", {"inputs": [_tensor(shape=784)]}, "'shape' must be a list"),
        bad(
            "datatype unknown", {"inputs": [_tensor(datatype="FLOAT")]}, "unknown datatype 'FLOAT'"
        ),
        bad(
            "datatype lower case", {"inputs": [_tensor(datatype="fp32")]}, "unknown datatype 'fp32'"
        ),
        bad(
            "datatype not the model's",
            {"inputs": [_tensor(datatype="INT32")]},
            "has datatype INT32 but the model expects FP32",
        ),
        bad("data missing", {"inputs": [_tensor(data=None)]}, "has neither 'data' nor"),
        bad(
            "data too short for the shape",
            {"inputs": [_tensor(data=[0.0] * 10)]},
            "has 10 elements but shape [1, 28, 28, 1] needs 784",
        ),
        bad(
            "data too long for the shape",
            {"inputs": [_tensor(data=[0.0] * 785)]},
            "has 785 elements",
        ),
        bad(
            "data of strings for FP32",
            {"inputs": [_tensor(data=["x"] * 784)]},
            "is FP32 but 'data' holds strings",
        ),
        bad("data ragged", {"inputs": [_tensor(data=[[0.0] * 3, [0.0]])]}, "ragged"),
        bad(
            "data with nulls",
            {"inputs": [_tensor(data=[None] * 784)]},
            "is FP32 but 'data' holds nulls",
        ),
        bad("same input twice", {"inputs": [good, good]}, "is given more than once"),
        bad("unknown input", {"inputs": [good, _tensor(name="other")]}, "unknown input(s)"),
        bad(
            "shape not the model's",
            {"inputs": [_tensor(shape=[1, 784], data=[0.0] * 784)]},
            "input 'image' expects shape [-1, 28, 28, 1]",
        ),
        bad("empty batch", {"inputs": [_tensor(shape=[0, 28, 28, 1], data=[])]}, "batch size 0"),
        bad("id a number", {"id": 5, "inputs": [good]}, "'id' must be a string"),
        bad(
            "parameters a list",
            {"parameters": [1], "inputs": [good]},
            "'parameters' of the request must be an object",
        ),
        bad(
            "binary_data_output a string",
            {"parameters": {"binary_data_output": "yes"}, "inputs": [good]},
            "'binary_data_output' must be true or false",
        ),
        bad(
            "shared memory input",
            {"inputs": [_tensor(parameters={"shared_memory_region": "r"})]},
            "shared memory is not supported",
        ),
        bad(
            "input parameters a string",
            {"inputs": [_tensor(parameters="x")]},
            "'parameters' of input 'image' must be an object",
        ),
        bad(
            "outputs an object",
            {"inputs": [good], "outputs": {"name": "probabilities"}},
            "'outputs' must be a list",
        ),
        bad(
            "output without a name",
            {"inputs": [good], "outputs": [{}]},
            "outputs[0] must be an object with a string 'name'",
        ),
        bad(
            "unknown output",
            {"inputs": [good], "outputs": [{"name": "nope"}]},
            "unknown output(s) ['nope']",
        ),
        bad(
            "classification negative",
            {
                "inputs": [good],
                "outputs": [{"name": "probabilities", "parameters": {"classification": -1}}],
            },
            "classification must be a positive integer",
        ),
        bad(
            "classification a string",
            {
                "inputs": [good],
                "outputs": [{"name": "probabilities", "parameters": {"classification": "3"}}],
            },
            "classification must be a positive integer",
        ),
        bad(
            "binary_data a string",
            {
                "inputs": [good],
                "outputs": [{"name": "probabilities", "parameters": {"binary_data": "yes"}}],
            },
            "binary_data must be true or false",
        ),
        bad(
            "INT32 values out of range",
            {"inputs": [_tensor(datatype="INT32", data=[2**40] * 784)]},
            "has datatype INT32 but the model expects FP32",
        ),
        bad(
            "BYTES data for a text model holds numbers",
            {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": [1, 2]}]},
            "is BYTES but 'data' holds a int",
            url=INFER_TEXT,
        ),
        bad(
            "BYTES data holds objects",
            {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [{"a": 1}]}]},
            "is BYTES but 'data' holds a dict",
            url=INFER_TEXT,
        ),
        bad(
            "FP32 for a text model",
            {"inputs": [{"name": "text", "shape": [1], "datatype": "FP32", "data": [1.0]}]},
            "has datatype FP32 but the model expects BYTES",
            url=INFER_TEXT,
        ),
        bad(
            "BYTES lone surrogate",
            {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["\ud800"]}]},
            "lone UTF-16 surrogate",
            url=INFER_TEXT,
        ),
        bad(
            "unknown model",
            {"inputs": [good]},
            "model 'nope' not found",
            url="/v2/models/nope/infer",
            status=404,
        ),
        bad(
            "version not a number",
            {"inputs": [good]},
            "version 'abc' of model 'digits'",
            url="/v2/models/digits/versions/abc/infer",
            status=404,
        ),
        bad(
            "version not loaded",
            {"inputs": [good]},
            "version 99 of model 'digits'",
            url="/v2/models/digits/versions/99/infer",
            status=404,
        ),
        bad(
            "version beyond 64 bits",
            {"inputs": [good]},
            "of model 'digits' is not available",
            url="/v2/models/digits/versions/99999999999999999999999/infer",
            status=404,
        ),
    ]


def _binary(header: dict, blob: bytes, length: str | None = None) -> tuple[bytes, dict]:
    text = j(header)
    return text + blob, {"Inference-Header-Content-Length": length or str(len(text))}


def v2_binary_cases() -> list[Case]:
    pixels = np.zeros(784, np.float32).tobytes()

    def header(size=784 * 4, datatype="FP32", shape=(1, 28, 28, 1), name="image", **extra):
        tensor = {
            "name": name,
            "shape": list(shape),
            "datatype": datatype,
            "parameters": {"binary_data_size": size},
            **extra,
        }
        return {"inputs": [tensor]}

    def bad(kind, body_headers, says, url=INFER_DIGITS):
        body, headers = body_headers
        return Case(f"v2 binary: {kind}", "POST", url, body, 400, says, headers)

    text = len(j(header()))
    return [
        bad(
            "header length not a number",
            _binary(header(), pixels, "abc"),
            "Inference-Header-Content-Length must be an integer, got 'abc'",
        ),
        bad("header length zero", _binary(header(), pixels, "0"), "is 0 but the body has"),
        bad("header length negative", _binary(header(), pixels, "-5"), "is -5 but the body has"),
        bad(
            "header length beyond the body",
            _binary(header(), pixels, str(10**9)),
            "but the body has",
        ),
        bad(
            "header length cuts the JSON",
            _binary(header(), pixels, str(text - 5)),
            "malformed JSON",
        ),
        bad(
            "header length too long",
            _binary(header(), pixels, str(text + 5)),
            "malformed JSON",
        ),
        bad(
            "binary size beyond the body",
            _binary(header(size=len(pixels) + 4), pixels),
            "goes beyond the body",
        ),
        bad(
            "binary size short of the shape",
            _binary(header(size=16), pixels[:16]),
            "binary_data_size 16 does not match 784 FP32 elements",
        ),
        bad(
            "bytes left after the last input",
            _binary(header(), pixels + b"\x00" * 8),
            "holds 8 bytes of binary data after the last binary input",
        ),
        bad(
            "binary size negative",
            _binary(header(size=-1), pixels),
            "binary_data_size must be a non-negative integer",
        ),
        bad(
            "binary size a string",
            _binary(header(size="3136"), pixels),
            "binary_data_size must be a non-negative integer",
        ),
        bad(
            "both data and binary size",
            _binary(header(data=[0.0] * 784), pixels),
            "has both 'data' and binary_data_size",
        ),
        bad(
            "BYTES element length truncated",
            _binary(
                header(size=2, datatype="BYTES", shape=(1,), name="text"),
                b"\x05\x00",
            ),
            "truncated BYTES element length",
            url=INFER_TEXT,
        ),
        bad(
            "BYTES element longer than its data",
            _binary(
                header(size=6, datatype="BYTES", shape=(1,), name="text"),
                b"\x09\x00\x00\x00hi",
            ),
            "goes beyond its binary_data_size",
            url=INFER_TEXT,
        ),
        bad(
            "BYTES count not the shape's",
            _binary(
                header(size=6, datatype="BYTES", shape=(2,), name="text"),
                b"\x02\x00\x00\x00hi",
            ),
            "has 1 elements but shape [2] needs 2",
            url=INFER_TEXT,
        ),
        bad(
            "binary header not JSON",
            (b"\x00\x01binary" + pixels, {"Inference-Header-Content-Length": "8"}),
            "malformed JSON",
        ),
    ]


def url_cases() -> list[Case]:
    def get(kind, url, status, says, method="GET"):
        return Case(kind, method, url, None, status, says)

    body = j({"instances": [IMAGE]})
    return [
        get("v1: no model name", "/v1/models/", 404, "no such endpoint"),
        get(
            "v1: path traversal in the name",
            "/v1/models/..%2F..%2Fetc%2Fpasswd",
            404,
            "malformed request",
        ),
        get("v1: dot-dot name", "/v1/models/..", 404, "not found"),
        get("v1: NUL in the name", "/v1/models/dig%00its", 404, "not found"),
        get("v1: control character in the name", "/v1/models/dig%07its", 404, "not found"),
        get("v1: unicode name", "/v1/models/%E6%95%B0%E5%AD%97", 404, "not found"),
        get(
            "v1: right-to-left override in the name", "/v1/models/%E2%80%AEstigid", 404, "not found"
        ),
        get("v1: version not a number", "/v1/models/digits/versions/abc", 404, "malformed request"),
        get(
            "v1: version negative",
            "/v1/models/digits/versions/-1",
            404,
            "version -1 of model 'digits' is not available",
        ),
        get(
            "v1: version not loaded",
            "/v1/models/digits/versions/99",
            404,
            "version 99 of model 'digits' is not available",
        ),
        get(
            "v1: version beyond 64 bits",
            "/v1/models/digits/versions/" + "9" * 40,
            404,
            "is not available",
        ),
        get("v1: unknown label", "/v1/models/digits/labels/nope", 404, "label 'nope' not found"),
        get(
            "v1: label with bad characters",
            "/v1/models/digits/labels/bad-label!",
            404,
            "malformed request",
        ),
        get(
            "v1: version and label",
            "/v1/models/digits/versions/1/labels/stable",
            404,
            "malformed request",
        ),
        get("v1: trailing slash", "/v1/models/digits/", 404, "malformed request"),
        get(
            "v1: traversal after metadata",
            "/v1/models/digits/metadata/../..",
            404,
            "malformed request",
        ),
        Case(
            "v1: unknown verb",
            "POST",
            "/v1/models/digits:explode",
            body,
            404,
            "unknown verb ':explode'",
        ),
        Case(
            "v1: verb in capitals",
            "POST",
            "/v1/models/digits:PREDICT",
            body,
            404,
            "malformed request",
        ),
        Case(
            "v1: two verbs",
            "POST",
            "/v1/models/digits:predict:predict",
            body,
            404,
            "malformed request",
        ),
        get("v1: GET on a verb", "/v1/models/digits:predict", 405, "predict requires POST"),
        Case(
            "v1: POST on the status URL",
            "POST",
            "/v1/models/digits",
            body,
            405,
            "POST is not allowed",
        ),
        Case(
            "v1: POST on metadata",
            "POST",
            "/v1/models/digits/metadata",
            body,
            405,
            "POST is not allowed",
        ),
        get(
            "v1: DELETE a model",
            "/v1/models/digits",
            405,
            "method DELETE is not allowed",
            method="DELETE",
        ),
        get("v1: PUT a model", "/v1/models/digits", 405, "method PUT is not allowed", method="PUT"),
        get("v1: unknown model status", "/v1/models/nope", 404, "model 'nope' not found"),
        get(
            "v1: unknown model metadata", "/v1/models/nope/metadata", 404, "model 'nope' not found"
        ),
        get(
            "v1: broken model's metadata",
            "/v1/models/broken/metadata",
            503,
            "has no available version",
        ),
        get("unknown API", "/v3/models/digits", 404, "no such endpoint: GET /v3/models/digits"),
        get("v2: unknown model metadata", "/v2/models/nope", 404, "model 'nope' not found"),
        get(
            "v2: version not a number",
            "/v2/models/digits/versions/1.5",
            404,
            "version '1.5' of model 'digits' is not available",
        ),
        get(
            "v2: a superscript digit as the version",
            "/v2/models/digits/versions/%C2%B2",
            404,
            "version '²' of model 'digits' is not available",
        ),
        get(
            "console: a superscript digit as the version",
            "/console/models/digits?version=%C2%B2",
            404,
            "is not a version number",
        ),
        get("v2: unknown model ready", "/v2/models/nope/ready", 404, "model 'nope' not found"),
        get("v2: GET infer", "/v2/models/digits/infer", 405, "method GET is not allowed"),
        get("v2: POST health", "/v2/health/live", 405, "method POST is not allowed", method="POST"),
        Case(
            "v2 index: ready not a boolean",
            "POST",
            "/v2/repository/index",
            j({"ready": "yes"}),
            400,
            "'ready' must be true or false",
        ),
        Case(
            "v2 index: a misspelt key",
            "POST",
            "/v2/repository/index",
            j({"readdy": True}),
            400,
            "unknown key(s) ['readdy'] in the repository index body; it takes ['ready']",
        ),
        Case(
            "v2 load: a key beside parameters",
            "POST",
            "/v2/repository/models/digits/load",
            j({"parameters": {}, "config": "{}"}),
            400,
            "unknown key(s) ['config'] in the repository load/unload body",
        ),
        Case(
            "v2 load: model control off without a token",
            "POST",
            "/v2/repository/models/digits/load",
            None,
            403,
            "model control is disabled",
        ),
        Case(
            "v2 unload: model control off without a token",
            "POST",
            "/v2/repository/models/digits/unload",
            None,
            403,
            "model control is disabled",
        ),
        Case(
            "v2 load: traversal in the name",
            "POST",
            "/v2/repository/models/..%2F..%2Fetc/load",
            None,
            404,
            "no such endpoint",
        ),
        Case(
            "v1: header timeout not a number",
            "GET",
            "/v1/models/digits",
            None,
            400,
            "X-Request-Timeout-Ms must be a positive number",
            {"X-Request-Timeout-Ms": "soon"},
        ),
    ]


CATALOGUE = malformed_cases() + v1_cases() + v2_json_cases() + v2_binary_cases() + url_cases()
