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

from bench import coldstart, goals, report
from bench.ceiling import in_process_ceiling
from bench.extra import extra_workloads
from bench.grpc_load import h2load_available, run_h2load
from bench.http_load import LevelResult, run_wrk, wrk_available
from bench.machine import git_commit, machine_info, software_versions
from bench.memory import DEFAULT_MODELS, ensure_default_models, servable_models, worker_memory
from bench.model import BenchModel, cache_repository, latest_version_dir, prepare_model
from bench.observe import annotate, snapshot
from bench.peers import PEERS, ensure_installed, start_peer
from bench.peers import WORKERS as PEER_WORKERS
from bench.servers import Server, free_port, start_echo, start_service
from bench.targets import Target, build_targets, peer_targets, probe_grpc, probe_http
from bench.workload import build_workload
from bench.zero_cost import ZeroCostRepository, build_repository

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "bench"
# Settings the benchmark fixes whatever the caller's environment says: no repository
# polling (a scan every few seconds would add noise to a 10 s level).
FIXED_ENV = {"SERVING_POLL_INTERVAL_S": "0"}
ZERO_COST_LABEL = "REST v1 JSON, zero-cost model (same signature)"
# The echo and the zero-cost stand-in are ceilings, not goodput contenders: measured at
# these levels only (of those the run has), which keeps a full run near 30 minutes.
CEILING_LEVELS = (1, 16, 64)


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
    peers: tuple[str, ...] = ()  # names in bench.peers.PEERS
    workloads: tuple[str, ...] = ()  # of "large_tensor", "compute_heavy", "cold_start"


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
        # The servers' logs (ours, the echo, each peer) outlive the run for a post-mortem.
        logs = options.out / "logs"
        logs.mkdir(exist_ok=True)
        for log_file in workdir.glob("*.log"):
            shutil.copyfile(log_file, logs / log_file.name)
        shutil.rmtree(workdir, ignore_errors=True)
    write_outputs(results, options)
    return results


@dataclass(frozen=True)
class Series:
    """One server's API measured at some levels: one row of the results.

    ``metrics_model`` names the model whose batch metrics the service reports (rows per
    model call); a peer has no such metrics, so None.
    """

    key: str  # unique in the run: "<group>/<workload>/<target key>"
    target: Target
    server: Server
    grpc_port: int | None
    probe_model: str
    metrics_model: str | None
    levels: list[int]


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
    extra = extra_workloads(options, model, workdir)
    repo = _served_repository(
        model.repo, {n: d for w in extra.values() for n, d in w.models}, workdir
    )
    log.info("serving %s with %s", repo, topology)
    echo_body = next(t for t in build_targets(workload) if t.key == "rest_v1")
    zero_cost = build_repository(repo, model.name, model.version_dir, workdir)
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
        served_repo, zero_cost_model, zero_cost_target = repo, "", None
    peers = [PEERS[name] for name in options.peers]
    for peer in peers:
        ensure_installed(peer)
    # Peers serve the benchmark model and the compute-heavy one; the large-tensor workload
    # compares our wire formats with each other, so it runs on the service alone.
    peer_models = {model.name: model.version_dir}
    if "compute_heavy" in extra:
        peer_models.update(extra["compute_heavy"].models)
    ceiling_levels = [c for c in options.concurrency if c in CEILING_LEVELS] or options.concurrency

    servers: list[Server] = []
    try:
        grpc_port = free_port()
        service = start_service(
            served_repo, FIXED_ENV, free_port(), grpc_port, workdir / "service.log"
        )
        servers.append(service)
        echo = start_echo(
            settings["workers"], settings["threads"], free_port(), workdir / "echo.log"
        )
        servers.append(echo)
        started = {}
        for peer in peers:
            server, peer_grpc = start_peer(
                peer, peer_models, workdir / peer.name, workdir / f"{peer.name}.log"
            )
            servers.append(server)
            started[peer.name] = (server, peer_grpc)
        service.wait_ready(timeout=300, workers=settings["workers"])
        echo.wait_ready(timeout=60, workers=settings["workers"])
        for server, _ in started.values():
            server.wait_ready(timeout=600, workers=PEER_WORKERS)

        series = [
            Series(
                f"ours/main/{t.key}",
                t,
                service,
                grpc_port,
                model.name,
                model.name,
                options.concurrency,
            )
            for t in targets
        ]
        series.append(
            Series("ours/main/echo", echo_body, echo, None, model.name, None, ceiling_levels)
        )
        if zero_cost_target is not None:
            series.append(
                Series(
                    "ours/main/zero_cost",
                    zero_cost_target,
                    service,
                    grpc_port,
                    zero_cost_model,
                    zero_cost_model,
                    ceiling_levels,
                )
            )
        for peer in peers:
            server, peer_grpc = started[peer.name]
            series += [
                Series(
                    f"{peer.name}/main/{t.key}",
                    t,
                    server,
                    peer_grpc,
                    model.name,
                    None,
                    options.concurrency,
                )
                for t in peer_targets(workload, peer.apis)
            ]
        for name, extra_workload in extra.items():
            series += [
                Series(f"ours/{name}/{t.key}", t, service, grpc_port, m, m, extra_workload.levels)
                for t, m in extra_workload.ours
            ]
            for peer in peers:
                server, peer_grpc = started[peer.name]
                series += [
                    Series(
                        f"{peer.name}/{name}/{t.key}",
                        t,
                        server,
                        peer_grpc,
                        m,
                        None,
                        extra_workload.levels,
                    )
                    for t, m in extra_workload.peer_targets(peer)
                ]
        # Rounds interleave every server and API, so a slow spell of the machine (seen
        # here: +-15 % between runs minutes apart) hits all of them rather than one.
        rounds: dict[str, list[dict]] = {s.key: [] for s in series}
        for number in range(1, options.rounds + 1):
            log.info("round %d of %d", number, options.rounds)
            for s in series:
                rounds[s.key].append(_measure_series(s, options, workdir))
        measured = {key: median_entry(entries) for key, entries in rounds.items()}
    finally:
        for server in servers:
            server.stop()

    cold = (
        _measure_cold_start(model, peers, settings["workers"], options, workdir)
        if "cold_start" in options.workloads
        else None
    )
    memory = _measure_memory(model, options, workdir, targets)

    def group(prefix: str) -> dict:
        return {k[len(prefix) :]: v for k, v in measured.items() if k.startswith(prefix)}

    ours_main = group("ours/main/")
    echo_levels = ours_main.pop("echo")["levels"]
    zero_cost_entry = ours_main.pop("zero_cost", None)
    results = {
        "schema_version": 2,
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
        "targets": ours_main,
        "peers": {
            peer.name: {
                "label": peer.label,
                "workers": PEER_WORKERS,
                "batching": peer.batching,
                "requirements": str(peer.requirements.relative_to(ROOT)),
                "targets": group(f"{peer.name}/main/"),
            }
            for peer in peers
        },
        "workloads": {
            name: {
                **w.describe(),
                "levels": w.levels,
                "targets": group(f"ours/{name}/"),
                "peers": {peer.name: group(f"{peer.name}/{name}/") for peer in peers},
            }
            for name, w in extra.items()
        },
        "cold_start": cold,
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
    results["goodput"] = goals.goodput_table(results)
    results["goals"] = goals.evaluate(results)
    return results


def _served_repository(repo: Path, extra_models: dict[str, Path], workdir: Path) -> Path:
    """``repo`` itself, or with extra models: a repository of symlinks to both."""
    if not extra_models:
        return repo
    served = workdir / "served-repo"
    served.mkdir()
    for entry in repo.iterdir():
        (served / entry.name).symlink_to(entry.resolve())
    for name, version_dir in extra_models.items():
        if not (served / name).exists():
            (served / name).symlink_to(version_dir.parent.resolve())
    return served


def _measure_cold_start(
    model: BenchModel, peers: list, workers: int, options: Options, workdir: Path
) -> dict:
    """Seconds to ready with the benchmark model alone (``options.rounds`` interleaved
    rounds) and with the four default models (one round), for us and each peer."""
    alone = coldstart.single_model_repo(model.repo, model.name, workdir)
    defaults = default_models_repository(model, options)
    default_dirs = {m: latest_version_dir(defaults / m) for m in DEFAULT_MODELS}
    out = {}

    def ours(repo: Path, tag: str):
        return lambda: start_service(
            repo, FIXED_ENV, free_port(), free_port(), workdir / f"cold-ours-{tag}.log"
        )

    def peer_start(peer, models: dict, tag: str):
        return lambda: start_peer(
            peer, models, workdir / f"cold-{peer.name}-{tag}", workdir / f"cold-{peer.name}.log"
        )[0]

    single = {"ours": ours(alone, "one")}
    single |= {p.name: peer_start(p, {model.name: model.version_dir}, "one") for p in peers}
    out["benchmark_model"] = {
        "model": model.name,
        **coldstart.measure(single, workers, options.rounds),
    }
    if all(default_dirs.values()):  # quick mode's repository has only the tiny digits
        four = {"ours": ours(defaults, "four")}
        four |= {p.name: peer_start(p, default_dirs, "four") for p in peers}
        out["default_models"] = {
            "models": list(DEFAULT_MODELS),
            **coldstart.measure(four, workers, 1),
        }
    # Each peer runs PEER_WORKERS processes and the service `workers`: the same here (2).
    return out


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


def default_models_repository(model: BenchModel, options: Options) -> Path:
    """A repository with the four default models (full mode: trained once into the
    benchmark's cache if the benchmarked repository lacks one, never into models/)."""
    repo = model.repo
    full_default = not options.quick and options.model_dir is None
    if full_default and set(DEFAULT_MODELS) - set(servable_models(repo)):
        repo = cache_repository()
        ensure_default_models(repo)
    return repo


def _measure_memory(model, options: Options, workdir: Path, targets: list[Target]) -> dict:
    """One worker's RSS with the four default models (full mode), else with the repository
    under test."""
    repo = default_models_repository(model, options)
    rest = next((t for t in targets if t.key == "rest_v1"), None)

    def burst(url: str) -> None:
        for _ in range(20 if rest is not None else 0):
            reason = probe_http(url, rest)
            if reason is not None:
                raise RuntimeError(f"memory measurement: {reason}")

    return worker_memory(repo, FIXED_ENV, workdir, burst)


def _measure_series(s: Series, options: Options, workdir: Path) -> dict:
    target = s.target
    entry: dict = {
        "label": target.label,
        "kind": target.kind,
        "path": target.path,
        "available": False,
        "reason": target.skip_reason,
        "levels": [],
    }
    if target.skip_reason is None:
        entry["reason"] = (
            probe_grpc(f"127.0.0.1:{s.grpc_port}", target, s.probe_model)
            if target.kind == "grpc"
            else probe_http(s.server.url, target)
        )
    if entry["reason"] is not None:
        log.warning("%s %s: unavailable: %s", s.key, target.label, entry["reason"])
        entry["levels"] = [LevelResult(c, "unavailable").as_dict() for c in s.levels]
        return entry
    entry["available"] = True
    for concurrency in s.levels:
        if target.kind == "grpc":
            result = _measure_grpc(
                s.server, s.grpc_port, target, concurrency, options, workdir, s.metrics_model
            )
        else:
            result = _measure_http(s.server, target, concurrency, options, workdir, s.metrics_model)
        log.info(
            "%s c=%d: %s req/s, p50 %s ms, p99 %s ms%s%s",
            s.key,
            concurrency,
            result.requests_per_s,
            result.p50_ms,
            result.p99_ms,
            f", {result.mean_batch_rows} rows/call" if result.mean_batch_rows else "",
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
    model: str | None,
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
