"""SIGTERM under load, REST and gRPC: what was sent is answered, new work is refused cleanly,
readiness turns 503 and gRPC NOT_SERVING, and the server exits well within its grace."""

from __future__ import annotations

import collections
import json
import shutil
import signal
import threading
import time

import grpc
import numpy as np
import requests
import tensorflow as tf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

BODY = {"instances": [np.zeros((28, 28, 1)).tolist()]}
GRACE_S = 30  # gunicorn's graceful_timeout (service/gunicorn_conf.py)


def _rest_client(url: str, stop: threading.Event, outcomes: collections.Counter) -> None:
    session = requests.Session()  # keep-alive: requests ride open connections
    while not stop.is_set():
        try:
            response = session.post(url + "/v1/models/digits:predict", json=BODY, timeout=30)
        except requests.ConnectionError as exc:
            # refused: the request was never sent; anything else lost one already sent
            outcomes["refused" if "refused" in str(exc) else f"lost: {exc}"] += 1
            time.sleep(0.02)
            continue
        outcomes[response.status_code] += 1
        if response.headers.get("Connection") == "close":
            outcomes["connection: close"] += 1


def _grpc_client(port: int, stop: threading.Event, outcomes: collections.Counter) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits"
    request.inputs["image"].CopyFrom(tf.make_tensor_proto(np.zeros((1, 28, 28, 1), np.float32)))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        while not stop.is_set():
            try:
                stub.Predict(request, timeout=30)
                outcomes["grpc OK"] += 1
            except grpc.RpcError as exc:
                outcomes[f"grpc {exc.code().name}"] += 1
                time.sleep(0.02)


def _json_lines(path):
    return [line for line in path.read_text().splitlines() if line.startswith("{")]


def test_sigterm_under_load_loses_nothing(tiny_models, tmp_path, live_server):
    repo = tmp_path / "repo"
    shutil.copytree(tiny_models / "digits", repo / "digits")
    server = live_server(repo, workers=2)
    stop, outcomes = threading.Event(), collections.Counter()
    clients = [
        threading.Thread(target=_rest_client, args=(server.url, stop, outcomes)) for _ in range(6)
    ] + [
        threading.Thread(target=_grpc_client, args=(server.grpc_port, stop, outcomes))
        for _ in range(2)
    ]
    watcher = requests.Session()
    assert watcher.get(server.url + "/readyz").status_code == 200  # a kept-alive connection
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == 1  # SERVING
        for client in clients:
            client.start()
        time.sleep(2)
        served_before = outcomes[200]
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        ready = watcher.get(server.url + "/readyz", timeout=10)
        try:
            serving = health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
        except grpc.RpcError as exc:  # or the call is refused outright: also not serving
            serving = exc.code().name
        server.process.wait(GRACE_S + 10)
        exited_after = time.monotonic() - started
    time.sleep(0.3)
    stop.set()
    for client in clients:
        client.join(60)

    lost = {k: v for k, v in outcomes.items() if str(k).startswith("lost")}
    assert lost == {}, outcomes
    assert set(outcomes) <= {
        200,
        "refused",
        "connection: close",
        "grpc OK",
        "grpc UNAVAILABLE",
        "grpc CANCELLED",
    }, outcomes
    # grpc core answers CANCELLED for a call it received as the server stopped but had not
    # yet handed to the application: the server ran every call it did not answer OK to
    # nowhere, so every call it processed is one a client got its answer for.
    processed = collections.Counter(
        line["status"]
        for line in map(json.loads, _json_lines(server.log_path))
        if line.get("api") == "grpc"
    )
    assert processed == {"OK": outcomes["grpc OK"]}, (processed, outcomes)
    assert served_before > 50 and outcomes["grpc OK"] > 20, outcomes
    assert outcomes["connection: close"] >= 1, outcomes  # drain answers say "close"
    assert (ready.status_code, ready.json()) == (
        503,
        {"status": "not ready", "reasons": {"*": "the server is shutting down"}},
    )
    assert ready.headers["Connection"] == "close"
    assert serving in (health_pb2.HealthCheckResponse.NOT_SERVING, "UNAVAILABLE"), serving
    assert server.process.returncode == 0
    assert exited_after < GRACE_S / 2, exited_after
