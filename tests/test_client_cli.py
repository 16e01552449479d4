"""``python -m service.client`` against the real labelled server (tiny models; digits 1
and 2 labelled stable / canary): every command over REST and, where TF Serving's gRPC API
has the method, over gRPC; input files of every kind and stdin; tables and --json; and
the exit codes scripts rely on (0 ok, 1 server error, 2 usage, 3 cannot connect)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest
import requests
from click.testing import CliRunner
from PIL import Image, ImageDraw

from service.client.cli import cli
from tests.conftest import ROOT, free_port


@pytest.fixture(scope="module")
def server(labelled_server):
    return labelled_server


@pytest.fixture(scope="module")
def run(server):
    """``run(*args, input=None, grpc=False)`` -> click Result, against the server."""

    def invoke(*args: str, input: str | bytes | None = None, grpc: bool = False):
        target = ["--grpc", f"127.0.0.1:{server.grpc_port}"] if grpc else []
        return CliRunner().invoke(cli, ["--url", server.url, *target, *args], input=input)

    return invoke


def ok(result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
    return result.stdout


@pytest.fixture(scope="module")
def files(tmp_path_factory, server):
    """Input files of every kind, sized from the models' own cards."""
    root = tmp_path_factory.mktemp("client-inputs")
    cards = {
        m: requests.get(f"{server.url}/v1/models/{m}/metadata").json()["card"]["task"]
        for m in ("sunspots", "tumor-anomaly")
    }
    image = Image.new("L", (64, 64))
    ImageDraw.Draw(image).line([(32, 8), (32, 56)], fill=255, width=7)  # a "1"
    image.save(root / "one.png")
    image.convert("RGB").save(root / "one.jpg")
    (root / "pixels.json").write_text(json.dumps([np.zeros((28, 28, 1)).tolist()] * 2))
    (root / "tweets.txt").write_text("@united thanks, great flight!\n\n@united lost my bag again\n")
    history = [float(v) for v in range(cards["sunspots"]["window"] + 2)]
    (root / "history.csv").write_text(",".join(map(str, history)) + "\n")
    features = cards["tumor-anomaly"]["feature_names"]
    rows = np.random.default_rng(0).uniform(0, 1, (2, len(features)))
    (root / "tumors.csv").write_text(
        ",".join(features) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n"
    )
    (root / "bad-shape.json").write_text('{"instances": [[1, 2]]}')
    (root / "broken.json").write_text("[1, 2")
    return root


def test_status_of_one_model_every_model_and_a_label(run):
    table = ok(run("status", "digits")).splitlines()
    assert table[0].split() == ["VERSION", "STATE", "CODE", "ERROR"]
    assert [line.split() for line in table[1:]] == [
        ["2", "AVAILABLE", "OK"],
        ["1", "AVAILABLE", "OK"],
    ]
    every = ok(run("status"))
    assert any(
        line.split()[:4] == ["digits", "1", "AVAILABLE", "stable"] for line in every.splitlines()
    )
    stable = json.loads(ok(run("--json", "status", "digits", "--label", "stable")))
    assert [s["version"] for s in stable["model_version_status"]] == ["1"]


def test_grpc_status_matches_rest(run):
    for args in (("status", "digits"), ("status", "digits", "--model-version", "2")):
        assert json.loads(ok(run("--json", *args, grpc=True))) == json.loads(
            ok(run("--json", *args))
        )


def test_metadata_over_rest_and_grpc(run):
    text = ok(run("metadata", "digits", "--model-version", "1"))
    assert "model digits version 1" in text and "task " in text
    assert any(
        line.split()
        == ["serving_default", "input", "image", "DT_FLOAT", "[-1,", "28,", "28,", "1]"]
        for line in text.splitlines()
    )
    rest = json.loads(ok(run("--json", "metadata", "digits", "--label", "canary")))
    grpc = json.loads(ok(run("--json", "metadata", "digits", "--label", "canary", grpc=True)))
    assert grpc["metadata"] == rest["metadata"]
    assert grpc["model_spec"]["version"] == rest["model_spec"]["version"] == "2"


def test_predict_by_version_label_and_transport(run, files):
    source = str(files / "pixels.json")
    by_version = json.loads(ok(run("--json", "predict", "digits", "--model-version", "1", source)))
    by_label = json.loads(ok(run("--json", "predict", "digits", "--label", "stable", source)))
    canary = json.loads(ok(run("--json", "predict", "digits", "--label", "canary", source)))
    over_grpc = json.loads(
        ok(run("--json", "predict", "digits", "--label", "stable", source, grpc=True))
    )
    assert by_version == by_label and len(by_version["predictions"]) == 2
    assert canary != by_version  # version 2 was trained with another seed
    np.testing.assert_allclose(over_grpc["predictions"], by_version["predictions"], atol=1e-6)
    table = ok(run("predict", "digits", source)).splitlines()
    assert table[0].split() == ["INSTANCE", "OUTPUT", "VALUE"] and len(table) == 3


def test_predict_text_from_stdin_over_both_transports(run):
    rest = json.loads(ok(run("--json", "predict", "sentiment", input="so happy\nso sad\n")))
    grpc = json.loads(
        ok(run("--json", "predict", "sentiment", "-", input="so happy\nso sad\n", grpc=True))
    )
    assert len(rest["predictions"]) == 2
    np.testing.assert_allclose(grpc["predictions"], rest["predictions"], atol=1e-6)


def test_classify_images_text_and_grpc(run, files):
    png = json.loads(ok(run("--json", "classify", "digits", str(files / "one.png"), "-k", "3")))
    assert len(png["results"]) == 1 and len(png["results"][0]) == 3
    both = json.loads(
        ok(run("--json", "classify", "digits", str(files / "one.png"), str(files / "one.jpg")))
    )
    assert len(both["results"]) == 2
    table = ok(
        run("classify", "digits", "--label", "canary", str(files / "one.png"), "-k", "2")
    ).splitlines()
    assert table[0] == "model digits version 2"
    assert table[1].split() == ["INSTANCE", "RANK", "LABEL", "SCORE"]
    assert [line.split()[:2] for line in table[2:]] == [["0", "1"], ["0", "2"]]
    tweets = str(files / "tweets.txt")
    rest = json.loads(ok(run("--json", "classify", "sentiment", tweets, "-k", "3")))
    grpc = json.loads(ok(run("--json", "classify", "sentiment", tweets, "-k", "3", grpc=True)))
    assert len(rest["results"]) == 2  # the blank line is not a sentence
    assert {label for r in rest["results"] for label, _ in r} == {"negative", "neutral", "positive"}
    assert [[label for label, _ in r] for r in grpc["results"]] == [
        [label for label, _ in r] for r in rest["results"]
    ]
    np.testing.assert_allclose(
        [[s for _, s in r] for r in grpc["results"]],
        [[s for _, s in r] for r in rest["results"]],
        atol=1e-6,
    )


def test_classify_pixels_over_grpc_matches_rest_and_k_defaults(run, files):
    pixels = str(files / "pixels.json")
    rest = json.loads(ok(run("--json", "classify", "digits", pixels)))
    grpc = json.loads(ok(run("--json", "classify", "digits", pixels, grpc=True)))
    assert [len(r) for r in rest["results"]] == [5, 5]  # the server's default k
    assert [len(r) for r in grpc["results"]] == [10, 10]  # gRPC Classify: every label
    top = [r[:5] for r in grpc["results"]]
    assert [[label for label, _ in r] for r in top] == [
        [lb for lb, _ in r] for r in rest["results"]
    ]
    np.testing.assert_allclose(
        [[s for _, s in r] for r in top], [[s for _, s in r] for r in rest["results"]], atol=1e-6
    )


def test_forecast_and_detect_from_csv(run, files):
    answer = json.loads(
        ok(run("--json", "forecast", "sunspots", str(files / "history.csv"), "--steps", "3"))
    )
    assert [len(r["forecast"]) for r in answer["results"]] == [3]
    table = ok(run("forecast", "sunspots", str(files / "history.csv"), "--steps", "2")).splitlines()
    assert [line.split()[:2] for line in table[2:]] == [["0", "1"], ["0", "2"]]
    tumors = str(files / "tumors.csv")  # the header row of feature names is skipped
    plain = json.loads(ok(run("--json", "detect", "tumor-anomaly", tumors, "--threshold", "-1")))
    assert [r["anomaly"] for r in plain["results"]] == [True, True]
    explained = ok(run("detect", "tumor-anomaly", tumors, "--explain")).splitlines()
    assert explained[1].split()[:4] == ["INSTANCE", "SCORE", "THRESHOLD", "ANOMALY"]
    assert len(explained) == 4 and "=" in explained[2]


@pytest.mark.parametrize(
    ("args", "grpc", "message"),
    [
        (("status", "nope"), False, "404: model 'nope' not found"),
        (("status", "nope"), True, "NOT_FOUND: model 'nope' not found"),
        (("predict", "digits", "{bad-shape}"), False, "400: input 'image' expects shape"),
        (("predict", "digits", "{bad-shape}"), True, "INVALID_ARGUMENT"),
        (("forecast", "digits", "{bad-shape}"), False, "501: "),
        (("status", "digits", "--label", "nope"), False, "404: label 'nope' not found"),
    ],
)
def test_server_errors_exit_1_with_the_servers_message(run, files, args, grpc, message):
    result = run(*(a.format(**{"bad-shape": files / "bad-shape.json"}) for a in args), grpc=grpc)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("Error: " + message), result.stderr


@pytest.mark.parametrize(
    ("args", "grpc", "message"),
    [
        (
            ("status", "digits", "--model-version", "1", "--label", "stable"),
            False,
            "mutually exclusive",
        ),
        (("predict", "digits", "/no/such/file.json"), False, "cannot read /no/such/file.json"),
        (("predict", "digits", "{broken}"), False, "invalid JSON"),
        (("predict", "digits", "{png}"), False, "images are decoded by the server for classify"),
        (("classify", "digits", "{png}"), True, "gRPC Classify takes pixel values"),
        (("forecast", "sunspots", "{csv}"), True, "forecast is REST-only"),
        (("detect", "tumor-anomaly"), True, "detect is REST-only"),
        (("status",), True, "listing every model is REST-only"),
        (("classify", "digits", "{png}", "-k", "0"), False, "Invalid value for '-k'"),
    ],
)
def test_usage_errors_exit_2(run, files, args, grpc, message):
    names = {
        "broken": files / "broken.json",
        "png": files / "one.png",
        "csv": files / "history.csv",
    }
    result = run(*(a.format(**names) for a in args), grpc=grpc)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


@pytest.mark.parametrize("grpc", [False, True])
def test_nothing_listening_exits_3(grpc):
    port = free_port()  # bound and closed again: nothing listens there
    target = ["--grpc", f"127.0.0.1:{port}"] if grpc else ["--url", f"http://127.0.0.1:{port}"]
    result = CliRunner().invoke(cli, [*target, "--timeout", "5", "status", "digits"])
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith(
        f"Error: cannot connect to {'' if grpc else 'http://'}127.0.0.1:{port}"
    )


def test_the_real_process_exit_codes_and_no_tensorflow_for_rest(server, files):
    """As a script sees it: a subprocess, and REST never imports TensorFlow."""
    probe = (
        "import runpy, sys\n"
        "try:\n    runpy.run_module('service.client', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    print('TF' if 'tensorflow' in sys.modules else 'no TF', file=sys.stderr)\n"
        "    raise\n"
    )

    def client(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", probe, *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    good = client("--url", server.url, "--json", "predict", "digits", str(files / "pixels.json"))
    assert good.returncode == 0 and len(json.loads(good.stdout)["predictions"]) == 2
    assert good.stderr.strip() == "no TF"
    bad = client("--url", server.url, "predict", "digits", str(files / "bad-shape.json"))
    assert bad.returncode == 1 and "expects shape" in bad.stderr and "no TF" in bad.stderr
    down = client("--url", f"http://127.0.0.1:{free_port()}", "status")
    assert down.returncode == 3 and "cannot connect" in down.stderr
    usage = client("--url", server.url, "predict")
    assert usage.returncode == 2 and "Missing argument 'MODEL'" in usage.stderr
    grpc = client(
        "--grpc", f"127.0.0.1:{server.grpc_port}", "status", "digits", "--label", "canary"
    )
    assert grpc.returncode == 0 and grpc.stdout.split()[4:6] == ["2", "AVAILABLE"]


def test_image_from_stdin_is_detected_by_its_bytes(run, files):
    png = (files / "one.png").read_bytes()
    answer = json.loads(ok(run("--json", "classify", "digits", input=io.BytesIO(png).read())))
    assert len(answer["results"]) == 1
