"""Results -> the markdown table, the PNG plot, and issue 4's targets checked against them."""

from __future__ import annotations

from pathlib import Path

# Issue 4's reference: the best peer (MLServer 1.7, adaptive batching) at c=64 on this
# machine and workload: 521 req/s with p99 309 ms.
BEST_PEER_C64_RPS = 521.0
BEST_PEER_C64_P99_MS = 309.0
# Above this, other processes competed for the 2 cores enough to matter.
NOISY_OTHER_CPU_PERCENT = 20.0


def level(entry: dict | None, concurrency: int) -> dict | None:
    """The measured level at ``concurrency`` of a target or ceiling entry, if it is ok."""
    for lv in (entry or {}).get("levels", []):
        if lv["concurrency"] == concurrency and lv["requests_per_s"] is not None:
            return lv
    return None


def _cell(lv: dict) -> str:
    if lv["requests_per_s"] is None:
        return lv["status"]
    text = f"{lv['requests_per_s']:,.0f} req/s, {lv['p50_ms']:.1f} / {lv['p99_ms']:.1f} ms"
    if lv["status"] != "ok":
        text += f" ({lv['status']}: {lv.get('note') or ''})"
    elif lv.get("note"):
        text += " *"
    return text


def markdown_table(results: dict) -> str:
    """API x concurrency: req/s, p50 / p99; then the ceilings and the issue-4 targets."""
    levels = results["concurrency"]
    lines = [
        "| API | " + " | ".join(f"c={c}: req/s, p50 / p99" for c in levels) + " |",
        "|---|" + "---|" * len(levels),
    ]
    rows = [(t["label"], t) for t in results["targets"].values()]
    rows += [(c["label"], c) for c in _http_ceilings(results)]
    notes = []
    for label, entry in rows:
        if not entry.get("available", True):
            lines.append(f"| {label} | " + " | ".join(["unavailable"] * len(levels)) + " |")
            notes.append(f"{label}: unavailable: {entry.get('reason')}")
            continue
        by_c = {lv["concurrency"]: lv for lv in entry["levels"]}
        lines.append(
            f"| {label} | "
            + " | ".join(_cell(by_c[c]) if c in by_c else "-" for c in levels)
            + " |"
        )
        notes += [
            f"{label}, c={lv['concurrency']}: {lv['note']}"
            for lv in entry["levels"]
            if lv.get("note") and lv["status"] == "ok"
        ]
    inproc = results["ceilings"]["in_process"]["batches"]
    lines += [
        "",
        "In-process ceiling (signature called directly): "
        + ", ".join(f"batch {b}: {v['items_per_s']:,.0f} items/s" for b, v in inproc.items())
        + ".",
    ]
    split = stack_and_model_share(results)
    if split:
        lines += ["", split]
    if notes:
        lines += ["", *[f"\\* {n}" for n in notes]]
    noise = max_other_cpu(results)
    if noise >= NOISY_OTHER_CPU_PERCENT:
        lines += [
            "",
            f"Warning: other processes used up to {noise:.0f}% CPU (of one core) "
            "during this run; the numbers are lower than an idle machine gives.",
        ]
    if results.get("goals"):
        lines += ["", "| issue 4 target | measured | goal | met |", "|---|---|---|---|"]
        lines += [
            f"| {g['goal']} | {g['measured']} | {g['threshold']} | {'yes' if g['met'] else 'no'} |"
            for g in results["goals"]
        ]
    return "\n".join(lines) + "\n"


def _http_ceilings(results: dict) -> list[dict]:
    """The echo, and the zero-cost stand-in when the run has one (older results lack it)."""
    ceilings = results["ceilings"]
    return [ceilings["echo"], *([ceilings["zero_cost"]] if "zero_cost" in ceilings else [])]


def stack_and_model_share(results: dict) -> str | None:
    """One sentence splitting REST v1's distance from the echo (at the run's highest
    concurrency) into what the serving stack costs and what the model costs."""
    concurrency = max(results["concurrency"])
    echo = level(results["ceilings"]["echo"], concurrency)
    zero = level(results["ceilings"].get("zero_cost"), concurrency)
    rest = level(results["targets"].get("rest_v1"), concurrency)
    if not (echo and zero and rest):
        return None
    zero_pct = 100 * zero["requests_per_s"] / echo["requests_per_s"]
    rest_pct = 100 * rest["requests_per_s"] / echo["requests_per_s"]
    return (
        f"Stack vs model at c={concurrency}: REST v1 on a zero-cost stand-in with the same "
        f"signature (everything but the model's compute) reached {zero_pct:.0f}% of the bare "
        f"echo; with the model, {rest_pct:.0f}%."
    )


def max_other_cpu(results: dict) -> float:
    """The most CPU anything besides the server and load generator used during a level."""
    entries = [*results["targets"].values(), *_http_ceilings(results)]
    return max(
        (lv.get("other_cpu_percent") or 0.0 for e in entries for lv in e["levels"]), default=0.0
    )


def evaluate_goals(results: dict) -> list[dict]:
    """Issue 4's targets for the REST v1 JSON workload (needs levels 1 and 64)."""
    targets, echo = results["targets"], results["ceilings"]["echo"]
    rest1, rest64 = level(targets.get("rest_v1"), 1), level(targets.get("rest_v1"), 64)
    goals = []

    def add(goal: str, measured: float, threshold: float, higher: bool, unit: str) -> None:
        # Ratios with two decimals: 1.46x must not print as a "1.5 x" that is not met.
        digits = 2 if unit == "x" else 1
        goals.append(
            {
                "goal": goal,
                "measured": f"{measured:,.{digits}f} {unit}".strip(),
                "threshold": f"{'>=' if higher else '<='} {threshold:,.{digits}f} {unit}".strip(),
                "met": measured >= threshold if higher else measured <= threshold,
            }
        )

    if rest64:
        add(
            "REST v1 c=64 throughput >= 2x best peer",
            rest64["requests_per_s"],
            2 * BEST_PEER_C64_RPS,
            True,
            "req/s",
        )
        add(
            "REST v1 c=64 p99 <= half the best peer's",
            rest64["p99_ms"],
            BEST_PEER_C64_P99_MS / 2,
            False,
            "ms",
        )
        echo64 = level(echo, 64)
        if echo64:
            add(
                "REST v1 c=64 >= 80% of bare echo",
                100 * rest64["requests_per_s"] / echo64["requests_per_s"],
                80.0,
                True,
                "%",
            )
        for key in ("v2_binary", "grpc"):
            fast = level(targets.get(key), 64)
            if fast:
                add(
                    f"{targets[key]['label']} c=64 >= 1.5x REST JSON",
                    fast["requests_per_s"] / rest64["requests_per_s"],
                    1.5,
                    True,
                    "x",
                )
    if rest1:
        add("REST v1 c=1 p50 <= 3 ms", rest1["p50_ms"], 3.0, False, "ms")
    memory = results.get("memory")
    if memory:
        add(
            f"one worker with {', '.join(memory['models'])} loaded < 1 GiB RSS",
            memory["rss_mib"],
            memory["budget_mib"],
            False,
            "MiB",
        )
    return goals


def plot(results: dict, path: Path) -> Path:
    """Throughput and p99 vs concurrency per API (echo ceiling dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_rps, ax_p99) = plt.subplots(1, 2, figsize=(11, 4.2))
    series = [(t["label"], t, "-") for t in results["targets"].values() if t.get("available", True)]
    series += [
        (c["label"], c, style)
        for c, style in zip(_http_ceilings(results), ("--", "-."), strict=False)
        if c.get("available", True)
    ]
    for label, entry, style in series:
        points = [lv for lv in entry["levels"] if lv["requests_per_s"] is not None]
        if not points:
            continue
        xs = [lv["concurrency"] for lv in points]
        ax_rps.plot(xs, [lv["requests_per_s"] for lv in points], style, marker="o", label=label)
        ax_p99.plot(xs, [lv["p99_ms"] for lv in points], style, marker="o", label=label)
    for ax, title, unit in ((ax_rps, "Throughput", "requests/s"), (ax_p99, "p99 latency", "ms")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(results["concurrency"], [str(c) for c in results["concurrency"]])
        ax.set_xlabel("concurrent connections")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(alpha=0.3)
    ax_p99.set_yscale("log")
    ax_rps.set_ylim(bottom=0)
    ax_rps.legend(fontsize=8)
    machine = results["machine"]
    fig.suptitle(
        f"{results['model']['name']}: one example per request - "
        f"{machine['cpu_model']}, {machine['cores']} cores, {results['date'][:10]}, "
        f"{results['topology']}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
