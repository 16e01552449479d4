"""Soak: mixed traffic for a long time, watching for leaks and drift.

``python -m bench.soak --duration 600`` starts the service on loopback (a tiny digits model
exported by the real pipeline, or ``--model-dir DIR``), or targets ``--url`` (and
``--grpc``, ``--server-pid`` for the process figures) of a running one, and sends REST v1
``:predict``, the ``:classify`` task verb, V2 JSON ``infer`` and gRPC ``Predict`` from
``--clients`` threads (each its own keep-alive connection, one kind per client) until the
duration is up. Every ``--interval`` seconds it prints one line: requests and errors,
p50/p99 latency per kind, RSS and open file descriptors per gunicorn worker. At the end it
prints (and with ``--json`` writes) a summary: every interval, and RSS and fd growth from
the end of ``--warmup`` to the end, per worker. Loopback only; bounded by ``--duration``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import requests

from bench.model import prepare_model
from bench.servers import free_port, gunicorn_workers, start_service

log = logging.getLogger(__name__)

KINDS = ("rest_v1", "task", "rest_v2", "grpc")
IMAGE = np.zeros((1, 28, 28, 1), np.float32)


def _rest_senders(url: str, model: str):
    image = IMAGE.tolist()
    v2 = {"inputs": [{"name": "image", "shape": [1, 28, 28, 1], "datatype": "FP32", "data": image}]}

    def rest_v1(session: requests.Session) -> int:
        return session.post(
            f"{url}/v1/models/{model}:predict", json={"instances": image}, timeout=30
        ).status_code

    def task(session: requests.Session) -> int:
        return session.post(
            f"{url}/v1/models/{model}:classify", json={"instances": image, "k": 3}, timeout=30
        ).status_code

    def rest_v2(session: requests.Session) -> int:
        return session.post(f"{url}/v2/models/{model}/infer", json=v2, timeout=30).status_code

    return {"rest_v1": rest_v1, "task": task, "rest_v2": rest_v2}


def _grpc_sender(target: str, model: str):
    """A Predict caller on its own channel (TF Serving's stubs); returns 200 for OK."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["image"].CopyFrom(tf.make_tensor_proto(IMAGE))
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(target))

    def call(_session) -> int:
        try:
            stub.Predict(request, timeout=30)
            return 200
        except grpc.RpcError as exc:
            return 1000 + exc.code().value[0]  # not an HTTP status: counted as an error

    return call


class Recorder:
    """Latencies and errors per kind for the current interval, swapped out atomically."""

    def __init__(self):
        self._lock = threading.Lock()
        self._reset()

    def _reset(self):
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)

    def add(self, kind: str, latency_s: float, ok: bool) -> None:
        with self._lock:
            self.latencies[kind].append(latency_s)
            if not ok:
                self.errors[kind] += 1

    def take(self) -> tuple[dict[str, list[float]], dict[str, int]]:
        with self._lock:
            taken = self.latencies, self.errors
            self._reset()
        return taken


def _client(send, kind: str, recorder: Recorder, stop: threading.Event, pause_s: float):
    session = requests.Session()
    while not stop.is_set():
        started = time.perf_counter()
        try:
            ok = send(session) == 200
        except requests.RequestException:
            ok = False
        recorder.add(kind, time.perf_counter() - started, ok)
        if pause_s:
            stop.wait(pause_s)


def _proc_figures(pid: int) -> dict | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(list(Path(f"/proc/{pid}/fd").iterdir()))
    except OSError:  # the worker just exited
        return None
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return {"rss_mib": round(rss / 1024, 1), "fds": fds}


def _ms(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000, 2) if values else None


def soak(
    url: str,
    grpc_target: str | None,
    server_pid: int | None,
    model: str,
    duration_s: float,
    interval_s: float,
    warmup_s: float,
    clients: int,
    pause_s: float,
) -> dict:
    """Run the traffic and the observations; the summary dict."""
    senders = _rest_senders(url, model)
    kinds = [k for k in KINDS if k in senders or (k == "grpc" and grpc_target)]
    recorder, stop = Recorder(), threading.Event()
    threads = []
    for i in range(clients):
        kind = kinds[i % len(kinds)]
        # gRPC: one channel per client, as REST clients have one connection each
        send = _grpc_sender(grpc_target, model) if kind == "grpc" else senders[kind]
        args = (send, kind, recorder, stop, pause_s)
        threads.append(threading.Thread(target=_client, args=args, daemon=True))
    started = time.monotonic()
    for thread in threads:
        thread.start()
    intervals = []
    try:
        while (elapsed := time.monotonic() - started) < duration_s:
            stop.wait(min(interval_s, duration_s - elapsed))
            latencies, errors = recorder.take()
            workers = gunicorn_workers(server_pid) if server_pid else []
            entry = {
                "t_s": round(time.monotonic() - started, 1),
                "requests": sum(len(v) for v in latencies.values()),
                "errors": sum(errors.values()),
                "latency_ms": {
                    k: {"p50": _ms(v, 50), "p99": _ms(v, 99), "n": len(v)}
                    for k, v in sorted(latencies.items())
                },
                "workers": {str(pid): _proc_figures(pid) for pid in workers},
            }
            intervals.append(entry)
            print(_line(entry), flush=True)
    finally:
        stop.set()
        for thread in threads:
            thread.join(35)
    return summarize(intervals, warmup_s)


def _line(entry: dict) -> str:
    lat = " ".join(f"{k} {v['p50']}/{v['p99']}ms" for k, v in entry["latency_ms"].items() if v["n"])
    procs = " ".join(
        f"[{pid}: {f['rss_mib']} MiB, {f['fds']} fds]" for pid, f in entry["workers"].items() if f
    )
    return (
        f"t={entry['t_s']:>6.0f}s req={entry['requests']:>6} err={entry['errors']} "
        f"p50/p99 {lat} {procs}"
    )


def summarize(intervals: list[dict], warmup_s: float) -> dict:
    """Growth of RSS and fds per worker from the first interval past warm-up to the last."""
    after = [e for e in intervals if e["t_s"] >= warmup_s] or intervals[-1:]
    growth = {}
    if after:
        first, last = after[0]["workers"], intervals[-1]["workers"]
        for pid, end in last.items():
            start = first.get(pid)
            if start and end:
                growth[pid] = {
                    "rss_mib": [start["rss_mib"], end["rss_mib"]],
                    "rss_growth_pct": round(100 * (end["rss_mib"] / start["rss_mib"] - 1), 2),
                    "fds": [start["fds"], end["fds"]],
                }
    return {
        "requests": sum(e["requests"] for e in intervals),
        "errors": sum(e["errors"] for e in intervals),
        "warmup_s": warmup_s,
        "growth_after_warmup": growth,
        "intervals": intervals,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of traffic")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds per line")
    parser.add_argument("--warmup", type=float, default=60.0, help="growth is measured after")
    parser.add_argument("--clients", type=int, default=4, help="client threads (kinds rotate)")
    parser.add_argument("--pause-ms", type=float, default=0.0, help="pause between requests")
    parser.add_argument("--model", default="digits")
    parser.add_argument("--model-dir", type=Path, help="repository to serve (default: tiny)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--url", help="target a running server instead of starting one")
    parser.add_argument("--grpc", help="its gRPC HOST:PORT (with --url)")
    parser.add_argument("--server-pid", type=int, help="its gunicorn master (with --url)")
    parser.add_argument("--json", type=Path, help="write the summary here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        server = None
        if args.url:
            url, grpc_target, pid = args.url.rstrip("/"), args.grpc, args.server_pid
        else:
            model = prepare_model(args.model_dir is None, args.model_dir, args.model, Path(tmp))
            rest, grpc_port = free_port(), free_port()
            server = start_service(
                model.repo,
                {"SERVING_WORKERS": str(args.workers), "SERVING_LOG_LEVEL": "WARNING"},
                rest,
                grpc_port,
                Path(tmp) / "server.log",
            )
            server.wait_ready(workers=args.workers)
            url, grpc_target, pid = server.url, f"127.0.0.1:{grpc_port}", server.process.pid
        try:
            summary = soak(
                url,
                grpc_target,
                pid,
                args.model,
                args.duration,
                args.interval,
                args.warmup,
                args.clients,
                args.pause_ms / 1000,
            )
        finally:
            if server is not None:
                server.stop()
    brief = {k: v for k, v in summary.items() if k != "intervals"}
    print(json.dumps(brief, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0 if summary["requests"] and not summary["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
