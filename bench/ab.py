"""``python -m bench.ab REV``: the working tree against another revision, interleaved.

What a change costs on the hot path, measured the way the developers' guide asks (before
and after, interleaved, on the same machine): both trees' servers run at once, from the
same virtualenv, on the same model, loaded by the same ``wrk`` / ``h2load`` runs as
``make bench`` (REST v1 ``:predict`` and gRPC ``Predict``, one request of one row each);
rounds alternate which tree goes first, so a noisy spell falls on both. Per tree and API it
reports the median req/s and p99 over the rounds and the server's CPU per answered request,
the figure that other load on the machine moves least.

Example: ``python -m bench.ab HEAD~3 --rounds 6 --duration 15``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.coldstart import single_model_repo
from bench.grpc_load import run_h2load
from bench.http_load import LevelResult, run_wrk
from bench.observe import snapshot
from bench.servers import ROOT, Server, free_port, start_service
from bench.workload import build_workload, grpc_predict_request, v1_json
from modelcard import version_dirs

APIS = ("rest_v1", "grpc")


@dataclass
class Round:
    """One API's load on one tree in one round."""

    round: int
    tree: str
    api: str
    requests_per_s: float | None
    p99_ms: float | None
    errors: int
    cpu_ms_per_request: float | None
    rows_per_call: float | None  # rows per model call: whether the change moved batching


def export_revision(revision: str, into: Path) -> Path:
    """``git archive`` of ``revision`` unpacked under ``into`` (the checkout is untouched)."""
    tree = into / "before"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def start_tree(name: str, tree: Path, repo: Path, workdir: Path) -> tuple[Server, int]:
    """``python -m service`` of ``tree`` serving ``repo``; the server and its gRPC port."""
    rest, grpc = free_port(), free_port()
    overrides = {"SERVING_POLL_INTERVAL_S": "0"}
    log_path = workdir / f"{name}.log"
    return start_service(repo, overrides, rest, grpc, log_path, tree=tree, name=name), grpc


def compare(
    before: Path,
    after: Path,
    repo: Path,
    model: str,
    rounds: int,
    duration_s: int,
    concurrency: int,
    workdir: Path,
) -> list[Round]:
    version_dir = max(version_dirs(repo / model, complete=True).items())[1]
    workload = build_workload(model, version_dir)
    body = workdir / "v1.json"
    body.write_bytes(v1_json(workload))
    message = grpc_predict_request(workload)
    alone = single_model_repo(repo, model, workdir)
    servers = {
        name: start_tree(name, tree, alone, workdir)
        for name, tree in (("before", before), ("after", after))
    }
    results = []
    try:
        for server, _ in servers.values():
            server.wait_ready(workers=2)
        for server, grpc_port in servers.values():  # first calls, pools: not measured
            for api in APIS:
                measure(server, grpc_port, api, model, body, message, concurrency, 2, workdir)
        for number in range(rounds):
            order = list(servers) if number % 2 == 0 else list(reversed(servers))
            for name in order:
                server, grpc_port = servers[name]
                for api in APIS:
                    # /metrics is scraped outside the CPU window: it is not the load's work
                    rows_before = snapshot(server, model).batch_rows
                    cpu_before = server.cpu_seconds()
                    level = measure(
                        server,
                        grpc_port,
                        api,
                        model,
                        body,
                        message,
                        concurrency,
                        duration_s,
                        workdir,
                    )
                    cpu = server.cpu_seconds() - cpu_before
                    rows_after = snapshot(server, model).batch_rows
                    row = Round(
                        number,
                        name,
                        api,
                        level.requests_per_s,
                        level.p99_ms,
                        level.errors,
                        round(1000 * cpu / level.requests, 3) if level.requests else None,
                        _rows_per_call(rows_before, rows_after),
                    )
                    print(json.dumps(asdict(row)), flush=True)
                    results.append(row)
    finally:
        for server, _ in servers.values():
            server.stop()
    return results


def measure(
    server: Server,
    grpc_port: int,
    api: str,
    model: str,
    body: Path,
    message: bytes,
    concurrency: int,
    duration_s: int,
    workdir: Path,
) -> LevelResult:
    if api == "rest_v1":
        url = f"{server.url}/v1/models/{model}:predict"
        return run_wrk(url, body, {"Content-Type": "application/json"}, concurrency, duration_s)
    url = f"http://127.0.0.1:{grpc_port}/tensorflow.serving.PredictionService/Predict"
    return run_h2load(url, message, concurrency, duration_s, 0, workdir)


def summarise(results: list[Round]) -> dict:
    """Per API and tree: medians over the rounds, and after/before ratios."""
    out: dict = {}
    for api in APIS:
        cells = {}
        for tree in ("before", "after"):
            rows = [r for r in results if r.api == api and r.tree == tree]
            cells[tree] = {
                "requests_per_s": _median([r.requests_per_s for r in rows]),
                "p99_ms": _median([r.p99_ms for r in rows]),
                "cpu_ms_per_request": _median([r.cpu_ms_per_request for r in rows]),
                "rows_per_call": _median([r.rows_per_call for r in rows]),
                "rounds_requests_per_s": [r.requests_per_s for r in rows],
                "errors": sum(r.errors for r in rows),
            }
        for key in ("requests_per_s", "cpu_ms_per_request"):
            b, a = cells["before"][key], cells["after"][key]
            cells[f"after_over_before_{key}"] = round(a / b, 3) if a and b else None
        out[api] = cells
    return out


def _rows_per_call(
    before: tuple[float, float] | None, after: tuple[float, float] | None
) -> float | None:
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round((after[0] - before[0]) / (after[1] - before[1]), 2)


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n")[0])
    parser.add_argument("revision", help="the 'before' git revision (e.g. HEAD~1, a tag)")
    parser.add_argument(
        "--after", type=Path, default=ROOT, help="the 'after' tree (default: this working tree)"
    )
    parser.add_argument("--repository", type=Path, default=ROOT / "models")
    parser.add_argument("--model", default="digits")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=int, default=15, help="seconds per API and round")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--out", type=Path, help="write every round and the summary as JSON")
    args = parser.parse_args(argv)
    if not (args.repository / args.model).is_dir():
        parser.error(f"no model '{args.model}' under {args.repository} (make models)")
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        workdir = Path(tmp)
        before = export_revision(args.revision, workdir)
        results = compare(
            before,
            args.after.resolve(),
            args.repository.resolve(),
            args.model,
            args.rounds,
            args.duration,
            args.concurrency,
            workdir,
        )
    summary = summarise(results)
    print(json.dumps(summary, indent=1))
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "revision": args.revision,
                    "rounds": [asdict(r) for r in results],
                    "summary": summary,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
