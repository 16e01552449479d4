"""What the HTTP server refuses before the app runs is JSON too; oversized bodies are readable
413s, whether the client declared a length, waited for 100-continue or sent chunks."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess

import numpy as np
import pytest
import requests

LIMIT = 1_000_000
GOOD = {"instances": [np.zeros((28, 28, 1)).tolist()]}


@pytest.fixture(scope="module")
def server(tiny_models, tmp_path_factory):
    from tests.conftest import LiveServer

    repo = tmp_path_factory.mktemp("http-repo")
    shutil.copytree(tiny_models / "digits", repo / "digits")
    live = LiveServer(
        repo,
        workers=1,
        env={"SERVING_MAX_REQUEST_BYTES": str(LIMIT), "SERVING_GRPC_PORT": "0"},
        tmp=tmp_path_factory.mktemp("http-logs"),
    )
    try:
        live.wait_ready()
        yield live
    finally:
        live.stop()


def raw(server, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=10) as conn:
        conn.sendall(data)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def assert_served(server) -> None:
    response = requests.post(server.url + "/v1/models/digits:predict", json=GOOD, timeout=30)
    assert response.status_code == 200 and len(response.json()["predictions"][0]) == 10


@pytest.mark.parametrize(
    ("name", "send", "status", "message"),
    [
        (
            "model name of 5,000 characters",
            lambda url: requests.get(url + "/v1/models/" + "a" * 5000, timeout=10),
            414,
            "URI Too Long: Request line length (5024) exceeds limit (4094)",
        ),
        (
            "header of 10,000 bytes",
            lambda url: requests.get(url + "/v1/models/digits", headers={"X-Big": "b" * 10000}),
            431,
            "Request Header Fields Too Large: Error parsing headers: "
            "'Header size (10009) exceeds limit (8190)'",
        ),
        (
            "101 headers",
            lambda url: requests.get(
                url + "/v1/models/digits", headers={f"X-H{i}": "1" for i in range(101)}
            ),
            431,
            "Request Header Fields Too Large: Error parsing headers: "
            "'Number of headers (106) exceeds limit (100)'",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) and " " in value else None,
)
def test_server_refusals_are_json(server, name, send, status, message):
    response = send(server.url)
    assert response.headers["Content-Type"] == "application/json", name
    assert (response.status_code, response.json()) == (status, {"error": message})
    assert_served(server)


@pytest.mark.parametrize(
    "request_line",
    [b"GARBAGE\r\n\r\n", b"GET /v1/models HTTP/9.9\r\n\r\n", b"G\x00T / HTTP/1.1\r\n\r\n"],
)
def test_malformed_request_lines_are_json_400s(server, request_line):
    answer = raw(server, request_line)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request"), answer[:200]
    assert b"Content-Type: application/json" in head
    assert body.startswith(b'{"error":"Bad Request: ')
    assert_served(server)


def test_an_oversized_body_gets_a_readable_413(server):
    message = {"error": f"request body of {20 * LIMIT} bytes exceeds the limit of {LIMIT} bytes"}
    response = requests.post(
        server.url + "/v1/models/digits:predict", data=b"x" * (20 * LIMIT), timeout=60
    )
    assert (response.status_code, response.json()) == (413, message)
    # curl asks 'Expect: 100-continue' for large bodies, and reads the answer before sending
    body = server.log_path.parent / "big-body.bin"
    body.write_bytes(b"x" * (20 * LIMIT))
    url = server.url + "/v1/models/digits:predict"
    curl = subprocess.run(
        ["curl", "-sS", "-w", "\n%{http_code}", "--data-binary", f"@{body}", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert curl.stdout.splitlines() == [json.dumps(message, separators=(",", ":")), "413"]
    assert curl.stderr == ""
    assert_served(server)


def test_chunked_bodies_are_read_and_limited(server):
    def chunks(data: bytes, size: int = 65536):
        for start in range(0, len(data), size):
            yield data[start : start + size]

    good = requests.post(
        server.url + "/v1/models/digits:predict", data=chunks(json.dumps(GOOD).encode())
    )
    assert good.status_code == 200 and len(good.json()["predictions"][0]) == 10
    big = requests.post(
        server.url + "/v1/models/digits:predict", data=chunks(b"[" * (3 * LIMIT)), timeout=60
    )
    assert (big.status_code, big.json()) == (
        413,
        {"error": f"request body exceeds the limit of {LIMIT} bytes"},
    )
    assert_served(server)
