"""The one settings object: every knob of the server, read from ``SERVING_*`` variables.

Business code never reads ``os.environ``; it receives a :class:`Settings` (tests build one
directly). Each field's description is the documentation the README table repeats.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.cpu_quota import cpu_budget


def derived_workers() -> int:
    """Workers when SERVING_WORKERS is unset: min(2, whole CPUs of the cgroup quota), at least 1.

    Two measured best on 2 cores (README, Performance); each worker holds its own copy of
    every model (~770 MiB for the four defaults), so a pod limited to one CPU runs one, and
    more CPUs go to TensorFlow threads per worker and to more replicas, not more copies.
    """
    return max(1, min(2, math.floor(cpu_budget())))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SERVING_", extra="ignore", frozen=True)

    model_repository: Path = Field(
        Path("models"), description="Directory holding <name>/<version>/ SavedModels."
    )
    repository_config: Path | None = Field(
        None,
        description="Repository config (JSON: version policy, labels, batching per "
        "model). Default: <model_repository>/repository.json if it exists.",
    )
    host: str = Field("127.0.0.1", description="Address the REST and gRPC servers bind to.")
    rest_port: int = Field(8501, ge=0, le=65535, description="REST (TF Serving v1, V2, tasks).")
    grpc_port: int = Field(8500, ge=0, le=65535, description="gRPC (TF Serving API); 0 = off.")
    poll_interval_s: float = Field(
        2.0, ge=0, description="How often the repository is re-scanned; 0 disables polling."
    )
    workers: int = Field(
        default_factory=derived_workers,
        ge=1,
        description="gunicorn worker processes; unset = min(2, CPUs of the cgroup quota).",
    )
    # 16 by measurement (README, Performance): more requests in flight per worker make
    # larger batches; 32 loses more to GIL contention than batching saves.
    threads: int = Field(16, ge=1, description="Request threads per worker (gthread).")
    tf_intra_op_threads: int = Field(
        0,
        ge=0,
        description="TensorFlow intra-op threads per worker; 0 = CPUs of the cgroup quota "
        "(else cores) / workers.",
    )
    tf_inter_op_threads: int = Field(
        -1,
        ge=-1,
        description="TensorFlow inter-op threads per model session; -1 runs a batch's ops in "
        "the batch thread itself (no hand-off), 0 = TensorFlow's default.",
    )
    max_request_bytes: int = Field(
        64 * 1024 * 1024, gt=0, description="Largest accepted request body."
    )
    max_batch_size: int = Field(
        64, ge=1, description="Default dynamic batching: rows per model call."
    )
    batch_timeout_micros: int = Field(
        0, ge=0, description="Default: wait this long for a fuller batch (0 = run at once)."
    )
    max_enqueued_batches: int = Field(
        64, ge=1, description="Default queue bound (in batches); beyond it requests get 429."
    )
    request_timeout_s: float = Field(
        30.0, gt=0, description="Deadline for one inference request (504 beyond it)."
    )
    admin_token: str | None = Field(
        None,
        description="Bearer token that enables repository load/unload "
        "('Authorization: Bearer <token>'); without it model control is disabled.",
    )
    model_control: Literal["token", "open", "off"] = Field(
        "token",
        description="Who may load/unload models: 'token' (holders of SERVING_ADMIN_TOKEN; "
        "nobody if it is unset), 'open' (anyone who reaches the port: local use only), "
        "'off' (nobody).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level of the JSON logs."
    )
    worker_timeout_s: int = Field(
        120, ge=10, description="gunicorn worker timeout (above model load + warm-up)."
    )
    state_dir: Path | None = Field(
        None,
        description="Directory the workers share for repository load/unload decisions "
        "(set by the launcher).",
    )
    metrics_dir: Path | None = Field(
        None, description="prometheus_client multiprocess directory (set by the launcher)."
    )

    @field_validator("log_level", "model_control", mode="before")
    @classmethod
    def _case(cls, value: str, info) -> str:
        if not isinstance(value, str):
            return value
        return value.upper() if info.field_name == "log_level" else value.lower()

    def resolved_repository_config(self) -> Path | None:
        if self.repository_config is not None:
            return self.repository_config
        default = self.model_repository / "repository.json"
        return default if default.exists() else None

    def intra_op_threads(self) -> int:
        if self.tf_intra_op_threads:
            return self.tf_intra_op_threads
        return max(1, math.floor(cpu_budget()) // self.workers)


def load_settings() -> Settings:
    """Read settings from the environment; exit with the variable's name on a bad value."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"SERVING_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise SystemExit(f"invalid configuration: {problems}") from None
