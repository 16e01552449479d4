"""The committed monitoring files: the dashboard JSON is what monitoring/dashboard.py
generates and is wired to a datasource variable; promtool accepts the alert rules and their
unit tests pass. No server needed (test_monitoring_live.py runs the queries)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from monitoring import dashboard
from tests.conftest import ROOT

RULES = ROOT / "monitoring" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "monitoring" / "prometheus" / "alerts_test.yml"


def panels(model: dict) -> list[dict]:
    """Every panel with queries (rows carry none)."""
    return [p for p in model["panels"] if p["type"] != "row"]


def test_the_committed_dashboard_is_the_generated_one():
    assert dashboard.OUTPUT.read_text() == dashboard.render(), (
        "stale dashboard: run python -m monitoring.dashboard"
    )
    assert dashboard.main(["--check"]) == 0


def test_check_mode_reports_a_stale_file(tmp_path, capsys):
    stale = tmp_path / "dashboard.json"
    stale.write_text("{}")
    assert dashboard.main(["--check", "--output", str(stale)]) == 1
    assert "stale" in capsys.readouterr().err
    assert dashboard.main(["--output", str(stale)]) == 0
    assert stale.read_text() == dashboard.render()


def test_every_panel_and_query_uses_the_datasource_variable():
    model = json.loads(dashboard.render())
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert list(variables) == ["datasource", "job", "model", "version"]
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ref = {"type": "prometheus", "uid": "${datasource}"}
    for panel in panels(model):
        assert panel["datasource"] == ref, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == ref, panel["title"]
            # every query is narrowed by the job variable, and by model where it has one
            assert 'job=~"$job"' in target["expr"] or "up{" in target["expr"], target["expr"]


def test_panels_split_by_model_and_version_and_one_row_repeats_per_model():
    model = json.loads(dashboard.render())
    exprs = [t["expr"] for p in panels(model) for t in p["targets"]]
    assert sum(bool(re.search(r"by \((le, )?model, version\)", e)) for e in exprs) >= 6
    ids = [p["id"] for p in model["panels"]]
    assert ids == list(range(1, len(ids) + 1))
    rows = [p for p in model["panels"] if p["type"] == "row"]
    assert [r.get("repeat") for r in rows].count("model") == 1
    titles = {p["title"] for p in panels(model)}
    for needed in (
        "Request rate per model and version",
        "Error ratio per model and version",
        "Model call latency per model and version",
        "Batch size distribution",
        "Batch queue wait per model and version",
        "In-flight requests per API",
        "Model load events",
    ):
        assert needed in titles, needed


@pytest.fixture(scope="module")
def promtool():
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool (Debian's prometheus package) is not installed")
    return path


def test_promtool_checks_the_rules(promtool):
    proc = subprocess.run([promtool, "check", "rules", RULES], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 7 rules found" in proc.stdout


def test_promtool_checks_the_example_config_and_its_rules(promtool):
    config = ROOT / "monitoring" / "prometheus" / "prometheus.yml"
    proc = subprocess.run([promtool, "check", "config", config], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 7 rules found" in proc.stdout  # the config really loads alerts.yml


def test_promtool_unit_tests_of_the_alerts_pass(promtool):
    proc = subprocess.run([promtool, "test", "rules", RULE_TESTS], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_every_alert_has_a_unit_test():
    import yaml

    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]  # shown firing, not only silent
    }
    assert alerts == tested
