"""The peers ``make bench`` measures beside the service: MLServer and KServe's Python server.

Each peer is installed once into its own virtualenv under ``.cache/peers/<name>/`` from a
fully pinned requirements file beside this module (never into the project's venv; pip's
download cache is shared), re-installed when that file changes, and serves the same
SavedModels through a small runtime of ours that calls ``serving_default``
(``mlserver_savedmodel.py``, ``kserve_savedmodel.py``, run with the peer's interpreter).
A peer is started on free loopback ports, waited for (its V2 readiness endpoints, server
or per model, answering 200 on several fresh connections), measured with the same load
generators as the service, and stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.servers import Server, free_port

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENVS = ROOT / ".cache" / "peers"
READY_PATH = "/v2/health/ready"
# Two worker processes for each peer, one per core: MLServer's docs advise parallel_workers
# around the number of cores for CPU-bound models, and KServe's --workers starts that many
# uvicorn processes. More would only contend for the same two cores.
WORKERS = 2
# MLServer's adaptive batching, as its docs advise setting it per model (max_batch_size,
# max_batch_time in seconds). Chosen by `python -m bench.tune_mlserver` on 2026-12-01 (V2
# JSON, digits, c=16 and 64; its figures go to bench-results/mlserver-tuning.json): the
# best of its grid at c=64, ahead of no batching, 16/2 ms, 64/5 ms and 32/10 ms.
MLSERVER_MAX_BATCH_SIZE = 32
MLSERVER_MAX_BATCH_TIME_S = 0.002


@dataclass(frozen=True)
class Peer:
    """One peer server: how to install it and which of the service's APIs it offers."""

    name: str
    label: str
    apis: tuple[str, ...]  # keys of bench.targets it answers with the same body
    batching: dict = field(default_factory=dict)

    @property
    def requirements(self) -> Path:
        return HERE / f"{self.name}-requirements.txt"

    @property
    def venv(self) -> Path:
        return VENVS / self.name

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


MLSERVER = Peer(
    "mlserver",
    "MLServer 1.7.1",
    ("v2_json", "grpc_v2"),
    {"max_batch_size": MLSERVER_MAX_BATCH_SIZE, "max_batch_time": MLSERVER_MAX_BATCH_TIME_S},
)
KSERVE = Peer("kserve", "KServe 0.21.0", ("rest_v1", "v2_json"))
PEERS = {p.name: p for p in (MLSERVER, KSERVE)}


def ensure_installed(peer: Peer) -> None:
    """Create or refresh ``peer``'s virtualenv from its pinned requirements (minutes, once)."""
    digest = hashlib.sha256(peer.requirements.read_bytes()).hexdigest()
    stamp = peer.venv / ".bench-requirements.sha256"
    if stamp.is_file() and stamp.read_text() == digest and peer.python.exists():
        return
    log.info("installing %s into %s", peer.label, peer.venv)
    if not peer.python.exists():
        # The interpreter that runs the bench: the same Python minor version as the project.
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(peer.venv)], check=True)
    subprocess.run(
        [str(peer.python), "-m", "pip", "install", "-q", "-r", str(peer.requirements)],
        check=True,
    )
    stamp.write_text(digest)


def peer_env() -> dict[str, str]:
    """The caller's environment without the project's Python paths."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


def start_mlserver(
    models: dict[str, Path], workdir: Path, log_path: Path, batching: dict | None = None
) -> tuple[Server, int]:
    """``mlserver start`` on a folder of model settings; returns the server and gRPC port."""
    home = workdir / "mlserver"
    home.mkdir(parents=True, exist_ok=True)
    http_port, grpc_port = free_port(), free_port()
    settings = {
        "debug": False,
        "host": "127.0.0.1",
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": free_port(),
        "metrics_dir": str(home / "metrics"),  # default: .metrics/ in the working directory
        "parallel_workers": WORKERS,
    }
    (home / "settings.json").write_text(json.dumps(settings, indent=2))
    for name, version_dir in models.items():
        (home / name).mkdir(exist_ok=True)
        model_settings = {
            "name": name,
            "implementation": "mlserver_savedmodel.SavedModelRuntime",
            "parameters": {"uri": str(version_dir)},
            **(MLSERVER.batching if batching is None else batching),
        }
        (home / name / "model-settings.json").write_text(json.dumps(model_settings, indent=2))
    env = {**peer_env(), "PYTHONPATH": str(HERE)}
    command = [str(MLSERVER.venv / "bin" / "mlserver"), "start", str(home)]
    return Server("mlserver", command, env, http_port, log_path, READY_PATH), grpc_port


def start_kserve(models: dict[str, Path], log_path: Path) -> Server:
    """Our KServe ``ModelServer`` script with every model; V1 and V2 REST, no gRPC."""
    http_port = free_port()
    command = [str(KSERVE.python), str(HERE / "kserve_savedmodel.py")]
    for name, version_dir in models.items():
        command += ["--model", f"{name}={version_dir}"]
    command += [
        "--http_port",
        str(http_port),
        "--grpc_port",
        str(free_port()),
        "--enable_grpc",
        "false",  # the comparison on gRPC is MLServer's; one process tree less
        "--workers",
        str(WORKERS),
    ]
    # KServe's server readiness is always true; each model's own endpoint tells loaded.
    ready = [f"/v2/models/{name}/ready" for name in models]
    return Server("kserve", command, peer_env(), http_port, log_path, ready)


def start_peer(
    peer: Peer, models: dict[str, Path], workdir: Path, log_path: Path
) -> tuple[Server, int | None]:
    """Start ``peer`` serving ``models``; the server and its gRPC port (None: no gRPC)."""
    if peer is MLSERVER:
        return start_mlserver(models, workdir, log_path)
    return start_kserve(models, log_path), None
