"""Results -> the markdown tables and the PNG plot (targets are judged in bench.goals)."""

from __future__ import annotations

from pathlib import Path

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


def _rows_table(levels: list[int], rows: list[tuple[str, dict]], notes: list[str]) -> list[str]:
    lines = [
        "| API | " + " | ".join(f"c={c}: req/s, p50 / p99" for c in levels) + " |",
        "|---|" + "---|" * len(levels),
    ]
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
    return lines


def _peer_rows(peers: dict, labels: dict[str, str]) -> list[tuple[str, dict]]:
    return [
        (f"{labels.get(name, name)}: {entry['label']}", entry)
        for name, targets in peers.items()
        for entry in targets.values()
    ]


def markdown_table(results: dict) -> str:
    """Every API x concurrency (ours, ceilings, peers), goodput, the extra workloads, cold
    start, and the targets with the same-run peer figure each is judged against."""
    levels = results["concurrency"]
    peers = results.get("peers", {})
    labels = {name: peer["label"] for name, peer in peers.items()}
    notes: list[str] = []
    rows = [(t["label"], t) for t in results["targets"].values()]
    rows += [(c["label"], c) for c in _http_ceilings(results)]
    rows += _peer_rows({n: p["targets"] for n, p in peers.items()}, labels)
    lines = _rows_table(levels, rows, notes)
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
    lines += _goodput_lines(results, labels)
    for name, workload in results.get("workloads", {}).items():
        lines += ["", f"**{name.replace('_', ' ')}**: {workload['description']}.", ""]
        rows = [(t["label"], t) for t in workload["targets"].values()]
        rows += _peer_rows(workload.get("peers", {}), labels)
        lines += _rows_table(workload["levels"], rows, notes)
        batch = [
            f"{t['label']} c={lv['concurrency']}: {lv['mean_batch_rows']:.1f}"
            for t in workload["targets"].values()
            for lv in t["levels"]
            if lv.get("mean_batch_rows")
        ]
        if batch and name == "compute_heavy":
            lines += ["", "Rows per model call (ours): " + ", ".join(batch) + "."]
    lines += _cold_start_lines(results, labels)
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
        lines += ["", goals_table(results["goals"])]
    return "\n".join(lines) + "\n"


def goals_table(goals: list[dict]) -> str:
    """The targets as a markdown table: ours, the same-run peer figure, the goal, met."""
    lines = ["| target | ours | best peer (same run) | goal | met |", "|---|---|---|---|---|"]
    return "\n".join(lines + [_goal_row(g) for g in goals])


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "not measured"
    digits = 0 if unit == "req/s" and value >= 100 else 2 if unit == "ms" and value < 10 else 1
    return f"{value:,.{digits}f} {unit}"


def _goal_row(g: dict) -> str:
    ref = g.get("reference")
    ref_text = f"{ref['who']}: {_number(ref['value'], g['unit'])}" if ref else "-"
    sign = ">=" if g["higher_is_better"] else "<="
    goal = "-" if g["threshold"] is None else f"{sign} {_number(g['threshold'], g['unit'])}"
    met = {True: "yes", False: "no", None: "not measured"}[g["met"]]
    return f"| {g['goal']} | {_number(g['measured'], g['unit'])} | {ref_text} | {goal} | {met} |"


def _goodput_lines(results: dict, labels: dict[str, str]) -> list[str]:
    table = results.get("goodput")
    if not table:
        return []
    limit = table["latency_target_ms"]

    def cell(g: dict | None) -> str:
        if g is None:
            return f"none within {limit:g} ms"
        return f"{g['requests_per_s']:,.0f} req/s (c={g['concurrency']}, p99 {g['p99_ms']:.1f} ms)"

    lines = [
        "",
        f"Goodput: the highest throughput over c = {', '.join(map(str, results['concurrency']))} "
        f"whose p99 stays <= {limit:g} ms.",
        "",
        "| server: API | goodput |",
        "|---|---|",
    ]
    lines += [
        f"| ours: {results['targets'][k]['label']} | {cell(g)} |" for k, g in table["ours"].items()
    ]
    for name, apis in table["peers"].items():
        peer_targets = results["peers"][name]["targets"]
        lines += [
            f"| {labels.get(name, name)}: {peer_targets[k]['label']} | {cell(g)} |"
            for k, g in apis.items()
        ]
    return lines


def _cold_start_lines(results: dict, labels: dict[str, str]) -> list[str]:
    cold = results.get("cold_start")
    if not cold:
        return []
    lines = [
        "",
        "Cold start: seconds from process start to the readiness endpoint answering 200 "
        "(median of the rounds; every round in `results.json`).",
        "",
        "| server | "
        + " | ".join(
            f"{k.replace('_', ' ')} ({', '.join(v.get('models') or [v.get('model', '')])})"
            for k, v in cold.items()
        )
        + " |",
        "|---|" + "---|" * len(cold),
    ]
    names = [n for n in next(iter(cold.values())) if n not in ("model", "models")]
    for name in names:
        cells = []
        for case in cold.values():
            seconds = (case.get(name) or {}).get("seconds")
            cells.append("failed" if seconds is None else f"{seconds:.1f} s")
        lines.append(
            f"| {'ours' if name == 'ours' else labels.get(name, name)} | "
            + " | ".join(cells)
            + " |"
        )
    return lines


def _http_ceilings(results: dict) -> list[dict]:
    """The echo, and the zero-cost stand-in when the run has one (older results lack it)."""
    ceilings = results["ceilings"]
    return [ceilings["echo"], *([ceilings["zero_cost"]] if "zero_cost" in ceilings else [])]


def stack_and_model_share(results: dict) -> str | None:
    """One sentence splitting REST v1's distance from the echo (at the echo's highest
    concurrency) into what the serving stack costs and what the model costs."""
    measured = [lv["concurrency"] for lv in results["ceilings"]["echo"]["levels"]]
    if not measured:
        return None
    concurrency = max(measured)  # the ceilings run at fewer levels than the APIs
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


def plot(results: dict, path: Path) -> Path:
    """Throughput and p99 vs concurrency per API (echo ceiling dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_rps, ax_p99) = plt.subplots(1, 2, figsize=(11, 4.2))
    series = [(t["label"], t, "-") for t in results["targets"].values() if t.get("available", True)]
    series += [
        (f"{peer['label']}: {t['label']}", t, ":")
        for peer in results.get("peers", {}).values()
        for t in peer["targets"].values()
        if t.get("available", True)
    ]
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
