"""Every query of the dashboard and every alert expression, run by a real Prometheus that
scrapes a live 2-worker server after real traffic (REST v1 predict, task verbs, V2 infer,
gRPC Predict through the tensorflow-serving-api stubs, client and server errors, a model
that fails to load): each must return data, so no panel or alert is silently empty.

Alerts that are silent when healthy are checked through their *signal*: the rules file
keeps every expression in the shape ``<signal> <comparison> <number>`` or
``absent(<selector>)``, :func:`signal` takes that shape apart (and fails on any other), and
the signal must return data. Separately, Prometheus evaluates the rules file itself, and
the alerts this traffic should trigger (the broken model) are the ones it reports.
"""

from __future__ import annotations

import json
import re
import shutil
import time

import numpy as np
import pytest
import requests
import yaml

from monitoring import dashboard
from tests.conftest import DIGITS_LABELS, ROOT, LiveServer
from tests.prometheus import Prometheus, finite, values

RULES = ROOT / "monitoring" / "prometheus" / "alerts.yml"
ALERTS = {r["alert"]: r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
MODEL = json.loads(dashboard.OUTPUT.read_text())
TARGETS = [(p["title"], t) for p in MODEL["panels"] if p["type"] != "row" for t in p["targets"]]

# What Grafana puts in place of the variables with "All" selected: the variables' allValue
# regexes; $__rate_interval is at least 4 scrape intervals, and the test's traffic spans
# well under a minute, so one minute covers all of it.
GRAFANA = {"$__rate_interval": "1m", "$job": "serving", "$model": ".+", "$version": ".*"}
PIXELS = np.zeros((28, 28, 1)).tolist()


def substitute(expr: str) -> str:
    for name, value in GRAFANA.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"a dashboard variable the test does not know: {expr}"
    return expr


_COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)(\s*bool\b)?")


def signal(expr: str) -> str:
    """The part of an alert expression that has data while all is well: the left side of a
    top-level comparison with a number, or the selector inside ``absent()``."""
    expr = " ".join(expr.split())
    inner = re.fullmatch(r"absent\((.*)\)", expr)
    if inner:
        return inner.group(1)
    depth, quote, cut = 0, "", None
    for i, ch in enumerate(expr):
        if quote:
            quote = "" if ch == quote and expr[i - 1] != "\\" else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and (match := _COMPARISON.match(expr, i)) and expr[i - 1] not in "=!<>":
            cut = (i, match.end())
    assert cut, f"not `<signal> <comparison> <number>`: {expr}"
    threshold = expr[cut[1] :].strip()
    assert re.fullmatch(r"-?\d+(\.\d+)?", threshold), f"threshold is not a number: {expr}"
    return expr[: cut[0]].strip()


def test_signal_takes_the_comparison_apart():
    assert signal("up{job='a'} == 0") == "up{job='a'}"
    assert (
        signal('sum(rate(x{s=~"5..|>"}[5m])) / sum(y) > 0.05')
        == 'sum(rate(x{s=~"5..|>"}[5m])) / sum(y)'
    )
    assert signal("(a or b) > bool 0") == "(a or b)"
    assert signal("absent(up{job='a'})") == "up{job='a'}"
    with pytest.raises(AssertionError, match="comparison"):
        signal("rate(x[5m])")
    with pytest.raises(AssertionError, match="threshold"):
        signal("a > b")


def _traffic(server: LiveServer, grpc_stub, sent: dict) -> None:
    """One round of every API, two client errors and two server errors."""
    v1 = server.url + "/v1/models/"
    calls = [
        ("post", v1 + "digits:predict", {"instances": [PIXELS]}, 200),
        ("post", v1 + "digits/versions/1:predict", {"instances": [PIXELS, PIXELS]}, 200),
        ("post", v1 + "digits/labels/canary:predict", {"instances": [PIXELS]}, 200),
        ("post", v1 + "digits:classify", {"instances": [PIXELS], "k": 2}, 200),
        (
            "post",
            server.url + "/v2/models/digits/infer",
            {
                "inputs": [
                    {
                        "name": "image",
                        "shape": [1, 28, 28, 1],
                        "datatype": "FP32",
                        "data": [0.0] * 784,
                    }
                ]
            },
            200,
        ),
        ("post", v1 + "digits:predict", {"instances": [[1, 2]]}, 400),  # wrong shape
        ("post", v1 + "digits:forecast", {"instances": [PIXELS]}, 501),  # wrong task
        ("post", v1 + "broken:predict", {"instances": [[1.0]]}, 503),  # nothing loaded
    ]
    for method, url, body, status in calls:
        r = requests.request(method, url, json=body, headers={"Connection": "close"}, timeout=30)
        assert r.status_code == status, (url, r.text)
    grpc_stub("digits", ok=True)
    grpc_stub("no-such-model", ok=False)
    for api, n in (("rest_v1", 5), ("task", 2), ("rest_v2", 1), ("grpc", 2)):
        sent[api] = sent.get(api, 0) + n


@pytest.fixture(scope="module")
def grpc_predict():
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    def call(port: int):
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{port}")
        )

        def predict(name: str, ok: bool) -> None:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = name
            request.inputs["image"].CopyFrom(
                tf.make_tensor_proto(np.zeros((1, 28, 28, 1), np.float32))
            )
            try:
                stub.Predict(request, timeout=30)
                assert ok
            except grpc.RpcError as exc:
                assert not ok and exc.code() == grpc.StatusCode.NOT_FOUND, exc

        return predict

    return call


@pytest.fixture(scope="module")
def scraped(tiny_models, tmp_path_factory, grpc_predict):
    """(Prometheus, requests sent per API) after two rounds of traffic 2 s apart, so every
    counter series has grown after its first sample and rates are above zero."""
    tmp = tmp_path_factory.mktemp("monitoring-live")
    repo = tmp / "repo"
    shutil.copytree(tiny_models / "digits", repo / "digits")
    (repo / "repository.json").write_text(json.dumps(DIGITS_LABELS))
    server = LiveServer(repo, workers=2, tmp=tmp)
    try:
        server.wait_ready()
        prometheus = Prometheus([f"127.0.0.1:{server.rest_port}"], tmp, rule_files=[RULES])
        with prometheus:
            prometheus.wait_for('up{job="serving"} == 1', bool)
            broken = repo / "broken" / ".tmp-1"  # published like the exporter does
            broken.mkdir(parents=True)
            (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
            broken.rename(repo / "broken" / "1")
            # both workers have tried it (and failed) when Prometheus counts two failures
            failures = 'sum(serving_model_load_failures_total{model="broken"})'
            prometheus.wait_for(failures, lambda r: values(r) == [2.0])
            sent: dict[str, int] = {}
            predict = grpc_predict(server.grpc_port)
            _traffic(server, predict, sent)
            time.sleep(2.5)
            _traffic(server, predict, sent)
            total = f'sum(serving_requests_total{{api!="ops"}}) == {sum(sent.values())}'
            prometheus.wait_for(total, bool)
            time.sleep(1.5)  # one more scrape and rule evaluation after the last request
            yield prometheus, sent
    finally:
        server.stop()


def test_requests_are_counted_exactly_per_api(scraped):
    prometheus, sent = scraped
    result = prometheus.query('sum by (api) (serving_requests_total{api!="ops"})')
    assert {s["metric"]["api"]: float(s["value"][1]) for s in result} == sent


@pytest.mark.parametrize(
    ("title", "target"), TARGETS, ids=[f"{t}/{q['refId']}" for t, q in TARGETS]
)
def test_every_dashboard_query_returns_data(scraped, title, target):
    prometheus, _ = scraped
    result = prometheus.query(substitute(target["expr"]))
    assert finite(result), f"{title}: {target['expr']} -> {result}"


def test_the_dashboard_shows_this_traffic_by_value(scraped):
    prometheus, _ = scraped

    def by(expr: str, *labels: str) -> dict:
        result = prometheus.query(substitute(expr))
        return {tuple(s["metric"].get(k, "") for k in labels): float(s["value"][1]) for s in result}

    panels = {p["title"]: p for p in MODEL["panels"]}

    def expr(title: str, ref: str = "A") -> str:
        return next(t["expr"] for t in panels[title]["targets"] if t["refId"] == ref)

    assert by(expr("Models not ready"))[()] == 1.0  # broken
    assert by(expr("Loads and failures since start"), "model") == {
        ("digits",): 4.0,
        ("broken",): 2.0,
    }
    # every model's failure counter exists from its discovery, at 0 until it fails
    assert by(expr("Loads and failures since start", "B"), "model") == {
        ("digits",): 0.0,
        ("broken",): 2.0,
    }
    assert by(expr("In flight"))[()] >= 1.0  # the scrape itself is in flight
    rates = by(expr("Request rate per model and version"), "model", "version")
    assert rates[("digits", "1")] > 0 and rates[("digits", "2")] > 0
    errors = by(expr("Error ratio per model and version"), "model", "version")
    assert 0 < errors[("digits", "2")] < 1
    assert ("", "") not in errors  # model-less requests are not a model's errors


def test_the_template_variables_list_the_models_and_versions(scraped):
    prometheus, _ = scraped
    found = {}
    for variable in MODEL["templating"]["list"][1:]:
        selector, label = re.fullmatch(r"label_values\((.*), (\w+)\)", variable["query"]).groups()
        found[label] = prometheus.api(f"label/{label}/values", **{"match[]": substitute(selector)})
    assert found == {"job": ["serving"], "model": ["digits"], "version": ["1", "2"]}


@pytest.mark.parametrize("name", list(ALERTS))
def test_every_alert_signal_returns_data(scraped, name):
    prometheus, _ = scraped
    inner = signal(ALERTS[name]["expr"])
    assert values(prometheus.query(inner)), f"{name}: {inner}"


def test_prometheus_evaluates_the_rules_and_the_broken_model_alerts(scraped):
    prometheus, _ = scraped
    rules = {r["name"]: r for g in prometheus.api("rules")["groups"] for r in g["rules"]}
    assert set(rules) == set(ALERTS)
    assert {n: r["health"] for n, r in rules.items()} == dict.fromkeys(ALERTS, "ok")
    # what this traffic triggers, straight from the full expressions
    triggered = {n for n in ALERTS if prometheus.query(" ".join(ALERTS[n]["expr"].split()))}
    assert triggered == {"ServingModelNotReady", "ServingModelLoadFailed", "ServingHighErrorRate"}
    assert rules["ServingModelLoadFailed"]["state"] == "firing"  # no `for`: at once
    assert rules["ServingModelNotReady"]["state"] == "pending"  # for: 2m
    labels = [a["labels"]["model"] for a in rules["ServingModelLoadFailed"]["alerts"]]
    assert labels == ["broken"]
