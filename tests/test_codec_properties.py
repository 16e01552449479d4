"""Property-based tests (Hypothesis) for every codec: what goes in comes back out, and any
bytes at all are either decoded or refused with InvalidInput, never another exception."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from service import dtypes
from service.codecs import tensor_proto, tf_example, tf_rest, v2
from service.codecs.json_body import dumps, parse_json
from service.codecs.tensor_json import parse_tensor_json
from service.errors import InvalidInput
from service.signature import TensorSpec

PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=40,
)
NUMERIC = [d for d in dtypes.DTYPES if d.numpy.kind in "iuf" and d.v2 != "BF16"]
SHAPES = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5)


def _plain(value: object) -> object:
    """Arrays the tensor parser produced, back as the lists orjson would have built."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@PROPERTY
@given(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5))
def test_tensor_json_equals_a_plain_json_parse(document):
    body = orjson.dumps(document)
    assert _plain(parse_tensor_json(body)) == orjson.loads(body)


@PROPERTY
@given(st.binary(max_size=200))
def test_any_bytes_parse_or_are_refused_with_invalid_input(body):
    for parse in (parse_json, parse_tensor_json):
        with contextlib.suppress(InvalidInput):
            parse(body)


def _spec(dtype: dtypes.DType, shape: tuple[int, ...]) -> TensorSpec:
    return TensorSpec("x", dtype.numpy, (None, *shape[1:]), dtype.tf_enum)


@st.composite
def tensors(draw, kinds: str = "iuf"):
    dtype = draw(st.sampled_from([d for d in NUMERIC if d.numpy.kind in kinds]))
    shape = draw(SHAPES)
    elements = (
        st.floats(width=dtype.numpy.itemsize * 8, allow_nan=False, allow_infinity=False)
        if dtype.numpy.kind == "f"
        else None
    )
    return dtype, draw(hnp.arrays(dtype.numpy, shape, elements=elements))


@PROPERTY
@given(tensors(kinds="f"))
def test_tf_rest_rows_and_columns_round_trip(dtype_and_array):
    dtype, array = dtype_and_array
    spec = _spec(dtype, array.shape)
    for body, rows in (({"instances": array.tolist()}, True), ({"inputs": array.tolist()}, False)):
        parsed = parse_tensor_json(orjson.dumps(body))
        inputs, row_format = tf_rest.decode_predict(parsed, {"x": spec})
        assert row_format is rows
        np.testing.assert_array_equal(inputs["x"], array)
        encoded = orjson.loads(dumps(tf_rest.encode_outputs({"y": array}, rows)))
        np.testing.assert_array_equal(np.asarray(next(iter(encoded.values())), array.dtype), array)


@PROPERTY
@given(tensors(), st.booleans())
def test_v2_json_and_binary_tensors_round_trip(dtype_and_array, binary):
    dtype, array = dtype_and_array
    spec = _spec(dtype, array.shape)
    tensor = {"name": "x", "shape": list(array.shape), "datatype": dtype.v2}
    if binary:
        blob = np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes()
        tensor["parameters"] = {"binary_data_size": len(blob)}
        header = orjson.dumps({"inputs": [tensor]})
        body, length = header + blob, str(len(header))
    else:
        tensor["data"] = array.ravel().tolist()
        body, length = orjson.dumps({"inputs": [tensor]}), None
    decoded = v2.decode_request(body, length, {"x": spec})
    np.testing.assert_array_equal(decoded.inputs["x"], array)
    assert decoded.inputs["x"].dtype == array.dtype
    out, header_length = v2.encode_response("m", "1", decoded, {"x": array}, lambda _: None)
    if header_length is None:
        back = orjson.loads(out)["outputs"][0]
        np.testing.assert_array_equal(
            np.asarray(back["data"], array.dtype).reshape(back["shape"]), array
        )


@PROPERTY
@given(
    st.binary(max_size=120),
    st.one_of(st.none(), st.integers(-5, 200).map(str), st.text(max_size=4)),
)
def test_v2_garbage_is_refused_with_invalid_input(body, header_length):
    spec = TensorSpec("x", np.dtype("float32"), (None, 2), dtypes.BY_V2["FP32"].tf_enum)
    with contextlib.suppress(InvalidInput):
        v2.decode_request(body, header_length, {"x": spec})


@PROPERTY
@given(tensors())
def test_tensor_proto_round_trips_and_matches_tensorflow(dtype_and_array):
    import tensorflow as tf

    _, array = dtype_and_array
    proto = tensor_proto.from_ndarray(array)
    np.testing.assert_array_equal(tf.make_ndarray(proto), array)
    back = tensor_proto.to_ndarray("x", proto)
    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)
    np.testing.assert_array_equal(tensor_proto.to_ndarray("x", tf.make_tensor_proto(array)), array)


@PROPERTY
@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=4),
        elements=st.floats(-1e6, 1e6, width=32),
    )
)
def test_tf_examples_become_the_batch_they_encode(batch):
    from tensorflow.core.example import example_pb2
    from tensorflow_serving.apis import input_pb2

    request_input = input_pb2.Input()
    for row in batch:
        example = example_pb2.Example()
        example.features.feature["x"].float_list.value.extend(row.ravel().tolist())
        request_input.example_list.examples.append(example)
    spec = TensorSpec("x", np.dtype("float32"), (None, *batch.shape[1:]), 1)
    np.testing.assert_array_equal(tf_example.examples_to_batch(request_input, "x", spec), batch)


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_literals_reach_float_tensors(literal):
    parsed = parse_tensor_json(b'{"instances": [[' + literal + b", 1.5]]}")
    spec = TensorSpec("x", np.dtype("float32"), (None, 2), 1)
    value = tf_rest.decode_predict(parsed, {"x": spec})[0]["x"][0, 0]
    assert math.isnan(value) if literal == b"NaN" else math.isinf(value)
