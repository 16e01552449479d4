"""The one request recorder: gauges and counters by value after mixed traffic on a real server."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import requests
import tensorflow as tf
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from service import metrics
from service.recorder import recorder
from service.settings import Settings
from tests.conftest import serving_app
from tests.traffic import metric_samples

IMAGE = np.zeros((28, 28, 1)).tolist()
ROUNDS = 6


samples = metric_samples  # every sample of one metric, keyed by its sorted labels


def requests_total(url: str, api: str, endpoint: str) -> float:
    return sum(
        value
        for labels, value in samples(url, "serving_requests_total").items()
        if ("api", api) in labels and ("endpoint", endpoint) in labels
    )


def _mixed_traffic(url: str, grpc_port: int, task_windows: dict[str, int]) -> list[int]:
    """One round of every protocol and task, a few failing on purpose; the status codes."""
    session = requests.Session()
    codes = [
        session.post(f"{url}/v1/models/digits:predict", json={"instances": [IMAGE]}),
        session.post(f"{url}/v1/models/digits:classify", json={"instances": [IMAGE], "k": 2}),
        session.post(
            f"{url}/v1/models/sunspots:forecast",
            json={"instances": [[1.0] * task_windows["sunspots"]]},
        ),
        session.post(
            f"{url}/v1/models/tumor-anomaly:detect",
            json={"instances": [[0.5] * task_windows["tumor-anomaly"]]},
        ),
        session.post(f"{url}/v1/models/sunspots:forecast", json={"instances": [[1.0]]}),  # 400
        session.post(
            f"{url}/v2/models/digits/infer",
            json={
                "inputs": [
                    {"name": "image", "shape": [1, 28, 28, 1], "datatype": "FP32", "data": IMAGE}
                ]
            },
        ),
        session.get(f"{url}/v1/models/nope"),  # 404
    ]
    statuses = [r.status_code for r in codes]
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "digits"
        request.inputs["image"].CopyFrom(tf.make_tensor_proto(np.zeros((1, 28, 28, 1), "f4")))
        stub.Predict(request, timeout=30)
        request.model_spec.name = "nope"
        try:
            stub.Predict(request, timeout=30)
        except grpc.RpcError as exc:
            statuses.append(exc.code().value[0])
    return statuses


def test_in_flight_gauges_return_to_zero_after_mixed_traffic(labelled_server):
    url = labelled_server.url
    meta = requests.get(f"{url}/v1/models/sunspots/metadata", timeout=30).json()
    detect = requests.get(f"{url}/v1/models/tumor-anomaly/metadata", timeout=30).json()
    windows = {
        "sunspots": meta["card"]["task"]["window"],
        "tumor-anomaly": len(detect["card"]["task"]["feature_names"]),
    }
    classify_before = requests_total(url, "task", "classify")
    with ThreadPoolExecutor(4) as pool:  # concurrent, so requests overlap in each worker
        rounds = list(
            pool.map(
                lambda _: _mixed_traffic(url, labelled_server.grpc_port, windows), range(ROUNDS)
            )
        )
    assert all(r == [200, 200, 200, 200, 400, 200, 404, 5] for r in rounds), rounds

    gauges = {
        dict(labels)["api"]: value
        for labels, value in samples(url, "serving_requests_in_flight").items()
    }
    assert {"rest_v1", "task", "rest_v2", "grpc", "ops"} <= set(gauges), gauges
    # the scrape reading the gauges is itself the one request in flight
    assert gauges.pop("ops") == 1
    assert all(value == 0 for value in gauges.values()), gauges
    assert requests_total(url, "task", "classify") - classify_before == ROUNDS


def test_a_relabelled_record_moves_its_in_flight_count():
    before = {api: metrics.in_flight(api)._value.get() for api in ("t_rest", "t_task")}
    record = recorder.open("t_rest", "model_url")
    assert metrics.in_flight("t_rest")._value.get() == before["t_rest"] + 1
    record.relabel(api="t_task", endpoint="classify")
    assert metrics.in_flight("t_rest")._value.get() == before["t_rest"]
    assert metrics.in_flight("t_task")._value.get() == before["t_task"] + 1
    record.target("digits", 3)
    recorder.close(record, 200, failed=False, method="POST", path="/v1/models/digits:classify")
    record.leave()  # a second leave (the teardown hook's) changes nothing
    assert metrics.in_flight("t_task")._value.get() == before["t_task"]
    assert (record.api, record.endpoint, record.model, record.version) == (
        "t_task",
        "classify",
        "digits",
        "3",
    )


def test_load_counters_exist_at_zero_before_any_failure(tiny_models, tmp_path):
    # Names no other test uses: the counters are process-wide, and tests that ran earlier
    # in this process failed loads of the usual models on purpose.
    repo = tmp_path / "repo"
    shutil.copytree(tiny_models / "digits" / "1", repo / "never-failed" / "1")
    (repo / "failed-once" / "1").mkdir(parents=True)
    (repo / "failed-once" / "1" / "saved_model.pb").write_bytes(b"this is not a SavedModel")
    with serving_app(Settings(model_repository=repo, poll_interval_s=0, grpc_port=0)) as app:
        text = app.test_client().get("/metrics").get_data(as_text=True)
    failures = {
        s.labels["model"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "serving_model_load_failures_total"
    }
    assert failures["never-failed"] == 0
    assert failures["failed-once"] == 1
