"""The one line a person starting the server waits for: what it serves and where.

``serving 4 models from models/: console http://127.0.0.1:8501/  REST
http://127.0.0.1:8501/v1/models  gRPC 127.0.0.1:8500`` is written to stdout once per server,
by the worker whose readiness completes the count (so it comes after every worker's load
lines), from what the workers really bound and loaded: the REST socket's address, the gRPC
port the server got (or "gRPC off"), the models with an available version and those
without one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from service.dataplane import ModelSummary
from service.repository import AVAILABLE

_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
ANNOUNCED = "announced"


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def ready_line(
    repository: Path,
    models: Sequence[ModelSummary],
    rest: tuple[str, int],
    grpc: tuple[str, int] | None,
) -> str:
    """The start-up line; ``grpc`` is None when gRPC is off. A wildcard bind address is
    shown as the loopback address a browser on this machine can open."""
    available = [m.name for m in models if any(v.state == AVAILABLE for v in m.versions)]
    missing = [m.name for m in models if m.name not in available]
    rest_host, rest_port = rest
    base = f"http://{_host(_WILDCARDS.get(rest_host, rest_host))}:{rest_port}"
    noun = "model" if len(available) == 1 else "models"
    parts = [f"serving {len(available)} {noun} from {str(repository).rstrip('/')}/"]
    if missing:
        parts.append(f" (not available, see the log: {', '.join(missing)})")
    parts.append(f": console {base}/  REST {base}/v1/models  ")
    if grpc is None:
        parts.append("gRPC off (SERVING_GRPC_PORT=0)")
    else:
        grpc_host, grpc_port = grpc
        parts.append(f"gRPC {_host(_WILDCARDS.get(grpc_host, grpc_host))}:{grpc_port}")
    if rest_host in _WILDCARDS:
        parts.append(f"  (listening on all interfaces, {rest_host or '*'})")
    return "".join(parts)


def last_to_be_ready(marker_dir: Path, worker_id: int, workers: int) -> bool:
    """Record worker ``worker_id`` as ready in ``marker_dir`` (fresh per server); True for
    exactly one caller: the first to see ``workers`` workers ready."""
    (Path(marker_dir) / f"ready-{worker_id}").touch()
    if sum(1 for p in Path(marker_dir).iterdir() if p.name.startswith("ready-")) < workers:
        return False
    try:  # O_EXCL: of two workers counting at once, one announces
        os.close(os.open(Path(marker_dir) / ANNOUNCED, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def announce(line: str) -> None:
    """Write ``line`` to stdout (the logs go to stderr: this line is for the person)."""
    data = (line + "\n").encode()
    try:
        while data:
            data = data[os.write(1, data) :]
    except OSError:
        pass  # no terminal: nothing to tell
