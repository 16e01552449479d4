"""The repository config file: per-model version policy, version labels and batching.

JSON, modelled on TF Serving's ``model_config_list`` (version policy, labels) and its
batching parameters::

    {
      "defaults": {"version_policy": {"latest": 1}},
      "models": {
        "digits": {
          "version_policy": {"specific": [1, 2]},
          "labels": {"stable": 1, "canary": 2},
          "batching": {"max_batch_size": 64, "batch_timeout_micros": 0}
        }
      }
    }

``version_policy`` is one of ``{"latest": N}``, ``{"all": true}``, ``{"specific": [..]}``.
The file is re-read on every repository poll, so labels and policies change live.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from service.batching import BatchingOptions

LABEL_RE = re.compile(r"^[A-Za-z0-9_]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VersionPolicy(_Strict):
    latest: int | None = Field(None, ge=1)
    all: bool = False
    specific: list[int] | None = None

    def select(self, versions: list[int]) -> list[int]:
        """The versions (ascending) this policy serves out of the loadable ones."""
        if self.all:
            return sorted(versions)
        if self.specific is not None:
            return sorted(set(versions) & set(self.specific))
        return sorted(versions)[-(self.latest or 1) :]


class BatchingConfig(_Strict):
    enabled: bool = True
    max_batch_size: int | None = Field(None, ge=1)
    batch_timeout_micros: int | None = Field(None, ge=0)
    max_enqueued_batches: int | None = Field(None, ge=1)
    num_batch_threads: int | None = Field(None, ge=1)
    allowed_batch_sizes: list[int] | None = None


class ModelConfig(_Strict):
    version_policy: VersionPolicy | None = None
    labels: dict[str, int] = {}
    batching: BatchingConfig | None = None

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, int]) -> dict[str, int]:
        for label in labels:
            if not LABEL_RE.match(label):
                raise ValueError(f"label {label!r} must match [A-Za-z0-9_]+")
        return labels


class RepositoryConfig(_Strict):
    defaults: ModelConfig = ModelConfig()
    models: dict[str, ModelConfig] = {}

    def for_model(self, name: str) -> ModelConfig:
        own = self.models.get(name, ModelConfig())
        return ModelConfig(
            version_policy=own.version_policy or self.defaults.version_policy or VersionPolicy(),
            labels=own.labels,
            batching=own.batching or self.defaults.batching,
        )

    def batching_options(self, name: str, base: BatchingOptions) -> BatchingOptions | None:
        """The model's batching options: settings defaults overridden by the file."""
        cfg = self.for_model(name).batching
        if cfg is None:
            return base
        if not cfg.enabled:
            return None
        overrides = cfg.model_dump(exclude={"enabled"}, exclude_none=True)
        if "allowed_batch_sizes" in overrides:
            overrides["allowed_batch_sizes"] = tuple(overrides["allowed_batch_sizes"])
        return dataclasses.replace(base, **overrides)


def read_repository_config(path: Path | None) -> RepositoryConfig:
    """Parse the file (an absent path means all defaults); ValueError names the problem."""
    if path is None or not Path(path).exists():
        return RepositoryConfig()
    try:
        return RepositoryConfig.model_validate(json.loads(Path(path).read_text()))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ValueError(f"invalid repository config {path}: {exc}") from exc
