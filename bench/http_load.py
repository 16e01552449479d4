"""Drive an HTTP endpoint with ``wrk`` and parse its ``--latency`` report.

One wrk thread at every concurrency: a wrk thread multiplexes its connections with epoll
and handles tens of thousands of requests per second, far above this service, while every
extra thread would take CPU from the server on a 2-core machine.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

LUA_SCRIPT = Path(__file__).with_name("wrk") / "post.lua"
# wrk counts a request slower than --timeout as an error and leaves it out of the latency
# distribution; far above any p99 we expect, so saturated levels still report real tails.
WRK_TIMEOUT = "30s"
_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


@dataclass
class LevelResult:
    """One concurrency level of one target."""

    concurrency: int
    status: str  # "ok", "unavailable" or "failed"
    requests_per_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    requests: int | None = None
    errors: int = 0  # non-2xx responses plus socket errors
    duration_s: float | None = None
    client_cpu_percent: float | None = None  # of one core
    server_cpu_percent: float | None = None  # of one core (200 = both cores busy)
    other_cpu_percent: float | None = None  # everything else on the machine: noise
    # Server CPU per answered request: much steadier than req/s when other jobs share the
    # machine, so configurations can be compared even on a busy host.
    server_cpu_ms_per_request: float | None = None
    mean_batch_rows: float | None = None  # rows per model call (dynamic batching at work)
    note: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    url: str, body_file: Path, headers: dict[str, str], concurrency: int, duration_s: int
) -> LevelResult:
    """Run wrk for ``duration_s`` seconds with ``concurrency`` connections and parse it."""
    env = {
        **os.environ,
        "BENCH_BODY_FILE": str(body_file),
        "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in headers.items()),
    }
    command = [
        "wrk",
        "-t",
        "1",
        "-c",
        str(concurrency),
        "-d",
        f"{duration_s}s",
        "--timeout",
        WRK_TIMEOUT,
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        url,
    ]
    run = run_client(command, concurrency, duration_s + 60, env)
    if isinstance(run, LevelResult):
        return run
    result = parse_wrk(run.stdout, concurrency)
    if result.duration_s:
        result.client_cpu_percent = round(100 * run.cpu_s / result.duration_s, 1)
    return result


@dataclass
class ClientRun:
    """A load generator's report and the CPU seconds it used."""

    stdout: str
    cpu_s: float


def run_client(
    command: list[str], concurrency: int, timeout_s: float, env: dict[str, str] | None = None
) -> ClientRun | LevelResult:
    """Run a load generator to completion; a failed level naming why if it exits non-zero."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        return LevelResult(
            concurrency,
            "failed",
            note=f"{command[0]} exited {proc.returncode}: "
            f"{(proc.stderr or proc.stdout).strip()[-300:]}",
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return ClientRun(proc.stdout, cpu)


def parse_wrk(text: str, concurrency: int) -> LevelResult:
    """Requests/s, p50/p99 and error counts from wrk's ``--latency`` output."""

    def number(pattern: str) -> str | None:
        match = re.search(pattern, text)
        return match.group(1) if match else None

    rps = number(r"Requests/sec:\s+([\d.]+)")
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h),", text)
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)\s*$", text, re.MULTILINE))
    if rps is None or done is None or not {"50", "99"} <= percentiles.keys():
        return LevelResult(concurrency, "failed", note="unparsable wrk output: " + text[-300:])
    errors = int(number(r"Non-2xx or 3xx responses:\s+(\d+)") or 0)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if socket:
        errors += sum(int(n) for n in socket.groups())
    requests = int(done.group(1))
    result = LevelResult(
        concurrency,
        "ok",
        requests_per_s=float(rps),
        p50_ms=_ms(percentiles["50"]),
        p99_ms=_ms(percentiles["99"]),
        requests=requests,
        errors=errors,
        duration_s=float(done.group(2)) * _UNIT_MS[done.group(3)] / 1e3,
    )
    if requests == 0 or errors > requests // 100:  # >1 % errors: the number means nothing
        result.status = "failed"
        result.note = f"{errors} errors in {requests} requests"
    return result


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", value)
    if match is None:
        raise ValueError(f"not a wrk duration: {value!r}")
    return round(float(match.group(1)) * _UNIT_MS[match.group(2)], 3)
