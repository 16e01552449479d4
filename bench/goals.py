"""The targets of the peer-comparison issue, judged from one run's results dict alone.

Every peer figure comes from the same run (``results["peers"]`` and each workload's
``peers``); nothing here holds a number measured elsewhere. "Best peer" is the best of the
measured peers at that level and metric (highest throughput, lowest latency or time), over
the APIs a peer offers for the comparison: for REST v1 JSON, a peer's JSON REST APIs
(KServe answers TF Serving's V1 rows with the same body; MLServer only V2 JSON).
"""

from __future__ import annotations

from collections.abc import Iterable

LATENCY_TARGET_MS = 20.0
# A peer's APIs that stand against our REST v1 JSON (same example, JSON over HTTP/1.1).
JSON_REST_APIS = ("rest_v1", "v2_json")
RSS_BUDGET_MIB = 1024.0


def level(entry: dict | None, concurrency: int) -> dict | None:
    """The measured level at ``concurrency`` of an entry, if it is ok."""
    for lv in (entry or {}).get("levels", []):
        if lv["concurrency"] == concurrency and lv["status"] == "ok" and lv["requests_per_s"]:
            return lv
    return None


def goodput(entry: dict | None, p99_limit_ms: float = LATENCY_TARGET_MS) -> dict | None:
    """The level with the highest throughput whose p99 stays within ``p99_limit_ms``."""
    within = [
        lv
        for lv in (entry or {}).get("levels", [])
        if lv["status"] == "ok" and lv["requests_per_s"] and lv["p99_ms"] <= p99_limit_ms
    ]
    if not within:
        return None
    best = max(within, key=lambda lv: lv["requests_per_s"])
    return {k: best[k] for k in ("concurrency", "requests_per_s", "p50_ms", "p99_ms")}


def goodput_table(results: dict) -> dict:
    """Goodput at p99 <= 20 ms for every API of ours and of each peer (benchmark model)."""
    return {
        "latency_target_ms": LATENCY_TARGET_MS,
        "ours": {k: goodput(e) for k, e in results["targets"].items() if e.get("available")},
        "peers": {
            name: {k: goodput(e) for k, e in peer["targets"].items() if e.get("available")}
            for name, peer in results.get("peers", {}).items()
        },
    }


def _peer_entries(peers: dict, apis: Iterable[str]) -> list[tuple[str, str, dict]]:
    """(peer label, API key, entry) for each peer's API among ``apis``."""
    return [
        (peer.get("label", name), key, entry)
        for name, peer in peers.items()
        for key, entry in peer.get("targets", peer).items()
        if key in apis and isinstance(entry, dict) and entry.get("available")
    ]


def _best(candidates: list[tuple[str, float]], higher: bool) -> tuple[str, float] | None:
    ok = [c for c in candidates if c[1] is not None]
    if not ok:
        return None
    return max(ok, key=lambda c: c[1]) if higher else min(ok, key=lambda c: c[1])


def evaluate(results: dict) -> list[dict]:
    """Each target: goal, our figure, the peer figure it is judged against, the threshold,
    met (None when a figure is missing: not measured in this run)."""
    goals: list[dict] = []
    peers = results.get("peers", {})
    ours = results["targets"]

    def add(goal, measured, unit, reference=None, factor=None, higher=True, fixed=None):
        """``threshold = factor * reference[1]`` (reference: (who, value)) or ``fixed``."""
        if fixed is not None:
            threshold = fixed
        elif reference is not None:
            threshold = factor * reference[1]
        else:
            threshold = None
        met = None
        if measured is not None and threshold is not None:
            met = measured >= threshold if higher else measured <= threshold
        goals.append(
            {
                "goal": goal,
                "measured": measured,
                "unit": unit,
                "reference": None
                if reference is None
                else {"who": reference[0], "value": reference[1]},
                "threshold": threshold,
                "higher_is_better": higher,
                "met": met,
            }
        )

    def metric(entry, concurrency, key):
        lv = level(entry, concurrency)
        return None if lv is None else lv[key]

    json_peers = _peer_entries(peers, JSON_REST_APIS)
    rest = ours.get("rest_v1")

    def best_peer(entries, concurrency, key, higher):
        return _best(
            [(f"{who} {api}", metric(e, concurrency, key)) for who, api, e in entries], higher
        )

    add(
        "REST v1 JSON c=64 throughput >= 2x best peer",
        metric(rest, 64, "requests_per_s"),
        "req/s",
        best_peer(json_peers, 64, "requests_per_s", True),
        2.0,
    )
    add(
        "REST v1 JSON c=64 p99 <= 1/2 best peer's",
        metric(rest, 64, "p99_ms"),
        "ms",
        best_peer(json_peers, 64, "p99_ms", False),
        0.5,
        higher=False,
    )
    ours_goodput = goodput(rest)
    add(
        f"REST v1 JSON goodput at p99 <= {LATENCY_TARGET_MS:g} ms >= 2.5x best peer's",
        ours_goodput and ours_goodput["requests_per_s"],
        "req/s",
        _best(
            [
                (f"{who} {api}", (goodput(e) or {"requests_per_s": 0.0})["requests_per_s"])
                for who, api, e in json_peers
            ],
            True,
        ),
        2.5,
    )
    mlserver_grpc = [e for e in _peer_entries(peers, ("grpc_v2",)) if "MLServer" in e[0]]
    add(
        "gRPC Predict c=64 >= 2x MLServer's gRPC (V2 ModelInfer)",
        metric(ours.get("grpc"), 64, "requests_per_s"),
        "req/s",
        best_peer(mlserver_grpc, 64, "requests_per_s", True),
        2.0,
    )
    add(
        "REST v1 JSON c=1 p50 <= 1/2 best peer's",
        metric(rest, 1, "p50_ms"),
        "ms",
        best_peer(json_peers, 1, "p50_ms", False),
        0.5,
        higher=False,
    )
    large = results.get("workloads", {}).get("large_tensor", {}).get("targets", {})
    v2_json16 = metric(large.get("v2_json"), 16, "requests_per_s")
    v2_binary16 = metric(large.get("v2_binary"), 16, "requests_per_s")
    add(
        "large tensor (224x224x3): V2 binary c=16 >= 3x V2 JSON",
        v2_binary16,
        "req/s",
        None if v2_json16 is None else ("ours V2 JSON", v2_json16),
        3.0,
    )
    heavy = results.get("workloads", {}).get("compute_heavy", {})
    heavy_rest = heavy.get("targets", {}).get("rest_v1")
    add(
        f"compute-heavy ({', '.join(heavy.get('models', [])) or 'n/a'}) c=64 >= 1.5x best peer",
        metric(heavy_rest, 64, "requests_per_s"),
        "req/s",
        best_peer(
            _peer_entries(heavy.get("peers", {}), JSON_REST_APIS), 64, "requests_per_s", True
        ),
        1.5,
    )
    cold = (results.get("cold_start") or {}).get("benchmark_model", {})
    add(
        "time to ready, benchmark model alone <= 1/2 best peer's",
        (cold.get("ours") or {}).get("seconds"),
        "s",
        _best(
            [
                (peers.get(name, {}).get("label", name), value.get("seconds"))
                for name, value in cold.items()
                if name not in ("ours", "model") and isinstance(value, dict)
            ],
            False,
        ),
        0.5,
        higher=False,
    )
    memory = results.get("memory") or {}
    add(
        f"one worker with {', '.join(memory.get('models', [])) or 'the default models'} "
        "< 1 GiB RSS",
        memory.get("rss_mib"),
        "MiB",
        fixed=memory.get("budget_mib", RSS_BUDGET_MIB),
        higher=False,
    )
    return goals
