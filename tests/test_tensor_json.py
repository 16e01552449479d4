"""The tensor JSON parser: numpy for regular numeric arrays, the general path for the rest.

Parity is the contract: whatever the fast path returns must equal what orjson followed by
``np.asarray`` gives, and anything it cannot prove regular must reach the codecs as the same
Python lists orjson would have built (so their error messages do not change).
"""

from __future__ import annotations

import threading

import numpy as np
import orjson
import pytest

from service.codecs.json_body import parse_json_object
from service.codecs.tensor_json import parse_tensor_json
from service.errors import InvalidInput


def _random_tensor(rng: np.random.Generator) -> np.ndarray:
    shape = tuple(int(d) for d in rng.integers(1, 6, size=rng.integers(1, 5)))
    if rng.random() < 0.5:
        return rng.integers(-(2**40), 2**40, size=shape)
    scale = 10.0 ** rng.integers(-8, 9)
    return rng.standard_normal(shape) * scale


@pytest.mark.parametrize("seed", range(40))
def test_regular_numeric_arrays_equal_orjson_then_numpy(seed):
    rng = np.random.default_rng(seed)
    tensor = _random_tensor(rng)
    body = orjson.dumps({"instances": tensor.tolist(), "signature_name": "serving_default"})
    expected = np.asarray(orjson.loads(body)["instances"])
    parsed = parse_tensor_json(body)
    assert parsed["signature_name"] == "serving_default"
    value = parsed["instances"]
    if tensor.ndim == 1 and tensor.size < 16:
        assert value == expected.tolist()  # short flat lists stay lists
        return
    assert isinstance(value, np.ndarray)
    assert value.shape == expected.shape and value.dtype == expected.dtype
    assert np.array_equal(value, expected)
    # float32 inputs: identical to converting the Python floats directly
    assert np.array_equal(value.astype(np.float32), np.asarray(expected.tolist(), np.float32))


def test_open_inference_data_is_numpy_but_shape_stays_a_list():
    body = orjson.dumps(
        {"inputs": [{"name": "x", "shape": [2, 16], "datatype": "FP32", "data": [[0.5] * 16] * 2}]}
    )
    entry = parse_tensor_json(body)["inputs"][0]
    assert entry["shape"] == [2, 16] and isinstance(entry["shape"], list)
    assert isinstance(entry["data"], np.ndarray) and entry["data"].shape == (2, 16)


@pytest.mark.parametrize(
    "instances",
    [
        [[1, 2], [3]],  # ragged
        [[1, 2], [3, [4]]],  # deeper nesting inside, same element count
        [[[1, 2, 3], [4]], [[5, 6], [7, 8]]],  # ragged with the regular element count
        [[1], []],  # empty inner array
        [[1, 2], [3, "x"]],  # a string inside
        [[1.5, True], [2.0, 3.0]],  # a boolean inside
        [[1.0, None], [2.0, 3.0]],  # null inside
        [[18446744073709551615] * 16],  # beyond int64: exact Python ints
        [[9223372036854775808] * 16],  # beyond int64, though a double holds it exactly
        [[0.0, 9007199254740993]],  # an integer among floats that a double would round
        [[-9007199254740993, 0.5] * 8],
        [],
    ],
)
def test_irregular_arrays_reach_the_codecs_as_orjson_lists(instances):
    body = orjson.dumps({"instances": instances})
    parsed = parse_tensor_json(body)["instances"]
    assert not isinstance(parsed, np.ndarray)
    assert parsed == orjson.loads(body)["instances"]


def test_large_integral_floats_are_the_same_doubles_either_way():
    body = orjson.dumps({"instances": [[2.0**60, -(2.0**62), 0.5] * 6]})
    parsed = parse_tensor_json(body)["instances"]
    assert isinstance(parsed, np.ndarray) and parsed.dtype == np.float64
    assert np.array_equal(parsed, np.asarray(orjson.loads(body)["instances"]))


def test_nan_literals_fall_back_to_the_general_parser():
    parsed = parse_tensor_json(b'{"instances": [[NaN, 1.0], [Infinity, -Infinity]]}')
    values = np.asarray(parsed["instances"], dtype=np.float32)
    assert np.isnan(values[0, 0]) and values[1, 0] == np.inf and values[1, 1] == -np.inf


@pytest.mark.parametrize("body", [b"", b"[1, 2", b"[1, 2]", b'"text"', b"\xff\xfe", b'{"a": 1}{'])
def test_bad_bodies_get_the_general_parsers_error(body):
    with pytest.raises(InvalidInput) as fast:
        parse_tensor_json(body)
    with pytest.raises(InvalidInput) as general:
        parse_json_object(body)
    assert fast.value.message == general.value.message


def test_parsers_are_per_thread():
    bodies = [orjson.dumps({"instances": np.full((4, 8), i).tolist()}) for i in range(8)]
    failures = []

    def work(i: int) -> None:
        for _ in range(300):
            value = parse_tensor_json(bodies[i])["instances"]
            if not (isinstance(value, np.ndarray) and (value == i).all()):
                failures.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_a_failed_parse_does_not_break_the_next(monkeypatch):
    assert parse_tensor_json(b'{"x": NaN}')["x"] != 0  # took the fallback
    value = parse_tensor_json(orjson.dumps({"instances": [[1.5] * 16]}))["instances"]
    assert isinstance(value, np.ndarray) and value.shape == (1, 16)
