"""``python -m bench.ab``: two trees' servers loaded in interleaved rounds."""

from __future__ import annotations

import json

from bench.ab import APIS, Round, main, summarise


def test_head_against_the_working_tree_measures_both_apis_on_both(tiny_models, tmp_path):
    out = tmp_path / "ab.json"
    args = ["HEAD", "--repository", str(tiny_models), "--rounds", "2", "--duration", "1"]
    assert main([*args, "--concurrency", "2", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    rows = report["rounds"]
    assert {(r["tree"], r["api"]) for r in rows} == {
        (tree, api) for tree in ("before", "after") for api in APIS
    }
    assert [r["tree"] for r in rows if r["api"] == "rest_v1"] == [
        "before",
        "after",
        "after",
        "before",  # the order alternates by round
    ]
    for row in rows:
        assert row["errors"] == 0, row
        assert row["requests_per_s"] > 0 and row["cpu_ms_per_request"] > 0, row
        assert row["rows_per_call"] >= 1.0, row  # from the server's batch-size histogram
    assert report["revision"] == "HEAD"


def test_the_summary_takes_medians_and_ratios():
    rows = [
        Round(n, tree, api, rps, 10.0, 0, cpu, rows)
        for n, (tree, rps, cpu, rows) in enumerate(
            [
                ("before", 100.0, 0.5, 4.0),
                ("before", 300.0, 0.4, 6.0),
                ("before", 200.0, 0.6, 5.0),
                ("after", 210.0, 0.45, None),
                ("after", 190.0, 0.55, 2.0),
                ("after", 220.0, 0.5, 3.0),
            ]
        )
        for api in APIS
    ]
    summary = summarise(rows)["rest_v1"]
    assert summary["before"]["requests_per_s"] == 200.0
    assert summary["after"]["requests_per_s"] == 210.0
    assert summary["after_over_before_requests_per_s"] == 1.05
    assert summary["after_over_before_cpu_ms_per_request"] == 1.0
    assert summary["before"]["rows_per_call"] == 5.0
    assert summary["after"]["rows_per_call"] == 2.5  # a round without model calls is left out
