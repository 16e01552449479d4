"""Drive a gRPC method with ``h2load`` (nghttp2's HTTP/2 load generator, written in C).

gRPC is HTTP/2: a unary call is a POST to ``/<service>/<method>`` with
``content-type: application/grpc`` whose body is the message behind a 5-byte frame header
(a compression flag, then the length, big-endian). h2load replays one such pre-built body
on C connections with one stream each (closed loop, like wrk's C connections), so the
client spends its CPU on HTTP/2 only, not on protobuf or Python: the Python ``grpc.aio``
driver this replaced used most of a core at c=64 on a 2-core machine, CPU the server
under test then lacked. Separate connections also matter because the service balances
gRPC per connection across its gunicorn workers (SO_REUSEPORT).

h2load sees the HTTP status (always 200 for gRPC) but not the ``grpc-status`` trailer, so
failed calls are counted from the server's own metrics by the caller; the orchestrator
also checks one real stub call before loading.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from bench.http_load import LevelResult, run_client

GRPC_HEADERS = ("content-type: application/grpc", "te: trailers")


def h2load_available() -> bool:
    return shutil.which("h2load") is not None


def grpc_frame(message: bytes) -> bytes:
    """One uncompressed gRPC length-prefixed message."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def run_h2load(
    url: str,
    message: bytes,
    concurrency: int,
    duration_s: int,
    warmup_s: int,
    workdir: Path,
) -> LevelResult:
    """``concurrency`` connections calling ``url`` (``http://host:port/pkg.Service/Method``)
    with ``message`` back to back for ``duration_s`` seconds after ``warmup_s``."""
    body = workdir / "grpc-request.bin"
    body.write_bytes(grpc_frame(message))
    log_file = workdir / f"h2load-c{concurrency}.log"
    log_file.unlink(missing_ok=True)
    command = ["h2load", "-t", "1", "-c", str(concurrency), "-m", "1", "-D", str(duration_s)]
    if warmup_s:
        command += ["--warm-up-time", str(warmup_s)]
    for header in GRPC_HEADERS:
        command += ["-H", header]
    command += ["-d", str(body), "--log-file", str(log_file), url]
    run = run_client(command, concurrency, duration_s + warmup_s + 60)
    if isinstance(run, LevelResult):
        return run
    latencies_us = _latencies(log_file) if log_file.exists() else []
    result = parse_h2load(run.stdout, concurrency, latencies_us, duration_s)
    if result.status == "ok":
        # h2load's CPU over warm-up plus measurement: a rate, comparable either way.
        result.client_cpu_percent = round(100 * run.cpu_s / (duration_s + warmup_s), 1)
    return result


def _latencies(log_file: Path) -> list[int]:
    """Per-request latencies (µs) of the measured phase; -1 status lines are failed streams."""
    out = []
    for line in log_file.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and fields[1] != "-1":
            out.append(int(fields[2]))
    return out


def parse_h2load(
    text: str, concurrency: int, latencies_us: list[int], duration_s: float
) -> LevelResult:
    """Requests/s, errors and nearest-rank p50/p99 of h2load's summary and request log."""
    rps = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", text)
    counts = re.search(
        r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, "
        r"(\d+) errored, (\d+) timeout",
        text,
    )
    if rps is None or counts is None or not latencies_us:
        return LevelResult(concurrency, "failed", note="unparsable h2load output: " + text[-300:])
    succeeded = int(counts.group(3))
    errors = sum(int(n) for n in counts.group(4, 5, 6))
    ordered = sorted(latencies_us)

    def percentile(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] / 1000, 3)

    result = LevelResult(
        concurrency,
        "ok",
        requests_per_s=float(rps.group(1)),
        p50_ms=percentile(50),
        p99_ms=percentile(99),
        requests=succeeded,
        errors=errors,
        duration_s=float(duration_s),
    )
    if succeeded == 0 or errors > succeeded // 100:
        result.status, result.note = "failed", f"{errors} errors in {succeeded + errors} streams"
    return result
