"""Overload: a full queue answers 429 / RESOURCE_EXHAUSTED at once with a retry hint, and a
request past its deadline answers 504 / DEADLINE_EXCEEDED with no model time spent on it.

The model is a real SavedModel that takes tens of milliseconds per call (a chain of matrix
products), so the queue and the deadlines are exercised for real, not simulated.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import serving_app
from tests.traffic import worker_pids

PRODUCTS = 40  # 256x256 matrix products per call: tens of ms on one core
BODY = {"instances": [[1.0]]}
BATCHING = {"max_batch_size": 1, "max_enqueued_batches": 1, "batch_timeout_micros": 0}


@pytest.fixture(scope="module")
def slow_repo(tmp_path_factory):
    import tensorflow as tf

    class Slow(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(tf.random.stateless_normal([256, 256], seed=[1, 2]) / 16)

        @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
        def serve(self, x):
            def product(i, m):
                return i + 1, tf.tanh(tf.matmul(m, self.w))

            _, m = tf.while_loop(lambda i, m: i < PRODUCTS, product, (0, tf.eye(256)))
            return {"y": x + 0.0 * tf.reduce_sum(m)}

    root = tmp_path_factory.mktemp("slow-repo")
    module = Slow()
    tf.saved_model.save(
        module, str(root / "slow" / "1"), signatures={"serving_default": module.serve}
    )
    (root / "repository.json").write_text(json.dumps({"models": {"slow": {"batching": BATCHING}}}))
    return root


@pytest.fixture(scope="module")
def slow_client(slow_repo):
    from service.settings import Settings

    settings = Settings(model_repository=slow_repo, poll_interval_s=0, grpc_port=0)
    with serving_app(settings) as app:
        yield app.test_client()


def _batches(client) -> float:
    """Model calls of the slow model so far (the batch-size histogram's count)."""
    text = client.get("/metrics").get_data(as_text=True)
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "serving_batch_size_rows_count" and s.labels.get("model") == "slow"
    )


def _call_s(client) -> float:
    started = time.monotonic()
    assert client.post("/v1/models/slow:predict", json=BODY).status_code == 200
    return time.monotonic() - started


def test_a_full_queue_answers_429_at_once_with_retry_after(slow_client):
    call_s = _call_s(slow_client)
    barrier = threading.Barrier(8)

    def send(_):
        barrier.wait()
        started = time.monotonic()
        response = slow_client.post("/v1/models/slow:predict", json=BODY)
        return response, time.monotonic() - started

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(8)))
    refused = [(r, took) for r, took in answers if r.status_code == 429]
    served = [r for r, _ in answers if r.status_code == 200]
    assert refused and served and len(refused) + len(served) == 8, [
        r.status_code for r, _ in answers
    ]
    for response, took in refused:
        assert response.headers["Retry-After"] == "1"
        assert response.get_json()["error"].startswith("batcher 'slow/1' queue is full")
        assert took < call_s, "a refusal must not wait for the model"
    assert _call_s(slow_client) < 10 * call_s  # and it serves at once when the load is gone


def test_a_passed_deadline_answers_504_and_runs_nothing(slow_client):
    call_s = _call_s(slow_client)
    before = _batches(slow_client)
    # One request keeps the model busy; a second, queued behind it with a deadline shorter
    # than one call, must give up, and its row must never reach the model.
    with ThreadPoolExecutor(2) as pool:
        busy = pool.submit(slow_client.post, "/v1/models/slow:predict", json=BODY)
        time.sleep(call_s / 4)
        late = slow_client.post(
            "/v1/models/slow:predict",
            json=BODY,
            headers={"X-Request-Timeout-Ms": str(call_s * 1000 / 4)},
        )
        assert busy.result().status_code == 200
    assert late.status_code == 504, late.get_json()
    assert "no result within" in late.get_json()["error"]
    time.sleep(call_s)  # the batch thread would have run it by now
    assert _batches(slow_client) - before == 1


@pytest.mark.parametrize("header", ["0", "-5", "soon", "nan", "inf"])
def test_a_bad_deadline_header_is_a_400(slow_client, header):
    response = slow_client.post(
        "/v1/models/slow:predict", json=BODY, headers={"X-Request-Timeout-Ms": header}
    )
    expected = f"X-Request-Timeout-Ms must be a positive number of milliseconds, got {header!r}"
    assert (response.status_code, response.get_json()) == (400, {"error": expected})


def _grpc_request():
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "slow"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones((1, 1), np.float32)))
    return request


def test_grpc_overload_and_deadlines(slow_repo, live_server):
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    server = live_server(slow_repo, workers=1)
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        started = time.monotonic()
        stub.Predict(_grpc_request(), timeout=30)
        call_s = time.monotonic() - started
        barrier = threading.Barrier(8)

        def send(_):
            barrier.wait()
            try:
                stub.Predict(_grpc_request(), timeout=30)
                return grpc.StatusCode.OK, ()
            except grpc.RpcError as exc:
                return exc.code(), exc.trailing_metadata()

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(send, range(8)))
        codes = [code for code, _ in answers]
        assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes and grpc.StatusCode.OK in codes, codes
        for code, trailers in answers:
            if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
                assert ("grpc-retry-pushback-ms", "1000") in tuple(trailers)

        # a call whose deadline is shorter than one model call, queued behind a busy one
        with ThreadPoolExecutor(1) as pool:
            busy = pool.submit(stub.Predict, _grpc_request(), timeout=30)
            time.sleep(call_s / 4)
            with pytest.raises(grpc.RpcError) as late:
                stub.Predict(_grpc_request(), timeout=call_s / 4)
            busy.result()
        assert late.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    time.sleep(call_s)
    exposition = requests.get(server.url + "/metrics", timeout=30).text
    statuses = {
        s.labels["status"]: s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
        if s.name == "serving_requests_total" and s.labels.get("api") == "grpc"
    }
    # the server itself answered the late call with DEADLINE_EXCEEDED (not just the client)
    assert statuses.get("DEADLINE_EXCEEDED") == 1, statuses
    assert statuses.get("RESOURCE_EXHAUSTED", 0) == codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED)


def _worker_rss_kib(server) -> int:
    """Resident memory of the server's one gunicorn worker (the master's child)."""
    (pid,) = worker_pids(server.process.pid)
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])


def test_four_times_the_sustainable_rate_for_a_minute(slow_repo, live_server):
    """Open-loop load at 4x what one worker sustains: accepted requests keep a bounded p99,
    refusals come at once, memory stays flat, and the server recovers as soon as it ends."""
    server = live_server(slow_repo, workers=1, env={"SERVING_GRPC_PORT": "0"})
    url = server.url + "/v1/models/slow:predict"
    session = requests.Session()
    calls = [session.post(url, json=BODY, timeout=30) for _ in range(5)]
    assert {c.status_code for c in calls} == {200}
    started = time.monotonic()
    for _ in range(10):
        session.post(url, json=BODY, timeout=30)
    call_s = (time.monotonic() - started) / 10  # one request at a time, HTTP included

    def closed_loop(_) -> int:  # what it sustains: 4 clients, each sending when answered
        own, done, until = requests.Session(), 0, time.monotonic() + 5
        while time.monotonic() < until:
            done += own.post(url, json=BODY, timeout=30).status_code == 200
        return done

    with ThreadPoolExecutor(4) as pool:
        sustainable = sum(pool.map(closed_loop, range(4))) / 5
    rate = 4 * sustainable
    duration_s = 60
    results: list[tuple[float, int, float]] = []  # (sent at, status, latency)
    lock = threading.Lock()
    local = threading.local()

    def send(sent_at: float) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        began = time.monotonic()
        status = local.session.post(url, json=BODY, timeout=30).status_code
        with lock:
            results.append((sent_at, status, time.monotonic() - began))

    rss = {}
    with ThreadPoolExecutor(64) as pool:
        begin = time.monotonic()
        n = 0
        while (now := time.monotonic()) < begin + duration_s:
            due = begin + n / rate
            if due > now:
                time.sleep(due - now)
            pool.submit(send, time.monotonic() - begin)
            n += 1
            if n == int(rate * 10):
                rss["after warm-up"] = _worker_rss_kib(server)
        rss["at the end"] = _worker_rss_kib(server)
    recovered_at = time.monotonic()
    recovery = session.post(url, json=BODY, timeout=30)
    recovery_s = time.monotonic() - recovered_at

    accepted = np.array([lat for _, status, lat in results if status == 200])
    refused = np.array([lat for _, status, lat in results if status == 429])
    other = sorted({status for _, status, _ in results} - {200, 429})
    queue_bound_s = (BATCHING["max_enqueued_batches"] + 2) * call_s  # queued, running, own
    summary = (
        f"offered {len(results)} at {rate:.0f}/s (4 x {sustainable:.0f}/s) for {duration_s}s "
        f"(one call {call_s * 1e3:.0f} ms): {len(accepted)} accepted, "
        f"p99 {np.percentile(accepted, 99) * 1e3:.0f} ms; "
        f"{len(refused)} refused, p50 {np.percentile(refused, 50) * 1e3:.1f} ms, "
        f"p99 {np.percentile(refused, 99) * 1e3:.1f} ms; RSS {rss}; "
        f"recovery {recovery_s * 1e3:.0f} ms"
    )
    print(summary)
    assert other == [], summary
    assert len(refused) > len(accepted), summary  # it really was overloaded
    assert len(accepted) > 0.6 * duration_s * sustainable, summary  # and served at its pace
    assert np.percentile(accepted, 99) < 3 * queue_bound_s, summary
    # A refusal never waits for the model: most take a fraction of one call. Its p99, timed by
    # this Python client on the same two cores as the server, carries the client's own thread
    # scheduling (once 16 ms in CI against a 14 ms call), so the tail is bounded by the queue:
    # a refusal that had waited behind the queued and the running batch would exceed it.
    assert np.percentile(refused, 50) < call_s / 2, summary
    # Its tail is timed by a Python client on the same 2 cores (55 ms once against a 50 ms
    # queue): bounded like the accepted tail, which still fails if refusals queue unboundedly.
    assert np.percentile(refused, 99) < 3 * queue_bound_s, summary
    assert rss["at the end"] < 1.05 * rss["after warm-up"], summary
    assert recovery.status_code == 200 and recovery_s < 3 * call_s, summary
