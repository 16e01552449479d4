"""How the client reads its inputs (no server): format detection, CSV headers, request
bodies, and the usage errors (exit 2) for input it cannot use."""

from __future__ import annotations

import base64
import json

import click
import pytest

from service.client import inputs

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16  # the magic is all detection looks at


@pytest.fixture
def write(tmp_path):
    def make(name: str, data: str | bytes):
        path = tmp_path / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        return str(path)

    return make


def test_formats_by_suffix_and_by_content(write):
    assert inputs.read((write("a.json", "[[1, 2]]"),)).instances == [[1, 2]]
    assert inputs.read((write("a.txt", "1,2\n"),)).instances == ["1,2"]  # .txt is text
    assert inputs.read((write("rows", "1,2\n3,4.5\n"),)).instances == [[1.0, 2.0], [3.0, 4.5]]
    assert inputs.read((write("lines", "so happy\n\nso sad\n"),)).instances == [
        "so happy",
        "so sad",
    ]
    image = inputs.read((write("digit", PNG),))
    assert image.formats == {"image"}
    assert image.instances == [{"b64": base64.b64encode(PNG).decode()}]
    forced = inputs.read((write("rows.json", "1,2\n"),), fmt="text")
    assert forced.instances == ["1,2"]


def test_csv_header_is_skipped_and_a_later_bad_row_is_an_error(write):
    assert inputs.read((write("t.csv", "a,b\n1,2\n"),)).instances == [[1.0, 2.0]]
    with pytest.raises(click.UsageError, match=r"row 3 is not all numbers"):
        inputs.read((write("t.csv", "a,b\n1,2\nx,3\n"),))


def test_a_json_body_is_sent_as_given_plus_options(write):
    body = {"inputs": {"history": [[1, 2]]}, "steps": 2}
    payload = inputs.read((write("body.json", json.dumps(body)),))
    assert payload.request(steps=None) == body  # unset options leave the body alone
    assert payload.request(steps=3) == {**body, "steps": 3}
    rows = inputs.read((write("a.json", "[1]"), write("b.json", "[2, 3]")))
    assert rows.request(k=2) == {"instances": [1, 2, 3], "k": 2}


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a.json": '{"x": 1}'}, "must have 'instances' or 'inputs'"),
        ({"a.json": '"text"'}, "expected a JSON list or request object"),
        ({"a.json": '{"instances": [1]}', "b.json": "[2]"}, "must be the only input"),
        ({"a.txt": "\n\n"}, "the input has no instances"),
        ({"a.txt": b"\xff\xfe"}, "not UTF-8 text"),
    ],
)
def test_unusable_input_is_a_usage_error(write, files, message):
    with pytest.raises(click.UsageError, match=message) as raised:
        inputs.read(tuple(write(name, data) for name, data in files.items()))
    assert raised.value.exit_code == 2


def test_stdin_is_read_when_no_file_is_named(monkeypatch):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"[[0.5]]")))
    assert inputs.read(()).instances == [[0.5]]
