"""One benchmark run: model -> in-process ceiling -> servers -> load per target -> results."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import report
from bench.ceiling import in_process_ceiling
from bench.grpc_load import h2load_available, run_h2load
from bench.http_load import LevelResult, run_wrk, wrk_available
from bench.machine import git_commit, machine_info, software_versions
from bench.memory import DEFAULT_MODELS, ensure_default_models, servable_models, worker_memory
from bench.model import cache_repository, prepare_model
from bench.observe import annotate, snapshot
from bench.servers import Server, free_port, start_echo, start_service
from bench.targets import Target, build_targets, probe_grpc, probe_http
from bench.workload import build_workload
from bench.zero_cost import ZeroCostRepository, build_repository

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "bench"
# Settings the benchmark fixes whatever the caller's environment says: no repository
# polling (a scan every few seconds would add noise to a 10 s level).
FIXED_ENV = {"SERVING_POLL_INTERVAL_S": "0"}
ZERO_COST_LABEL = "REST v1 JSON, zero-cost model (same signature)"


@dataclass(frozen=True)
class Options:
    quick: bool
    model_dir: Path | None
    model: str | None
    concurrency: list[int]
    duration_s: int
    rounds: int  # every level is measured this many times; the median run is reported
    warmup_s: int
    ceiling_s: float
    out: Path
    targets: list[str] | None  # None: all
    write_docs: bool


def effective_settings(env: dict[str, str]) -> dict:
    """The service's Settings as the benchmark's environment resolves them."""
    from pydantic import ValidationError

    from service.settings import Settings

    values = {k[len("SERVING_") :].lower(): v for k, v in env.items() if k.startswith("SERVING_")}
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        raise SystemExit(f"invalid SERVING_* setting for the benchmark: {exc}") from None
    resolved = settings.model_dump(
        mode="json", exclude={"admin_token", "model_repository", "metrics_dir", "repository_config"}
    )
    resolved["tf_intra_op_threads_resolved"] = settings.intra_op_threads()
    return resolved


def run(options: Options) -> dict:
    """Run the whole benchmark and write results; returns the results dict."""
    if not wrk_available():
        raise SystemExit("wrk is not installed: run `make system-deps` (Debian package wrk)")
    if not h2load_available():
        raise SystemExit(
            "h2load is not installed: run `make system-deps` (Debian package nghttp2-client)"
        )
    options.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        results = _run(options, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    write_outputs(results, options)
    return results


def _run(options: Options, workdir: Path) -> dict:
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    if load_at_start[0] > 1.0:
        log.warning(
            "load average %.1f: other processes are running, results will be noisy",
            load_at_start[0],
        )
    model = prepare_model(options.quick, options.model_dir, options.model, workdir)
    workload = build_workload(model.name, model.version_dir)
    targets = [
        t for t in build_targets(workload) if options.targets is None or t.key in options.targets
    ]
    log.info("in-process ceiling of %s", model.version_dir)
    ceiling = in_process_ceiling(model.version_dir, workload.arrays(), seconds=options.ceiling_s)

    env = {**{k: v for k, v in os.environ.items() if k.startswith("SERVING_")}, **FIXED_ENV}
    settings = effective_settings(env)
    topology = (
        f"{settings['workers']} workers x {settings['threads']} threads, "
        f"TF intra-op {settings['tf_intra_op_threads_resolved']} / inter-op "
        f"{settings['tf_inter_op_threads']}, max batch {settings['max_batch_size']}, "
        f"batch timeout {settings['batch_timeout_micros']} us"
    )
    log.info("serving %s with %s", model.repo, topology)
    echo_body = next(t for t in build_targets(workload) if t.key == "rest_v1")
    zero_cost = build_repository(model.repo, model.name, model.version_dir, workdir)
    if isinstance(zero_cost, ZeroCostRepository):
        served_repo, zero_cost_model = zero_cost.repo, zero_cost.model
        zero_cost_target: Target | None = dataclasses.replace(
            echo_body,
            key="zero_cost",
            label=ZERO_COST_LABEL,
            path=f"/v1/models/{zero_cost.model}:predict",
        )
    else:
        log.warning("no zero-cost stand-in for %s: %s", model.name, zero_cost)
        served_repo, zero_cost_model, zero_cost_target = model.repo, "", None
    grpc_port = free_port()
    service = start_service(served_repo, FIXED_ENV, free_port(), grpc_port, workdir / "service.log")
    echo = start_echo(settings["workers"], settings["threads"], free_port(), workdir / "echo.log")
    try:
        service.wait_ready(timeout=300, workers=settings["workers"])
        echo.wait_ready(timeout=60, workers=settings["workers"])
        # Rounds interleave the service and the echo, so a slow spell of the machine (seen
        # here: +-15 % between runs minutes apart) hits both rather than one of them.
        rounds: list[dict] = []
        for number in range(1, options.rounds + 1):
            log.info("round %d of %d", number, options.rounds)
            measured = {
                t.key: _measure_target(t, service, grpc_port, workload.model, options, workdir)
                for t in targets
            }
            measured["echo"] = {
                "levels": [
                    _measure_http(echo, echo_body, c, options, workdir).as_dict()
                    for c in options.concurrency
                ]
            }
            if zero_cost_target is not None:
                measured["zero_cost"] = _measure_target(
                    zero_cost_target, service, grpc_port, zero_cost_model, options, workdir
                )
            rounds.append(measured)
        measured = {key: median_entry([r[key] for r in rounds]) for key in rounds[0]}
        echo_levels = measured.pop("echo")["levels"]
        zero_cost_entry = measured.pop("zero_cost", None)
    finally:
        service.stop()
        echo.stop()
    memory = _measure_memory(model, options, workdir, targets)

    results = {
        "schema_version": 1,
        "mode": "quick" if options.quick else "full",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**machine_info(), "load_average_at_start": load_at_start},
        "software": software_versions(),
        "git_commit": git_commit(),
        "model": {
            "name": model.name,
            "version": int(model.version_dir.name),
            "repository": str(model.repo),
            "source": model.source,
            "request": {
                i.name: {"shape": list(i.value.shape), "dtype": i.value.dtype.name}
                for i in workload.inputs
            },
        },
        "settings": settings,
        "topology": topology,
        "load_generators": {
            "http": "wrk -t1 (Lua POST body), --latency",
            "grpc": "h2load -t1 -m1 (nghttp2-client), one stream per connection",
        },
        "concurrency": options.concurrency,
        "duration_s": options.duration_s,
        "rounds": options.rounds,
        "warmup_s": options.warmup_s,
        "targets": measured,
        "memory": memory,
        "ceilings": {
            "in_process": ceiling,
            "echo": {
                "label": "bare echo (Flask+gunicorn, orjson parse)",
                "available": True,
                "levels": echo_levels,
            },
            "zero_cost": zero_cost_entry
            or {"label": ZERO_COST_LABEL, "available": False, "reason": zero_cost, "levels": []},
        },
    }
    results["goals"] = report.evaluate_goals(results)
    return results


def median_entry(entries: list[dict]) -> dict:
    """One target's entry with, per level, the run of median throughput over the rounds.

    The whole run is kept (its p50 and p99 belong to it) and ``rounds_requests_per_s``
    lists every round's throughput, so the spread is visible in the results.
    """
    merged = {**entries[0], "levels": []}
    for runs in zip(*(entry["levels"] for entry in entries), strict=True):
        ok = sorted((r for r in runs if r["status"] == "ok"), key=lambda r: r["requests_per_s"])
        chosen = dict(ok[(len(ok) - 1) // 2] if ok else runs[0])
        chosen["rounds_requests_per_s"] = [r["requests_per_s"] for r in runs]
        merged["levels"].append(chosen)
    return merged


def _measure_memory(model, options: Options, workdir: Path, targets: list[Target]) -> dict:
    """One worker's RSS with the four default models (full mode), else with the repository
    under test. Full mode trains missing defaults into the benchmark's cache, never into
    models/."""
    repo = model.repo
    full_default = not options.quick and options.model_dir is None
    if full_default and set(DEFAULT_MODELS) - set(servable_models(repo)):
        repo = cache_repository()
        ensure_default_models(repo)
    rest = next((t for t in targets if t.key == "rest_v1"), None)

    def burst(url: str) -> None:
        for _ in range(20 if rest is not None else 0):
            reason = probe_http(url, rest)
            if reason is not None:
                raise RuntimeError(f"memory measurement: {reason}")

    return worker_memory(repo, FIXED_ENV, workdir, burst)


def _measure_target(
    target: Target, service: Server, grpc_port: int, model: str, options: Options, workdir: Path
) -> dict:
    entry: dict = {
        "label": target.label,
        "kind": target.kind,
        "path": target.path,
        "available": False,
        "reason": target.skip_reason,
        "levels": [],
    }
    if target.skip_reason is None:
        address = f"127.0.0.1:{grpc_port}"
        entry["reason"] = (
            probe_grpc(address, target, model)
            if target.kind == "grpc"
            else probe_http(service.url, target)
        )
    if entry["reason"] is not None:
        log.warning("%s: unavailable: %s", target.label, entry["reason"])
        entry["levels"] = [LevelResult(c, "unavailable").as_dict() for c in options.concurrency]
        return entry
    entry["available"] = True
    for concurrency in options.concurrency:
        if target.kind == "grpc":
            result = _measure_grpc(service, grpc_port, target, concurrency, options, workdir, model)
        else:
            result = _measure_http(service, target, concurrency, options, workdir, model)
        log.info(
            "%s c=%d: %s req/s, p50 %s ms, p99 %s ms%s",
            target.label,
            concurrency,
            result.requests_per_s,
            result.p50_ms,
            result.p99_ms,
            f" ({result.note})" if result.note else "",
        )
        entry["levels"].append(result.as_dict())
    return entry


def _measure_http(
    server: Server,
    target: Target,
    concurrency: int,
    options: Options,
    workdir: Path,
    model: str | None = None,
) -> LevelResult:
    body = target.write_body(workdir)
    url = server.url + target.path
    if options.warmup_s:
        run_wrk(url, body, target.headers, concurrency, options.warmup_s)
    before = snapshot(server, model)
    result = run_wrk(url, body, target.headers, concurrency, options.duration_s)
    annotate(result, server, before, model, "wrk")
    return result


def _measure_grpc(
    server: Server,
    grpc_port: int,
    target: Target,
    concurrency: int,
    options: Options,
    workdir: Path,
    model: str,
) -> LevelResult:
    url = f"http://127.0.0.1:{grpc_port}{target.path}"
    before = snapshot(server, model)
    result = run_h2load(
        url, target.body, concurrency, options.duration_s, options.warmup_s, workdir
    )
    annotate(result, server, before, model, "h2load")  # also counts failed calls
    return result


def write_outputs(results: dict, options: Options) -> None:
    """results.json, table.md and throughput.png in --out; docs/bench/ copies in full mode."""
    (options.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = report.markdown_table(results)
    (options.out / "table.md").write_text(table)
    png = report.plot(results, options.out / "throughput.png")
    print(table)
    print(f"results: {options.out / 'results.json'}, plot: {png}")
    if options.write_docs and not options.quick:
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, DOCS / "throughput.png")
        machine = results["machine"]
        header = (
            f"# Latest benchmark\n\n{results['date']}, {machine['cpu_model']}, "
            f"{machine['cores']} cores, commit {results['git_commit'] or 'unknown'}; "
            f"{results['topology']}; {results['duration_s']} s per level after "
            f"{results['warmup_s']} s warm-up, median of {results.get('rounds', 1)} interleaved "
            "rounds. Reproduce with `make bench`.\n\n"
        )
        (DOCS / "latest.md").write_text(header + table)
        print(f"docs: {DOCS / 'latest.md'}, {DOCS / 'throughput.png'}")
