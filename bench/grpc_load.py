"""A small closed-loop gRPC load driver: C in-flight unary calls for D seconds.

``python -m bench.grpc_load --address HOST:PORT --request FILE --concurrency C --duration D``
prints one JSON object (requests/s, p50/p99 in ms, errors, the driver's own CPU use).

The request is a pre-serialized ``PredictRequest`` sent as raw bytes and responses are not
decoded (the orchestrator checked a real stub call first), so the driver spends its CPU on
gRPC itself, not on protobuf. One asyncio loop runs C coroutines, each with its own channel
(its own HTTP/2 connection, like wrk's C connections) sending the next call as soon as one
returns. Separate connections matter: the service balances gRPC per connection across its
gunicorn workers (SO_REUSEPORT), so a single channel would load only one worker.
It is still Python: when ``cpu_percent`` nears 100 (one core) the driver, not the server,
limits the measured rate, and the orchestrator says so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import grpc

METHOD = "/tensorflow.serving.PredictionService/Predict"


async def _drive(
    address: str, payload: bytes, concurrency: int, duration: float, warmup: float
) -> dict:
    # Default max message sizes are 4 MiB; benchmark bodies can be larger for other models.
    # A local subchannel pool: otherwise channels to one address share one connection.
    options = [
        ("grpc.max_send_message_length", -1),
        ("grpc.max_receive_message_length", -1),
        ("grpc.use_local_subchannel_pool", 1),
    ]
    channels = [grpc.aio.insecure_channel(address, options=options) for _ in range(concurrency)]
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration

    async def worker(channel: grpc.aio.Channel) -> None:
        nonlocal errors
        call = channel.unary_unary(METHOD)  # no serializers: bytes in, bytes out
        while (sent := time.perf_counter()) < stop_at:
            try:
                await call(payload, timeout=30)
            except grpc.aio.AioRpcError:
                if sent >= measure_from:
                    errors += 1
                continue
            if sent >= measure_from:
                latencies.append(time.perf_counter() - sent)

    try:
        cpu_start = time.process_time()
        await asyncio.gather(*(worker(channel) for channel in channels))
        end = time.perf_counter()
        # CPU share over the whole run (warm-up included): a rate, comparable either way.
        cpu_percent = 100 * (time.process_time() - cpu_start) / (end - start)
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))
    return summarise(latencies, errors, end - measure_from, cpu_percent)


def summarise(latencies: list[float], errors: int, elapsed: float, cpu_percent: float) -> dict:
    """Requests/s and latency percentiles (nearest rank) of the measured window."""
    ordered = sorted(latencies)

    def percentile(p: float) -> float | None:
        if not ordered:
            return None
        return round(1000 * ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 3)

    return {
        "requests": len(ordered),
        "errors": errors,
        "duration_s": round(elapsed, 3),
        "requests_per_s": round(len(ordered) / elapsed, 2) if elapsed > 0 else 0.0,
        "p50_ms": percentile(50),
        "p99_ms": percentile(99),
        "cpu_percent": round(cpu_percent, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.grpc_load", description=__doc__)
    parser.add_argument("--address", required=True, help="HOST:PORT of the gRPC server")
    parser.add_argument(
        "--request", type=Path, required=True, help="file holding a serialized PredictRequest"
    )
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=0.0, help="unmeasured seconds first")
    args = parser.parse_args(argv)
    result = asyncio.run(
        _drive(
            args.address, args.request.read_bytes(), args.concurrency, args.duration, args.warmup
        )
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
