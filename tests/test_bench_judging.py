"""The benchmark's judgement and its peer plumbing, without servers, peers or timing:
goodput selection and every target read from same-run peer figures only (hand-made results
dicts), the peers' request bodies, and which peers and workloads each mode runs."""

from __future__ import annotations

from bench import goals, report


def _lv(c: int, rps: float, p50: float, p99: float, status: str = "ok") -> dict:
    return {
        "concurrency": c,
        "status": status,
        "requests_per_s": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "note": None,
    }


def _entry(label: str, levels: list[dict]) -> dict:
    return {"label": label, "kind": "http", "available": True, "levels": levels}


def test_goodput_is_the_fastest_level_within_the_latency_target():
    entry = _entry(
        "x",
        [
            _lv(1, 500, 1.0, 2.0),
            _lv(16, 1800, 8.0, 19.9),
            _lv(32, 2100, 14.0, 20.1),  # faster, but its p99 is over 20 ms
            _lv(64, 2500, 20.0, 45.0),
            _lv(8, 1900, 4.0, 9.0, status="failed"),  # a failed level never counts
        ],
    )
    assert goals.goodput(entry) == {
        "concurrency": 16,
        "requests_per_s": 1800,
        "p50_ms": 8.0,
        "p99_ms": 19.9,
    }
    assert goals.goodput(_entry("slow", [_lv(1, 50, 30.0, 40.0)])) is None


def _results() -> dict:
    ours = {
        "rest_v1": _entry(
            "REST v1 JSON (:predict)",
            [_lv(1, 700, 1.4, 3.0), _lv(16, 1700, 8.0, 18.0), _lv(64, 2000, 30.0, 70.0)],
        ),
        "grpc": _entry("gRPC Predict", [_lv(64, 3000, 20.0, 50.0)]),
    }
    mlserver = {
        "v2_json": _entry(
            "V2 JSON (/infer)",
            [_lv(1, 300, 3.2, 6.0), _lv(16, 500, 30.0, 60.0), _lv(64, 520, 120.0, 310.0)],
        ),
        "grpc_v2": _entry("gRPC V2 ModelInfer", [_lv(64, 1600, 40.0, 90.0)]),
    }
    kserve = {
        "rest_v1": _entry(
            "REST v1 JSON (:predict)",
            [_lv(1, 400, 2.4, 5.0), _lv(16, 600, 25.0, 19.0), _lv(64, 900, 70.0, 160.0)],
        ),
    }
    heavy = {
        "description": "sentiment",
        "models": ["sentiment"],
        "levels": [64],
        "targets": {"rest_v1": _entry("REST v1 JSON (:predict)", [_lv(64, 600, 90.0, 150.0)])},
        "peers": {
            "mlserver": {"v2_json": _entry("V2 JSON (/infer)", [_lv(64, 300, 200.0, 400.0)])},
            "kserve": {"rest_v1": _entry("REST v1 JSON (:predict)", [_lv(64, 450, 140, 300)])},
        },
    }
    large = {
        "description": "cnn224",
        "models": ["cnn224"],
        "levels": [16],
        "targets": {
            "v2_json": _entry("V2 JSON (/infer)", [_lv(16, 40, 400.0, 600.0)]),
            "v2_binary": _entry("V2 binary tensors (/infer)", [_lv(16, 130, 120.0, 200.0)]),
        },
        "peers": {},
    }
    return {
        "concurrency": [1, 16, 64],
        "targets": ours,
        "peers": {
            "mlserver": {"label": "MLServer 1.7.1", "targets": mlserver},
            "kserve": {"label": "KServe 0.21.0", "targets": kserve},
        },
        "workloads": {"large_tensor": large, "compute_heavy": heavy},
        "cold_start": {
            "benchmark_model": {
                "model": "digits",
                "ours": {"seconds": 9.0, "rounds_s": [9.0]},
                "mlserver": {"seconds": 16.0, "rounds_s": [16.0]},
                "kserve": {"seconds": 30.0, "rounds_s": [30.0]},
            }
        },
        "memory": {"models": ["digits", "sentiment"], "rss_mib": 800.0, "budget_mib": 1024.0},
    }


def test_every_target_is_judged_against_the_best_peer_of_the_same_run():
    by_goal = {g["goal"]: g for g in goals.evaluate(_results())}
    rps64 = by_goal["REST v1 JSON c=64 throughput >= 2x best peer"]
    # KServe's V1 at c=64 (900) beats MLServer's V2 JSON (520): it is the reference
    assert rps64["reference"] == {"who": "KServe 0.21.0 rest_v1", "value": 900}
    assert (rps64["threshold"], rps64["measured"], rps64["met"]) == (1800.0, 2000, True)
    p99 = by_goal["REST v1 JSON c=64 p99 <= 1/2 best peer's"]
    assert (p99["reference"]["value"], p99["threshold"], p99["met"]) == (160.0, 80.0, True)
    good = by_goal["REST v1 JSON goodput at p99 <= 20 ms >= 2.5x best peer's"]
    # ours: c=16 (1700 req/s, p99 18 ms); KServe: c=16 (600, p99 19 ms) -> needs 1500
    assert (good["measured"], good["threshold"], good["met"]) == (1700, 1500.0, True)
    grpc = by_goal["gRPC Predict c=64 >= 2x MLServer's gRPC (V2 ModelInfer)"]
    assert (grpc["threshold"], grpc["met"]) == (3200.0, False)  # 3000 < 2 x 1600
    c1 = by_goal["REST v1 JSON c=1 p50 <= 1/2 best peer's"]
    assert (c1["reference"]["value"], c1["threshold"], c1["met"]) == (2.4, 1.2, False)
    large = by_goal["large tensor (224x224x3): V2 binary c=16 >= 3x V2 JSON"]
    assert (large["threshold"], large["met"]) == (120.0, True)
    heavy = by_goal["compute-heavy (sentiment) c=64 >= 1.5x best peer"]
    assert (heavy["reference"]["value"], heavy["threshold"], heavy["met"]) == (450, 675.0, False)
    cold = by_goal["time to ready, benchmark model alone <= 1/2 best peer's"]
    assert cold["reference"] == {"who": "MLServer 1.7.1", "value": 16.0}
    assert (cold["threshold"], cold["met"]) == (8.0, False)
    memory = by_goal["one worker with digits, sentiment < 1 GiB RSS"]
    assert (memory["threshold"], memory["met"]) == (1024.0, True)


def test_a_target_without_peer_figures_is_not_measured_rather_than_met():
    results = _results()
    results["peers"] = {}
    results["workloads"] = {}
    results["cold_start"] = None
    judged = goals.evaluate(results)
    assert [g["met"] for g in judged] == [None] * (len(judged) - 1) + [True]  # memory only
    rows = report.goals_table(judged)
    assert "| REST v1 JSON c=64 throughput >= 2x best peer | 2,000 req/s | - |" in rows
    assert sum(r.endswith("| - | not measured |") for r in rows.splitlines()) == len(judged) - 1


def test_goodput_table_covers_ours_and_every_peer_api():
    table = goals.goodput_table(_results())
    assert table["ours"]["rest_v1"]["concurrency"] == 16
    assert table["ours"]["grpc"] is None  # its only level has p99 50 ms
    assert table["peers"]["mlserver"] == {
        "v2_json": {"concurrency": 1, "requests_per_s": 300, "p50_ms": 3.2, "p99_ms": 6.0},
        "grpc_v2": None,
    }


def test_peers_get_exactly_our_request_bodies_and_a_real_v2_grpc_request():
    import numpy as np
    from tritonclient.grpc import service_pb2

    from bench import workload as wl
    from bench.targets import MODEL_INFER_METHOD, build_targets, peer_targets

    image = np.arange(28 * 28, dtype=np.float32).reshape(1, 28, 28, 1)
    w = wl.Workload("digits", [wl.Input("image", 1, image)], ["probabilities"], None, None)
    ours = {t.key: t for t in build_targets(w)}
    rest, v2, grpc_v2 = peer_targets(w, ("rest_v1", "v2_json", "grpc_v2"))
    assert (rest.body, rest.path) == (ours["rest_v1"].body, ours["rest_v1"].path)
    assert (v2.body, v2.path) == (ours["v2_json"].body, ours["v2_json"].path)
    assert grpc_v2.path == MODEL_INFER_METHOD
    request = service_pb2.ModelInferRequest.FromString(grpc_v2.body)
    assert request.model_name == "digits"
    (tensor,) = request.inputs
    assert (tensor.name, tensor.datatype, list(tensor.shape)) == ("image", "FP32", [1, 28, 28, 1])
    decoded = np.frombuffer(request.raw_input_contents[0], "<f4").reshape(image.shape)
    assert np.array_equal(decoded, image)


def test_full_mode_runs_both_peers_and_every_workload_and_quick_mode_none(monkeypatch):
    from bench import cli

    seen = {}
    monkeypatch.setattr("bench.run.run", lambda options: seen.setdefault("options", options))
    cli.main([])
    full = seen.pop("options")
    assert full.peers == ("mlserver", "kserve") and set(full.workloads) == set(cli.WORKLOADS)
    assert full.concurrency == [1, 2, 4, 8, 16, 32, 64, 128] and full.rounds == 3
    cli.main(["--quick"])
    quick = seen.pop("options")
    assert quick.peers == () and quick.workloads == ()
    cli.main(["--quick", "--peers", "kserve", "--workloads", "cold_start"])
    chosen = seen.pop("options")
    assert chosen.peers == ("kserve",) and chosen.workloads == ("cold_start",)
    cli.main(["--peers", "none"])
    assert seen.pop("options").peers == ()


def test_git_commit_is_found_in_a_linked_worktree(tmp_path):
    from bench.machine import git_commit

    common = tmp_path / "main" / ".git"
    gitdir = common / "worktrees" / "wt"
    (common / "refs" / "heads").mkdir(parents=True)
    gitdir.mkdir(parents=True)
    (common / "refs" / "heads" / "perf").write_text("ab" * 20 + "\n")
    (gitdir / "HEAD").write_text("ref: refs/heads/perf\n")
    (gitdir / "commondir").write_text("../..\n")
    worktree = tmp_path / "wt"
    worktree.mkdir()
    (worktree / ".git").write_text(f"gitdir: {gitdir}\n")
    assert git_commit(worktree) == "ab" * 20
