"""Hostile input: every answer a clear 4xx JSON error naming the problem, then a good answer."""

from __future__ import annotations

import pytest

from service.codecs.json_body import MAX_NESTING_DEPTH
from tests.hostile import CATALOGUE

TOO_DEEP = f"the JSON body nests arrays and objects deeper than {MAX_NESTING_DEPTH} levels"

GOOD = {"instances": [[[[0.0]] * 28] * 28]}


def nested(depth: int, leaf: bytes = b"1") -> bytes:
    return b"[" * depth + leaf + b"]" * depth


DEEP = [
    ("v1 predict", "/v1/models/digits:predict", b'{"instances": %s}'),
    ("v1 classify", "/v1/models/digits:classify", b'{"instances": %s}'),
    ("v1 text", "/v1/models/sentiment:predict", b'{"instances": %s}'),
    ("v2 data", "/v2/models/digits/infer", b'{"inputs": [{"name": "image", "data": %s}]}'),
    ("v2 index", "/v2/repository/index", b'{"ready": %s}'),
]


@pytest.mark.parametrize("depth", [MAX_NESTING_DEPTH + 1, 1_500, 200_000])
@pytest.mark.parametrize(("where", "url", "template"), DEEP, ids=[d[0] for d in DEEP])
def test_deeply_nested_json_is_a_400_naming_the_limit(client, where, url, template, depth):
    for leaf in (b"1", b'"x"', b"NaN"):  # fast numeric, string and stdlib-parser paths
        response = client.post(url, data=template % nested(depth, leaf))
        assert (response.status_code, response.get_json()) == (
            400,
            {"error": TOO_DEEP},
        ), (where, leaf)
    assert client.post("/v1/models/digits:predict", json=GOOD).status_code == 200


@pytest.mark.parametrize("depth", [65, 99])
def test_tensors_deeper_than_numpy_allows_are_a_400(client, depth):
    response = client.post("/v1/models/digits:predict", data=b'{"instances": %s}' % nested(depth))
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("input 'image' ")


@pytest.mark.parametrize("case", CATALOGUE, ids=[case.kind for case in CATALOGUE])
def test_hostile_input_gets_a_clear_4xx_then_a_good_answer(client, case):
    response = client.open(case.url, method=case.method, data=case.body, headers=case.headers)
    assert response.mimetype == "application/json", response.get_data()[:200]
    message = response.get_json()["error"]
    assert (response.status_code, case.says in message) == (case.status, True), message
    assert "Traceback" not in message and "/tmp/" not in message
    assert client.post("/v1/models/digits:predict", json=GOOD).status_code == 200


def test_the_catalogue_has_200_distinct_kinds():
    kinds = [case.kind for case in CATALOGUE]
    assert len(set(kinds)) == len(kinds) >= 200


def test_load_errors_show_no_server_paths(tiny_models, tmp_path):
    """A half-copied version's TensorFlow error names its files: clients see them relative
    to the repository, never where the repository lives on the server."""
    import shutil

    from service.settings import Settings
    from tests.conftest import serving_app

    repo = tmp_path / "secret-place" / "repo"
    (repo / "half" / "1").mkdir(parents=True)
    shutil.copy(tiny_models / "digits" / "1" / "saved_model.pb", repo / "half" / "1")
    with serving_app(Settings(model_repository=repo, poll_interval_s=0, grpc_port=0)) as app:
        client = app.test_client()
        answers = [
            client.get("/v1/models/half").get_data(as_text=True),
            client.get("/readyz").get_data(as_text=True),
            client.get("/v2/health/ready").get_data(as_text=True),
        ]
    for answer in answers:
        assert "<repository>/half/1/variables" in answer, answer
        assert "secret-place" not in answer and str(tmp_path) not in answer, answer
