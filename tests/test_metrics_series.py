"""A version's histograms end with it: out of the exposition once it is unloaded, in one
process and across gunicorn workers (multiprocess mode, one file per version)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import requests
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from service import metrics
from tests.test_isolation import Reloader, _repo
from tests.traffic import Traffic

ROOT = Path(__file__).resolve().parent.parent


def test_forgotten_series_leave_the_default_registry():
    series = metrics.VersionSeries("forgetful", 3)
    series.observe_call(0.002)
    series.observe_batch(5, 8, 0.001)
    labels = {"model": "forgetful", "version": "3"}
    assert REGISTRY.get_sample_value("serving_inference_duration_seconds_count", labels) == 1
    assert REGISTRY.get_sample_value("serving_batch_size_rows_sum", labels) == 5
    series.forget()
    series.observe_call(0.002)  # a request finishing on the unloaded version: dropped
    for name in ("serving_inference_duration_seconds_count", "serving_batch_size_rows_sum"):
        assert REGISTRY.get_sample_value(name, labels) is None, name


def test_multiprocess_series_live_in_their_own_file_until_forgotten(tmp_path):
    """In a process of its own: the library picks mmap files at import, from the env."""
    code = textwrap.dedent(
        """
        import json, os
        from unittest import mock
        from prometheus_client.mmap_dict import MmapedDict
        from prometheus_client.parser import text_string_to_metric_families
        from service import metrics

        def counts():
            text = metrics.exposition()[0].decode()
            return sorted(
                (s.labels["version"], s.value)
                for f in text_string_to_metric_families(text) for s in f.samples
                if s.name == "serving_inference_duration_seconds_count"
            )

        def files():
            names = os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])
            return sorted(n for n in names if "-v" in n)

        out = {}
        old, new = metrics.VersionSeries("m", 1), metrics.VersionSeries("m", 2)
        again = metrics.VersionSeries("m", 1)  # the same version loaded again, old still alive
        for series, calls in ((old, 2), (new, 3), (again, 4)):
            for _ in range(calls):
                series.observe_call(0.001)
        metrics.observe_request("rest_v1", "predict", "200", "m", "1", 0.001)
        out["all"], out["files"] = counts(), files()
        old.forget()
        old.observe_call(0.001)  # after its file closed: dropped, not an error
        out["old forgotten"], out["files after"] = counts(), files()
        again.forget()
        new.forget()
        out["none"], out["files at end"] = counts(), files()
        text = metrics.exposition()[0].decode()
        out["requests kept"] = 'serving_requests_total{api="rest_v1"' in text

        # A version's file deleted between the scrape's listing and its read: read again.
        real = MmapedDict.read_all_values_from_file
        raised = []
        def vanishing(path):
            if not raised:
                raised.append(path)
                raise FileNotFoundError(path)
            return real(path)
        with mock.patch.object(MmapedDict, "read_all_values_from_file", staticmethod(vanishing)):
            text = metrics.exposition()[0].decode()
        out["after a vanished file"] = bool(raised) and "serving_requests_total" in text
        print(json.dumps(out))
        """
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    # Two live copies of version 1 sum in the exposition as two workers would.
    assert out["all"] == [["1", 6.0], ["2", 3.0]]
    assert len(out["files"]) == 3 and all(n.startswith("histogram_") for n in out["files"])
    assert out["old forgotten"] == [["1", 4.0], ["2", 3.0]]
    assert len(out["files after"]) == 2
    assert out["none"] == [] and out["files at end"] == []
    assert out["requests kept"] is True
    assert out["after a vanished file"] is True


def _sentiment_rows(url: str) -> dict[str, float]:
    """Rows per model call of sentiment so far, by version, summed over the workers."""
    text = requests.get(url + "/metrics", timeout=10).text
    return {
        s.labels["version"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "serving_batch_size_rows_sum" and s.labels["model"] == "sentiment"
    }


def test_unloaded_versions_leave_the_exposition_of_a_live_server(
    tiny_models, tmp_path, live_server
):
    repo = _repo(tmp_path, tiny_models)
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    server = live_server(repo, env={"SERVING_METRICS_DIR": str(metrics_dir)})
    reloader = Reloader(server, repo, tiny_models / "sentiment" / "1")
    for _ in range(3):
        reloader.reload_once()
    assert reloader.version == 4
    before = _sentiment_rows(server.url)
    assert set(before) == {"4"}, before  # versions 1-3 are gone from the exposition
    with Traffic(
        server.url,
        clients=3,
        path="/v1/models/sentiment:predict",
        body={"instances": ["a fine film"]},
        pause_s=0.0,
    ) as traffic:
        traffic.wait_requests(30)
    answered = len(traffic.outcomes)
    assert traffic.failures() == {}
    # One row per request, over both workers (a batch is recorded just after its answers).
    deadline = time.monotonic() + 5
    while (added := _sentiment_rows(server.url)["4"] - before["4"]) < answered:
        assert time.monotonic() < deadline, (added, answered)
        time.sleep(0.05)
    assert added == answered
    # Two workers x two models, one file per loaded version: none for versions 1-3.
    versioned = [n for n in os.listdir(metrics_dir) if "-v" in n]
    assert len(versioned) == 4, versioned


def _series(name: str) -> int:
    return sum(1 for family in REGISTRY.collect() for s in family.samples if s.name == name)


def test_what_a_client_sends_never_becomes_a_label_value(client):
    """A label per unknown verb would let any client grow every scrape without bound."""

    def hostile(i: int) -> None:
        verb = "verb" + chr(ord("a") + i % 26) * (1 + i // 26)
        answer = client.post(f"/v1/models/digits:{verb}", json={"instances": [1]})
        assert answer.status_code == 404 and f":{verb}'" in answer.get_json()["error"]
        assert client.get(f"/v2/models/nosuch{i}/versions/{i}").status_code == 404
        answer = client.post(f"/v1/models/nosuch{i}/versions/{i}:predict", json={})
        assert answer.status_code == 404

    hostile(0)  # the few series these requests make, once
    before = _series("serving_requests_total"), _series("serving_request_duration_seconds_count")
    for i in range(1, 41):
        hostile(i)
    after = _series("serving_requests_total"), _series("serving_request_duration_seconds_count")
    assert after == before
