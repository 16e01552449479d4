"""Command line of ``python -m bench`` (``make bench BENCH_ARGS=...``)."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

TARGET_KEYS = ("rest_v1", "task", "v2_json", "v2_binary", "grpc")
PEER_NAMES = ("mlserver", "kserve")
WORKLOADS = ("large_tensor", "compute_heavy", "cold_start")
# Full mode: every level of the goodput sweep, short levels so that the whole run (ours,
# two peers, three rounds, the extra workloads and cold starts) stays near 30 minutes.
FULL_LEVELS = [1, 2, 4, 8, 16, 32, 64, 128]
FULL_DURATION_S = 3
FULL_WARMUP_S = 1


def _levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of integers: {text}"
        ) from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("concurrency levels must be integers >= 1")
    return sorted(set(levels))


def _targets(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    unknown = sorted(set(keys) - set(TARGET_KEYS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown targets {unknown}; choose from {TARGET_KEYS}")
    return keys


def _choices(allowed: tuple[str, ...]):
    def parse(text: str) -> tuple[str, ...]:
        if text.strip() == "none":
            return ()
        keys = tuple(k.strip() for k in text.split(",") if k.strip())
        unknown = sorted(set(keys) - set(allowed))
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {unknown}; choose from {allowed} or none")
        return keys

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the service on loopback: every API at several concurrencies, "
        "plus the in-process and bare-echo ceilings. SERVING_* variables in the "
        "environment configure the service under test (e.g. SERVING_WORKERS).",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny model, 2 s per level, concurrency 1 and 16, no peers, no extra "
        "workloads (for tests)",
    )
    parser.add_argument(
        "--peers",
        type=_choices(PEER_NAMES),
        help=f"peer servers to measure in the same run: {','.join(PEER_NAMES)} or none "
        "(default: both; quick: none). Installed on first use into .cache/peers/",
    )
    parser.add_argument(
        "--workloads",
        type=_choices(WORKLOADS),
        help=f"extra measurements: {','.join(WORKLOADS)} or none (default: all; quick: none)",
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        help="a TF Serving-style repository to serve instead "
        "(<dir>/<name>/<version>/saved_model.pb)",
    )
    parser.add_argument(
        "--model",
        help="the model in the repository to load-test (default: digits, else the only model)",
    )
    parser.add_argument(
        "--concurrency",
        type=_levels,
        help="comma-separated connection counts (default: "
        f"{','.join(map(str, FULL_LEVELS))}; quick: 1,16)",
    )
    parser.add_argument(
        "--duration",
        type=int,
        help=f"measured seconds per level (default: {FULL_DURATION_S}; quick: 2)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="measure every level this many times, interleaving the servers, and report "
        "the median run (default: 3; quick: 1)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        help=f"unmeasured seconds before each level (default: {FULL_WARMUP_S}; quick: 0)",
    )
    parser.add_argument(
        "--targets",
        type=_targets,
        help=f"only these APIs (comma-separated from {', '.join(TARGET_KEYS)})",
    )
    parser.add_argument(
        "--ceiling-seconds",
        type=float,
        help="seconds per batch size of the in-process ceiling (default: 3; quick: 0.5)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("bench-results"),
        help="output directory (default: %(default)s)",
    )
    parser.add_argument(
        "--no-docs",
        action="store_true",
        help="do not copy the table and plot to docs/bench/ (full mode)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S"
    )
    args = build_parser().parse_args(argv)
    from bench.run import Options, run

    quick = args.quick
    options = Options(
        quick=quick,
        model_dir=args.model_dir,
        model=args.model,
        concurrency=args.concurrency or ([1, 16] if quick else FULL_LEVELS),
        duration_s=args.duration or (2 if quick else FULL_DURATION_S),
        rounds=args.rounds or (1 if quick else 3),
        warmup_s=args.warmup if args.warmup is not None else (0 if quick else FULL_WARMUP_S),
        ceiling_s=args.ceiling_seconds or (0.5 if quick else 3.0),
        out=args.out,
        targets=args.targets,
        write_docs=not args.no_docs and args.targets is None and args.model_dir is None,
        peers=args.peers if args.peers is not None else (() if quick else PEER_NAMES),
        workloads=args.workloads if args.workloads is not None else (() if quick else WORKLOADS),
    )
    if options.duration_s < 1 or options.warmup_s < 0 or options.rounds < 1:
        raise SystemExit(
            "--duration and --rounds must be >= 1 and --warmup >= 0 (whole seconds: wrk)"
        )
    run(options)
    return 0
